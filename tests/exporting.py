"""What the code-export tests share: unzip bundles and run their train.py side by side, compare losses
float for float, check a script's imports and its ruff cleanliness, and run a notebook's cells."""

from __future__ import annotations

import ast
import csv
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


# Runs train.py in each folder given, one after the other in this one interpreter (torch and the optimizer
# machinery import once: ~7 s of CPU a script otherwise), as `python train.py *args` would: its folder as
# the working directory, its own __main__, its stdout and stderr and exit status in files beside it.
RUNNER = """
import contextlib, io, os, runpy, sys, traceback
args, folders = sys.argv[1].split(), sys.argv[2:]
for folder in folders:
    os.chdir(folder)
    sys.argv = ["train.py", *args]
    out, err, rc = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path("train.py", run_name="__main__")
        except SystemExit as stop:
            rc = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = 1
    for name, text in (("stdout.txt", out.getvalue()), ("stderr.txt", err.getvalue()), ("rc.txt", str(rc))):
        with open(name, "w") as f:
            f.write(text)
"""


def run_bundles(
    bundles: Mapping[str, bytes], args: list[str], tmp_path_factory, processes: int = 2
) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """name -> (its unzipped bundle's folder, the finished `python train.py *args` there). The scripts run
    in `processes` subprocesses (one torch thread each), each running its share one after the other."""
    folders = {}
    for name, data in bundles.items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "_").replace("/", "_"))
        zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
        folders[name] = folder
    shares = [list(folders.values())[i::processes] for i in range(processes)]
    started = [
        subprocess.Popen(
            [sys.executable, "-c", RUNNER, " ".join(args), *map(str, share)],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for share in shares
        if share
    ]
    for proc in started:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
    done = {}
    for name, folder in folders.items():
        rc = int((folder / "rc.txt").read_text())
        out, err = (folder / "stdout.txt").read_text(), (folder / "stderr.txt").read_text()
        done[name] = folder, subprocess.CompletedProcess(["python", "train.py", *args], rc, out, err)
    return done


def read_rows(path: Path) -> list[list[float]]:
    """A CSV a script wrote (losses, evaluations): its rows as floats, the header left out."""
    with open(path, newline="") as f:
        return [[float(v) for v in row] for row in list(csv.reader(f))[1:]]


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


def assert_ruff_clean(texts: str | list[str], tmp_path: Path) -> None:
    """ruff check and ruff format --check pass on each script (one ruff run for all), and no line is
    longer than 100 characters (the scripts keep 10 of the project's 110 to spare, so that a student's
    edit does not trip the limit)."""
    texts = [texts] if isinstance(texts, str) else texts
    folder = tmp_path / "scripts"
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(texts):
        long = [line for line in text.splitlines() if len(line) > 100]
        assert not long, long
        (folder / f"train_{i}.py").write_text(text)
    ruff = str(Path(sys.executable).parent / "ruff")
    for args in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [ruff, *args, "--config", str(ROOT / "pyproject.toml"), str(folder)],
            capture_output=True,
            text=True,
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
