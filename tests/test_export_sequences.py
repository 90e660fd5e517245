"""The Sequences lab's setup as code: the script reproduces the app's SeqRun, bit for bit on the CPU.

Every distinct configuration of every preset (each cell on each split it compares): the bundle's
train.py runs for its first 50 steps, past its first epoch (tests.exporting.run_bundles, one torch
thread), and every step's training loss and every evaluation's train and test MSE must equal the app's
float for float. The notebook runs in this process, on a plain RNN with SGD and no clipping that
diverges: it must stop at the app's step.
"""

from __future__ import annotations

import io
import math
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch

from core.config import with_changes
from core.data.series import SERIES
from core.export import LINE, highlight
from core.sequences import export
from core.sequences.compare import lab_configs
from core.sequences.presets import SEQ_BASE, SEQ_PRESETS
from core.sequences.run import SeqRun
from core.sequences.windows import make_windows
from tests import exporting
from tests.exporting import assert_ruff_clean, assert_self_contained, run_bundles, run_notebook, same

STEPS = 50  # more than one epoch of batches for every preset (a test says so)
CONFIGS = {
    f"{preset.short}, {label}": cfg
    for preset in SEQ_PRESETS.values()
    for label, cfg in lab_configs(preset.base, preset.cells, preset.splits).items()
}
DIVERGING = with_changes(  # six hours in (24 readings of 15 minutes), the next reading out
    SEQ_BASE,
    window={"seq_len": 24, "horizon": 1},
    model={"cell": "rnn", "layers": 2},
    optim={"name": "sgd", "lr": 0.5},
    train={"clip_norm": 0.0, "batch_size": 32},
)


def _series(cfg):
    return SERIES.get(cfg.data.name).load(cfg.data)


def _app(cfg, steps: int = STEPS) -> SeqRun:
    run = SeqRun(cfg, _series(cfg), torch.device("cpu"))
    run.advance(steps, max_seconds=math.inf)
    return run


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    bundles = {name: export.bundle(cfg, _series(cfg)) for name, cfg in CONFIGS.items()}
    return run_bundles(bundles, ["--steps", str(STEPS)], tmp_path_factory)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_script_reproduces_the_app_bit_for_bit(scripts, name):
    folder, done = scripts[name]
    assert done.returncode == 0, done.stderr
    run = _app(CONFIGS[name])
    losses = exporting.read_rows(folder / export.LOSS_FILE)
    assert same([row[1] for row in losses], [r.loss for r in run.records])
    mse = exporting.read_rows(folder / export.MSE_FILE)
    assert mse == [[e.step, e.train_mse, e.test_mse] for e in run.evals]
    assert run.diverged_at is None


def test_the_steps_cross_an_epoch():
    """Past the first epoch the sampler draws its second permutation: the order must match there too."""
    for cfg in CONFIGS.values():
        windows = make_windows(_series(cfg).values, cfg.window, cfg.train.seed)
        assert len(windows.train_starts) // cfg.train.batch_size < STEPS


def test_the_bundle_holds_the_series_exactly():
    cfg = CONFIGS["Shuffled split, LSTM · shuffled split"]
    series = _series(cfg)
    files = zipfile.ZipFile(io.BytesIO(export.bundle(cfg, series)))
    assert files.namelist() == [export.DATA_FILE, "train.py", "train.ipynb", "README.md", "settings.json"]
    rows = files.read(export.DATA_FILE).decode().splitlines()
    assert rows[0] == "time,value" and rows[1] == "2010-01-01 00:00:00,39.4"
    assert [float(row.split(",")[1]) for row in rows[1:]] == series.values.tolist()


def test_script_is_self_contained_short_lined_and_passes_ruff(tmp_path):
    for cfg in CONFIGS.values():
        text = export.script(cfg)
        assert_self_contained(text, {"argparse", "math", "numpy", "pandas", "torch"})
        assert max(len(line) for line in text.splitlines()) <= LINE
    assert_ruff_clean([export.script(cfg) for cfg in (*CONFIGS.values(), DIVERGING)], tmp_path)


def test_notebook_runs_top_to_bottom_and_diverges_where_the_app_does(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_notebook(export.bundle(DIVERGING, _series(DIVERGING)), tmp_path)
    run = _app(DIVERGING)
    assert run.diverged_at is not None and run.diverged_at < STEPS
    assert same(namespace["losses"], [r.loss for r in run.records])
    assert namespace["history"] == [(e.step, e.train_mse, e.test_mse) for e in run.evals]
    assert f"diverged at step {run.diverged_at}:" in capsys.readouterr().out


def _marked(old, new) -> set[str]:
    """The lines of script(new) that highlight marks, stripped."""
    text = export.script(new).splitlines()
    return {text[i - 1].strip() for i in highlight(export.script(old), export.script(new))}


def test_changes_and_highlight():
    old = CONFIGS["Long window, RNN"]
    new = with_changes(old, model={"cell": "lstm"})
    assert export.changes(old, new) == ["Cells, side by side RNN → LSTM"]
    marked = _marked(old, new)
    assert f"self.rnn = {export.CELL_CODE['lstm']}" in marked
    assert "out, _ = self.rnn(x, (h0, c0))  # (batch, SEQ_LEN, HIDDEN): the state after each step" in marked
    assert not any(line.startswith(("SEED", "STEPS", "train_loader", "optimizer")) for line in marked)
    shuffled = with_changes(old, window={"split": "shuffled"})
    assert export.changes(old, shuffled) == ["Train / test split time → shuffled"]
    assert "dealt = np.random.default_rng(SEED).permutation(starts)" in _marked(old, shuffled)


def test_the_page_shows_the_code():
    from tests.apptest import open_page

    at = open_page("pages/sequences.py", {"train.steps": "10", "train.batch_size": "16"})
    assert not at.exception
    code = [c.value for c in at.code if "class Forecaster" in c.value]
    assert len(code) == 3  # one script per cell: RNN, LSTM and GRU
    assert "self.rnn = nn.RNN(" in code[0] and "self.rnn = nn.GRU(" in code[2]
    assert all("BATCH_SIZE = 16" in text and "optimizer.step()" in text for text in code)
