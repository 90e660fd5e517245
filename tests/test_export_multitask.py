"""The Two inputs, two outputs lab's setup as code: the course's multi-input / multi-output script
reproduces the app's MultiTaskRun, bit for bit on the CPU.

Every distinct preset configuration (A and B): the bundle's train.py runs (all at once, one torch thread
each) for 50 steps, every step's weighted total and each head's own loss must equal the app's record
float for float, and the test scores printed at the end must read as the app's last evaluation to the 4
digits shown. Two more setups run as the bundle's notebook, in this process: SGD whose gradient is
clipped on some steps, and one that diverges (it must stop at the app's step).
"""

from __future__ import annotations

import io
import math
import re
import subprocess
from pathlib import Path

import pytest
import torch

from core.config import with_changes
from core.data.glyphs import GlyphSet, generate
from core.export import LINE, highlight
from core.multitask import export, presets
from core.multitask.run import MultiTaskRun
from tests.exporting import assert_ruff_clean, assert_self_contained, run_bundles, run_notebook, same

STEPS = 50
CONFIGS = {}
for preset in presets.MULTITASK_PRESETS.values():
    for side, cfg in (("A", preset.a), ("B", preset.b)):
        if cfg not in CONFIGS.values():
            CONFIGS[f"{preset.short} {side}"] = cfg
# one evaluation, at the end: the script scores the test set once
CONFIGS = {
    name: with_changes(cfg, train={"steps": STEPS, "eval_every": STEPS}) for name, cfg in CONFIGS.items()
}
# run as notebooks, in this process (a script's process spends most of its time importing torch)
NOTEBOOKS = {
    "SGD, clipped": with_changes(
        CONFIGS["Alphabet as input B"],
        optim={"name": "sgd", "lr": 0.1, "momentum": 0.9},
        train={"clip_norm": 0.3},
    ),
    "SGD, diverges": with_changes(CONFIGS["MSE drowns A"], optim={"name": "sgd", "lr": 1.0, "momentum": 0.9}),
}


@pytest.fixture(scope="module")
def glyphs() -> GlyphSet:
    (data,) = {cfg.data for cfg in CONFIGS.values()}  # every preset draws the same glyphs
    return generate(data)


def _app(cfg, glyphs: GlyphSet, steps: int = STEPS) -> MultiTaskRun:
    run = MultiTaskRun(cfg, glyphs, torch.device("cpu"))
    run.advance(steps, max_seconds=math.inf)
    return run


def _rows(run: MultiTaskRun) -> list[list[float]]:
    """Per step: the weighted total, then each head's own loss, in the model's order."""
    return [[r.total, *(r.raw[t] for t in run.tasks)] for r in run.records]


def _same_rows(got, run: MultiTaskRun) -> bool:
    """Every step's losses equal float for float (NaN equals NaN), column by column."""
    app = _rows(run)
    return len(got) == len(app) and all(
        same([row[c] for row in got], [row[c] for row in app]) for c in range(len(run.tasks) + 1)
    )


