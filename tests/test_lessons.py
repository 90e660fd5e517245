"""Each preset reproduces its lesson as a measured fact on its fixed seed."""

from __future__ import annotations

import math

import pytest

from core.presets import CLIPPED, CURED, EXPLODING, GRADIENT_PRESETS, VANISHING
from core.registry import DATASETS
from core.training import Run, Status


def run_preset(cfg, steps=None):
    run = Run(cfg, DATASETS.get(cfg.data.name).load(cfg.data))
    run.advance(steps or cfg.train.steps, max_seconds=600)
    return run


def first_to_last(run, steps=100):
    return [r.grad_norms["hidden 1"] / r.grad_norms["output"] for r in run.records[:steps]]


@pytest.fixture(scope="module")
def vanishing():
    return run_preset(VANISHING)


@pytest.fixture(scope="module")
def cured():
    return run_preset(CURED)


def test_vanishing_first_layer_gradient_stays_1000x_below_the_last(vanishing):
    ratios = first_to_last(vanishing)
    assert len(ratios) == 100
    assert max(ratios) <= 1e-3, f"largest first/last ratio {max(ratios):.2e}"


def test_cured_first_layer_gradient_stays_within_10x_of_the_last(cured):
    ratios = first_to_last(cured)
    assert len(ratios) == 100
    assert min(ratios) >= 0.1 and max(ratios) <= 10, f"ratios in [{min(ratios):.2f}, {max(ratios):.2f}]"


def test_the_cure_learns_what_the_vanishing_network_cannot(vanishing, cured):
    assert vanishing.evals[-1].test_accuracy < 0.6  # a coin flip on the spiral
    assert cured.evals[-1].test_accuracy > 0.8


def test_exploding_preset_diverges_and_says_where():
    run = run_preset(EXPLODING)
    assert run.status is Status.DIVERGED
    assert run.diverged_at is not None and run.diverged_at <= 20
    assert f"Diverged at step {run.diverged_at}" in run.message


def test_clipped_preset_does_not_diverge_and_learns():
    run = run_preset(CLIPPED)
    assert run.status is Status.FINISHED and run.step == CLIPPED.train.steps
    assert all(math.isfinite(r.loss) for r in run.records)
    assert any(r.clipped for r in run.records)
    assert run.evals[-1].test_accuracy > 0.8


def test_clipping_is_the_only_difference_between_exploding_and_clipped():
    assert EXPLODING.model == CLIPPED.model and EXPLODING.optim == CLIPPED.optim
    assert EXPLODING.train.clip_norm == 0 and CLIPPED.train.clip_norm > 0


def test_compare_preset_starts_both_sides_fairly():
    preset = GRADIENT_PRESETS["Compare: vanishing vs cured"]
    a, b = (Run(cfg, DATASETS.get(cfg.data.name).load(cfg.data)) for cfg in (preset.a, preset.b))
    assert a.cfg.data == b.cfg.data and a.cfg.train == b.cfg.train
    # different initializers, so different weights; but the same batches
    assert all(a._batches.next().equal(b._batches.next()) for _ in range(3))
