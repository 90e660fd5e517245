"""The Optimizers lab's race presets reproduce their lessons on their fixed seeds."""

from __future__ import annotations

import dataclasses

import pytest

from core.presets import RACE_PRESETS
from core.race import Race, Racer
from core.registry import DATASETS


def race(name: str) -> list:
    preset = RACE_PRESETS[name]
    data = DATASETS.get(preset.base.data.name).load(preset.base.data)
    r = Race(preset.base, [Racer(str(i), optim) for i, optim in enumerate(preset.racers)], data)
    r.advance(10_000, max_seconds=600)
    return list(r.runs.values())


def final(run) -> float:
    return run.evals[-1].train_loss


def late_range(run, evals: int = 10) -> float:
    losses = [e.train_loss for e in run.evals[-evals:]]
    return max(losses) - min(losses)


@pytest.mark.slow
def test_adam_beats_plain_sgd_from_the_same_start():
    sgd, adam = race("SGD vs Adam")
    assert sgd.init_fingerprint == adam.init_fingerprint
    assert final(adam) < 0.3 * final(sgd)
    assert adam.evals[-1].test_accuracy > sgd.evals[-1].test_accuracy + 0.05


@pytest.mark.slow
def test_learning_rate_too_small_crawls_right_converges_too_large_bounces():
    small, right, large = race("Learning rate in a race: too small, right, too large")
    assert final(small) > 0.6  # barely moved from ~0.69
    assert final(right) < 0.15
    assert final(large) > 0.69 and large.evals[-1].test_accuracy <= 0.6  # no better than chance
    assert late_range(large) > 5 * late_range(right)


@pytest.mark.slow
def test_a_cosine_schedule_settles_a_bouncing_learning_rate():
    constant, cosine = race("A schedule rescues a large learning rate")
    assert final(cosine) < final(constant)  # CPU: 0.049 vs 0.093; an H100: 0.049 vs 0.062
    assert late_range(cosine) < 0.5 * late_range(constant)
    assert cosine.records[-1].lr < 1e-3 < constant.records[-1].lr


def test_race_presets_differ_only_in_their_optimizers():
    for preset in RACE_PRESETS.values():
        assert len(preset.racers) >= 2
        assert dataclasses.replace(preset.base, optim=preset.racers[0]).train == preset.base.train
