"""The Overfitting lab's setup as code: the course's epoch loop reproduces the app's FitRun.

Every distinct preset configuration (A and B), one with augmentation and early stopping, and one on the
moons with a schedule and momentum: the bundle's train.py runs (all at once, one torch thread each) and
every step's training loss and every epoch's validation loss must equal the app's float for float, the
epoch's mean training loss within 1e-12 (the app sums with fsum), and early stopping must stop after the
same epoch and put the same weights back (the test loss at the end agrees).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest
import torch

from core.config import with_changes
from core.overfitting import export
from core.overfitting.config import FitConfig
from core.overfitting.presets import FIT_PRESETS
from core.overfitting.run import FitRun
from tests import exporting
from tests.exporting import assert_ruff_clean, assert_self_contained, run_bundles, run_notebook, same

EPOCHS = 12


def _short(cfg) -> FitRun:
    return with_changes(cfg, train={"epochs": 30 if cfg.train.patience else EPOCHS})


CONFIGS = {}
for preset in FIT_PRESETS.values():
    for side, cfg in (("A", preset.a), ("B", preset.b)):
        if cfg is not None and cfg not in CONFIGS.values():
            CONFIGS[f"{preset.short} {side}"] = cfg
CONFIGS["augmented, patience 3"] = with_changes(
    FIT_PRESETS["Dropout: the same network with p = 0.5"].b, train={"augment": True, "patience": 3}
)
CONFIGS["moons, SGD, cosine"] = with_changes(
    FIT_PRESETS["Overfitting: 50 examples, 85,000 weights"].a,
    data={"name": "moons", "noise": 0.3},
    optim={"name": "sgd", "lr": 0.1, "momentum": 0.9, "schedule": "cosine", "weight_decay": 1e-4},
)
CONFIGS = {name: _short(cfg) for name, cfg in CONFIGS.items()}


def _app(cfg) -> FitRun:
    run = FitRun(cfg, device=torch.device("cpu"))
    while not run.done:
        run.advance(10_000, max_seconds=math.inf)
    return run


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    return run_bundles({name: export.bundle(cfg) for name, cfg in CONFIGS.items()}, [], tmp_path_factory)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_script_reproduces_the_app(scripts, name):
    folder, done = scripts[name]
    assert done.returncode == 0, done.stderr
    cfg = CONFIGS[name]
    run = _app(cfg)
    losses = exporting.read_rows(folder / export.LOSS_FILE)
    assert same([row[1] for row in losses], [r.loss for r in run.records])
    epochs = exporting.read_rows(folder / export.EPOCH_FILE)
    app = run.evals[1:]  # epoch 0 is before training
    assert [int(row[0]) for row in epochs] == [r.epoch for r in app]
    assert same([row[2] for row in epochs], [r.val_loss for r in app])
    assert same([row[3] for row in epochs], [r.val_accuracy for r in app])
    assert all(math.isclose(row[1], r.train_loss, rel_tol=1e-12) for row, r in zip(epochs, app, strict=True))
    if run.stopped_at is not None:
        assert f"stopped early after epoch {run.stopped_at}:" in done.stdout
    if run.restored_from is not None:
        assert f"the weights of epoch {run.restored_from} were put back" in done.stdout
    test_loss = float(re.search(r"test loss ([0-9.]+)", done.stdout).group(1))
    assert test_loss == round(run.evaluate_test().loss, 4)


def test_early_stopping_is_exercised():
    """The early-stopping preset stops inside its 30 epochs and puts an earlier epoch's weights back."""
    run = _app(CONFIGS["Early stopping A"])
    assert run.stopped_at is not None and run.restored_from is not None and run.restored_from < run.stopped_at


def test_script_is_self_contained_and_passes_ruff(tmp_path):
    allowed = {"argparse", "copy", "math", "numpy", "pandas", "torch"}
    for cfg in CONFIGS.values():
        text = export.script(cfg)
        assert_self_contained(text, allowed)
    assert "augment(x)" not in export.script(CONFIGS["Overfitting A"])
    assert "SeededDropout(DROPOUT" not in export.script(CONFIGS["Overfitting A"])
    assert_ruff_clean([export.script(cfg) for cfg in CONFIGS.values()], tmp_path)


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    cfg = with_changes(CONFIGS["Dropout B"], train={"epochs": 3})
    monkeypatch.chdir(tmp_path)
    namespace = run_notebook(export.bundle(cfg), tmp_path)
    run = _app(cfg)
    assert same(namespace["losses"], [r.loss for r in run.records])
    assert [h[2] for h in namespace["history"]] == [r.val_loss for r in run.evals[1:]]


def test_changes_and_highlight():
    from core.export import highlight

    old = CONFIGS["Overfitting A"]
    new = with_changes(old, model={"dropout": 0.3})
    assert export.changes(old, new) == ["Dropout p (after each hidden layer) 0.0 → 0.3"]
    text = export.script(new).splitlines()
    marked = {text[i - 1].strip() for i in highlight(export.script(old), export.script(new))}
    assert "layers.append(SeededDropout(DROPOUT, stream_seed(SEED, 7, i)))" in marked
    assert 'DROPOUT = 0.3  # slider "Dropout p (after each hidden layer)": 0.3' in marked


def test_the_page_shows_the_code():
    from tests.apptest import open_page

    at = open_page("pages/overfitting.py")
    assert not at.exception
    code = [c for c in at.code if "class MLP" in c.value]
    assert len(code) == 1 and "for epoch in range(1, run_epochs + 1):" in code[0].value


GOLDEN = Path(__file__).parent / "golden" / "overfitting_default.py.txt"  # expected output, compared as text


def test_golden_default_script():
    """The default setup's script, word for word (GP_UPDATE_GOLDEN=1 rewrites it on purpose)."""
    text = export.script(FitConfig())
    if os.environ.get("GP_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "the default script changed: rerun with GP_UPDATE_GOLDEN=1 if meant"