@pytest.fixture(scope="module")
def scripts(glyphs, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    return run_bundles(
        {name: export.bundle(cfg, glyphs) for name, cfg in CONFIGS.items()}, [], tmp_path_factory
    )


@pytest.mark.parametrize("name", list(CONFIGS))
def test_script_reproduces_the_app_bit_for_bit(scripts, glyphs, name):
    folder, done = scripts[name]
    assert done.returncode == 0, done.stderr
    run = _app(CONFIGS[name], glyphs)
    header, *lines = (folder / export.LOSS_FILE).read_text().splitlines()
    assert header == ",".join(["step", "loss", *(f"{t}_loss" for t in run.tasks)])
    assert _same_rows([[float(v) for v in line.split(",")[1:]] for line in lines], run)
    assert run.diverged_at is None
    shown = dict(re.findall(r"(\w+) (?:accuracy|MSE \(degrees²\)) ([0-9.]+)", done.stdout))
    last = run.evals[-1]
    assert last.step == STEPS
    labels = {"char": "character", "alphabet": "alphabet", "angle": "angle"}
    assert shown == {labels[t]: f"{last.score[t]:.4f}" for t in run.tasks}


def test_the_glyphs_file_reads_back_exactly(glyphs):
    loaded = torch.load(io.BytesIO(export.data_file(glyphs)), weights_only=True)
    for split in ("train", "test"):
        for k in ("x", "char", "alphabet", "angle"):
            assert torch.equal(loaded[f"{k}_{split}"], getattr(glyphs, f"{k}_{split}"))
    assert loaded["char_names"] == list(glyphs.char_names)


def test_script_is_self_contained_short_lined_and_passes_ruff(glyphs, tmp_path):
    for cfg in [*CONFIGS.values(), *NOTEBOOKS.values()]:
        text = export.script(cfg, glyphs)
        assert_self_contained(text, {"argparse", "math", "torch"})
        assert max(len(line) for line in text.splitlines()) <= LINE
    every = [*CONFIGS.values(), *NOTEBOOKS.values()]
    assert_ruff_clean([export.script(cfg, glyphs) for cfg in every], tmp_path)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(glyphs, tmp_path, monkeypatch, name):
    """Its cells reproduce the app too: with SGD, clipped on some steps and not on others, and diverging
    at the app's step."""
    cfg = NOTEBOOKS[name]
    monkeypatch.chdir(tmp_path)
    namespace = run_notebook(export.bundle(cfg, glyphs), tmp_path)
    run = _app(cfg, glyphs)
    assert _same_rows(namespace["losses"], run)
    if name == "SGD, clipped":  # both ways of the clip: scaled, and left alone
        assert 0 < sum(r.clipped for r in run.records) < STEPS and run.diverged_at is None
    else:
        assert run.diverged_at is not None and len(namespace["losses"]) == run.diverged_at


def _marked(old, new, glyphs) -> set[str]:
    text = export.script(new, glyphs).splitlines()
    return {text[i - 1].strip() for i in highlight(export.script(old, glyphs), export.script(new, glyphs))}


def test_a_weight_marks_the_weighted_sum_and_a_setup_its_inputs(glyphs):
    assert export.changes(presets.EQUAL, presets.CHAR_2X) == [
        "Weight of the character loss (cross-entropy) 1.0 → 2.0"
    ]
    marked = _marked(presets.EQUAL, presets.CHAR_2X, glyphs)
    assert "loss = 2.0 * char_loss + 1.0 * alphabet_loss" in marked
    assert all("loss" in line for line in marked), marked  # the sum and its comment only
    marked = _marked(presets.RAW_MSE, presets.NORMALISED_MSE, glyphs)
    assert "loss = 1.0 / angle_start * angle_loss + 1.0 / alphabet_start * alphabet_loss" in marked
    assert "angle_start = mse(angle_out.squeeze(1), angles).item()" in marked
    assert export.changes(presets.IMAGE_ONLY, presets.WITH_ALPHABET) == [
        "Model Image → character → Image + alphabet → character"
    ]
    marked = _marked(presets.IMAGE_ONLY, presets.WITH_ALPHABET, glyphs)
    assert {
        "def forward(self, image, alphabet_input):",
        "h = torch.cat([h, alphabet_input], dim=1)  # (batch, HIDDEN + N_ALPHABETS)",
        "char_out = model(images, alphabet_inputs)",
        "return self.images[i], self.alphabet_inputs[i], self.chars[i]",
    } <= marked
    assert highlight(export.script(presets.EQUAL, glyphs), export.script(presets.EQUAL, glyphs)) == set()


def test_the_page_shows_the_code_and_marks_a_new_weight():
    from tests.apptest import open_page

    at = open_page("pages/multitask.py")
    code = [c.value for c in at.code if "class GlyphNet" in c.value]
    assert len(code) == 1 and "loss = 1.0 * char_loss + 1.0 * alphabet_loss\n" in code[0]
    at.sidebar.select_slider(key="mt:w:a.loss.char").set_value(2.0).run()
    assert not at.exception
    (code,) = [c.value for c in at.code if "class GlyphNet" in c.value]
    assert (
        "loss = 2.0 * char_loss + 1.0 * alphabet_loss  # ← changed: Weight of the character loss "
        "(cross-entropy) 1.0 → 2.0" in code
    )
