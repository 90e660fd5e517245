"""What the code-export tests share: unzip bundles and run their train.py side by side, compare losses
float for float, check a script's imports and its ruff cleanliness, and run a notebook's cells."""

from __future__ import annotations

import ast
import io
import json
import math
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).parent.parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def run_bundles(
    bundles: Mapping[str, bytes], args: list[str], tmp_path_factory
) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """name -> (its unzipped bundle's folder, the finished `python train.py *args`), all started at once."""
    started = {}
    for name, data in bundles.items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "_").replace("/", "_"))
        zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
        started[name] = (
            folder,
            subprocess.Popen(
                [sys.executable, "train.py", *args],
                cwd=folder,
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    done = {}
    for name, (folder, proc) in started.items():
        out, err = proc.communicate(timeout=180)
        done[name] = folder, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def same(a: list[float], b: list[float]) -> bool:
    """Equal float for float; NaN equals NaN (a diverged step's loss)."""
    return len(a) == len(b) and all(
        x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True)
    )


def imports(text: str) -> set[str]:
    """The top-level modules a script imports."""
    modules = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    return modules


def assert_self_contained(text: str, allowed: set[str]) -> None:
    """The script imports only `allowed` modules, none of this project's."""
    ours = {p.stem for p in ROOT.iterdir() if p.is_dir() or p.suffix == ".py"} | {"core", "ui", "pages"}
    modules = imports(text)
    assert modules <= allowed, modules - allowed
    assert not modules & ours


def assert_ruff_clean(text: str, tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(text)
    ruff = str(Path(sys.executable).parent / "ruff")
    for args in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [ruff, *args, "--config", str(ROOT / "pyproject.toml"), str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def run_notebook(bundle: bytes, folder: Path, edit=lambda code: code) -> dict:
    """Unzip the bundle into `folder` and execute its notebook's code cells in order, each passed through
    `edit` first (to run fewer steps); returns the namespace. The caller chdirs into `folder`."""
    zipfile.ZipFile(io.BytesIO(bundle)).extractall(folder)
    notebook = json.loads((folder / "train.ipynb").read_text())
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile(edit("".join(cell["source"])), "cell", "exec"), namespace)
    return namespace
