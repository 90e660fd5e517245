"""The Gradients lab's code export: the script reproduces the app's run, bit for bit on the CPU.

Every preset's bundle is unzipped and its train.py run (all at once, in subprocesses, one torch thread
each) for 50 steps; its losses must equal `Run(...).records[i].loss` exactly, and the Exploding preset
must stop at the step where the app's run diverges. Set GP_UPDATE_GOLDEN=1 to rewrite the golden script.
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import pytest
import torch

from core.config import RunConfig, with_changes
from core.data.catalog import DATASETS
from core.export import mlp
from core.gradients import export
from core.gradients.presets import EXPLODING, GRADIENT_PRESETS
from core.training import Run
from tests.exporting import assert_ruff_clean, assert_self_contained, run_bundles, run_notebook, same

STEPS = 50
GOLDEN = Path(__file__).parent / "golden" / "gradients_default.py.txt"  # expected output, compared as text
# each distinct preset configuration once (the Compare preset's A and B are Vanishing and Cured)
CONFIGS = {p.short: p.a for p in GRADIENT_PRESETS.values() if p.b is None}


def _load(cfg: RunConfig):
    return DATASETS.get(cfg.data.name).load(cfg.data)


def _app_losses(cfg: RunConfig, steps: int = STEPS) -> tuple[list[float], int | None]:
    run = Run(cfg, _load(cfg), torch.device("cpu"))
    run.advance(steps, max_seconds=math.inf)
    return [r.loss for r in run.records], run.diverged_at


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """short name -> (its unzipped bundle's folder, the finished `train.py --steps 50`), run side by side."""
    bundles = {short: export.bundle(cfg, _load(cfg)) for short, cfg in CONFIGS.items()}
    return run_bundles(bundles, ["--steps", str(STEPS)], tmp_path_factory)


def _script_losses(folder: Path) -> list[float]:
    lines = (folder / export.LOSS_FILE).read_text().splitlines()
    assert lines[0] == "step,loss"
    return [float(line.split(",")[1]) for line in lines[1:]]


@pytest.mark.parametrize("short", list(CONFIGS))
def test_script_reproduces_the_app_bit_for_bit(scripts, short):
    folder, done = scripts[short]
    assert done.returncode == 0, done.stderr
    app, diverged_at = _app_losses(CONFIGS[short])
    got = _script_losses(folder)
    assert same(got, app), f"{short}: {len(got)} script losses, {len(app)} app losses, {got[:3]} vs {app[:3]}"
    if diverged_at is not None:
        assert f"diverged at step {diverged_at}" in done.stdout
        assert len(got) == diverged_at


def test_the_exploding_preset_diverges_early_in_both():
    _, diverged_at = _app_losses(EXPLODING)
    assert diverged_at is not None and diverged_at <= 5


def test_data_csv_round_trips_float32_exactly():
    cfg = RunConfig()
    data = _load(cfg)
    rows = mlp.data_csv(data).splitlines()
    train = [r.split(",") for r in rows[1:] if r.startswith("train,")]
    x = torch.tensor([[float(v) for v in r[1:-1]] for r in train], dtype=torch.float32)
    assert torch.equal(x, data.x_train)
    assert [int(r[-1]) for r in train] == data.y_train.tolist()


def test_script_imports_nothing_of_this_project_and_passes_ruff(tmp_path):
    for cfg in (RunConfig(), *CONFIGS.values()):
        assert_self_contained(export.script(cfg), {"argparse", "math", "pandas", "torch"})
    assert_ruff_clean(
        export.script(with_changes(EXPLODING, train={"clip_norm": 0.5, "loss": "mse"})), tmp_path
    )


def test_notebook_cells_give_the_same_first_losses(tmp_path, monkeypatch):
    cfg = GRADIENT_PRESETS["Cured: ELU + Kaiming + BatchNorm"].a
    monkeypatch.chdir(tmp_path)
    edits = []

    def fewer_steps(code: str) -> str:
        edits.append("run_steps = STEPS" in code)
        return code.replace("run_steps = STEPS", "run_steps = 10")

    namespace = run_notebook(export.bundle(cfg, _load(cfg)), tmp_path, fewer_steps)
    assert sum(edits) == 1
    app, _ = _app_losses(cfg, steps=10)
    assert same(namespace["losses"], app)


def test_golden_default_script():
    text = export.script(RunConfig())
    if os.environ.get("GP_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "the default script changed: rerun with GP_UPDATE_GOLDEN=1 if meant"


def test_highlight_marks_the_lines_a_change_touched():
    old = RunConfig()
    lines = export.script(with_changes(old, model={"depth": 6})).splitlines()
    marked = export.highlight(old, with_changes(old, model={"depth": 6}))
    assert [lines[i - 1] for i in sorted(marked)] == ['DEPTH = 6  # slider "Hidden layers": 6']
    model_cell = lines[
        lines.index("# The model: DEPTH hidden layers of WIDTH units, then one output layer") :
    ]
    assert lines[min(marked) - 1] in model_cell[: model_cell.index("model = MLP()")]
    # the model class's lines, when the change is inside it
    marked = export.highlight(old, with_changes(old, model={"batchnorm": True, "activation": "tanh"}))
    text = export.script(with_changes(old, model={"batchnorm": True, "activation": "tanh"})).splitlines()
    assert {text[i - 1].strip() for i in marked} >= {
        'layers.append(nn.BatchNorm1d(WIDTH))  # slider "BatchNorm": on',
        'layers.append(nn.Tanh())  # slider "Activation": tanh',
    }
    assert all("class MLP" in "\n".join(text[: i - 1]) for i in marked if "layers.append" in text[i - 1])
    new = with_changes(old, optim={"lr": 0.1})
    text = export.script(new).splitlines()
    marked = {text[i - 1] for i in export.highlight(old, new)}
    assert any(line.startswith("optimizer = torch.optim.Adam(") and "lr=0.1," in line for line in marked)
    assert export.highlight(old, old) == set()
    assert export.changes(old, new) == ["Learning rate 0.01 → 0.1"]


def test_the_page_shows_the_code_and_marks_a_change():
    from tests.apptest import open_page

    at = open_page("pages/gradients.py")
    assert not at.exception
    code = [c for c in at.code if "class MLP" in c.value]
    assert len(code) == 1 and "← changed" not in code[0].value
    assert 'DEPTH = 4  # slider "Hidden layers": 4' in code[0].value
    next(s for s in at.slider if s.label == "Hidden layers").set_value(6).run()
    code = [c for c in at.code if "class MLP" in c.value]
    assert 'DEPTH = 6  # slider "Hidden layers": 6  # ← changed: Hidden layers 4 → 6' in code[0].value


def test_the_zip_is_made_on_request_for_the_setup_shown_and_dropped_when_it_changes():
    """One click makes the zip; its download sends bytes (a name the same in every run of the page,
    so a click during the rerun at a run's end still gets its file); a new setup asks again."""
    from tests.apptest import open_page

    at = open_page("pages/gradients.py")
    assert not at.get("download_button")  # nothing built for nobody
    next(b for b in at.button if b.label.startswith("Make the zip")).click().run()
    assert not at.exception
    (button,) = [b for b in at.get("download_button") if "gradients-a.zip" in b.proto.label]
    assert not button.proto.deferred_file_id and button.proto.url  # bytes, not a callable
    url = button.proto.url
    at.run()  # the page again, as at a run's end: the same file under the same name
    assert [b.proto.url for b in at.get("download_button")] == [url]
    next(s for s in at.slider if s.label == "Hidden layers").set_value(6).run()
    assert not at.get("download_button")  # that zip held the old setup
    assert any(b.label.startswith("Make the zip") for b in at.button)


def test_a_zip_that_cannot_be_made_gets_one_sentence_and_the_page_stays(monkeypatch):
    from tests.apptest import open_page

    def broken(*args, **kwargs):
        raise MemoryError("no room for the zip")

    monkeypatch.setattr(export, "bundle", broken)
    at = open_page("pages/gradients.py")
    next(b for b in at.button if b.label.startswith("Make the zip")).click().run()
    assert [e.value for e in at.error] == [
        "The zip could not be made for these settings; the code is still right."
    ]
    assert not at.exception and not at.get("download_button")
    assert any("class MLP" in c.value for c in at.code)  # the code is still there
    assert any(b.label.startswith("Make the zip") for b in at.button)  # and the button, to try again
