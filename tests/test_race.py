"""The race is fair: identical racers give identical curves; every racer shares weights and batches."""

from __future__ import annotations

import dataclasses
import math

import pytest

from core.config import OptimConfig, with_changes
from core.errors import ConfigError
from core.optimizers.presets import RACE_PRESETS
from core.optimizers.race import describe, race_configs, racer_names, results_table, same_start, unique_labels
from core.registry import SCHEDULES
from core.training import Run, advance_together


def start(cfg, optims, data) -> dict[str, Run]:
    """The runs of a race, as the page's live engine builds them from race_configs."""
    return {label: Run(c, data) for label, c in race_configs(cfg, optims).items()}


def test_identical_racers_give_identical_curves_step_for_step(tiny_cfg, xor_data):
    adam = OptimConfig(name="adam", lr=0.01)
    runs = start(tiny_cfg, {"Adam": adam, "Adam (2)": adam}, xor_data)
    advance_together(list(runs.values()), 20)
    a, b = runs.values()
    assert [r.loss for r in a.records] == [r.loss for r in b.records]
    assert [r.grad_norms for r in a.records] == [r.grad_norms for r in b.records]
    assert a.evals == b.evals


def test_racers_start_from_the_same_weights_and_see_the_same_batches(tiny_cfg, xor_data):
    racers = {"SGD": OptimConfig(name="sgd", lr=0.1), "Adagrad": OptimConfig(name="adagrad", lr=0.05)}
    runs = start(tiny_cfg, racers, xor_data)
    assert same_start(runs)
    first, second = (run._batches for run in runs.values())
    assert all(first.next().equal(second.next()) for _ in range(5))


def test_racers_advance_together_one_step_each(tiny_cfg, xor_data):
    runs = list(
        start(tiny_cfg, {n: OptimConfig(name=n) for n in ("sgd", "rmsprop", "adam")}, xor_data).values()
    )
    assert advance_together(runs, 7) == 7
    assert [run.step for run in runs] == [7, 7, 7]
    assert advance_together(runs, 1000) == tiny_cfg.train.steps - 7 and all(run.done for run in runs)


def test_a_diverging_racer_stops_alone(tiny_cfg, xor_data):
    racers = {"calm": OptimConfig(name="sgd", lr=1e-4), "wild": OptimConfig(name="sgd", lr=100.0)}
    cfg = with_changes(tiny_cfg, model=dict(depth=6, activation="linear", init="normal", init_std=1.0))
    runs = start(cfg, racers, xor_data)
    advance_together(list(runs.values()), 20)
    assert runs["wild"].diverged_at is not None
    assert runs["calm"].step == 20


def test_table_reports_each_racer(tiny_cfg, xor_data):
    runs = start(tiny_cfg, {"SGD": OptimConfig(name="sgd", lr=0.1, momentum=0.9)}, xor_data)
    advance_together(list(runs.values()), 20)
    (row,) = results_table(runs, target_loss=10.0)
    assert row["racer"] == "SGD" and row["steps"] == 20 and row["steps to train loss 10"] == 0
    assert row["settings"] == "SGD: lr 0.1, momentum 0.9"
    assert math.isfinite(row["test loss"]) and 0 <= row["test accuracy"] <= 1
    assert results_table(runs, target_loss=1e-9)[0]["steps to train loss 1e-09"] is None


def test_race_size_is_checked_and_each_racer_differs_only_in_its_optimizer(tiny_cfg):
    with pytest.raises(ConfigError, match="1 to 6"):
        race_configs(tiny_cfg, {str(i): OptimConfig() for i in range(7)})
    with pytest.raises(ConfigError, match="1 to 6"):
        race_configs(tiny_cfg, {})
    configs = race_configs(tiny_cfg, {"a": OptimConfig(name="sgd"), "b": OptimConfig(name="adam")})
    assert [c.optim.name for c in configs.values()] == ["sgd", "adam"]
    assert all(dataclasses.replace(c, optim=tiny_cfg.optim) == tiny_cfg for c in configs.values())
    assert unique_labels(["Adam", "SGD", "Adam"]) == ["Adam", "SGD", "Adam (2)"]


def test_describe_names_only_the_settings_that_apply():
    assert describe(OptimConfig(name="adam", lr=0.001)) == "Adam: lr 0.001, betas (0.9, 0.999)"
    assert describe(OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, schedule="cosine")) == (
        "SGD: lr 0.1, momentum 0.9 (Nesterov), cosine schedule"
    )


def test_racers_are_named_by_the_settings_that_tell_them_apart():
    sgd, adam = OptimConfig(name="sgd", lr=0.1, momentum=0.0), OptimConfig(name="adam", lr=0.01)
    heavy = OptimConfig(name="sgd", lr=0.1, momentum=0.9)
    assert racer_names([sgd, heavy, adam]) == ["SGD, lr 0.1", "SGD, lr 0.1, momentum 0.9", "Adam, lr 0.01"]
    assert racer_names([adam, dataclasses.replace(adam, beta2=0.9)]) == [
        "Adam, lr 0.01, betas (0.9, 0.999)",
        "Adam, lr 0.01, betas (0.9, 0.9)",
    ]
    assert racer_names([adam, adam]) == ["Adam, lr 0.01", "Adam, lr 0.01 (2)"]  # never two lines of one name
    names = {p.short: racer_names(p.racers) for p in RACE_PRESETS.values()}
    assert names == {
        "SGD vs Adam": ["SGD, lr 0.01", "Adam, lr 0.01"],
        "LR race": ["SGD, lr 0.001", "SGD, lr 1", "SGD, lr 5"],
        "Schedule": ["SGD, lr 0.5", "SGD, lr 0.5, cosine schedule"],  # momentum 0.9 is shared: not named
    }


@pytest.mark.parametrize("schedule", SCHEDULES.names())
def test_every_schedule_moves_the_learning_rate_as_torch_says(tiny_cfg, xor_data, schedule):
    optim = OptimConfig(name="sgd", lr=0.1, schedule=schedule, step_size=5, gamma=0.5)
    run = Run(dataclasses.replace(tiny_cfg, optim=optim), xor_data)
    lrs = [r.lr for r in run.advance(20, max_seconds=math.inf)]
    assert lrs[0] == 0.1
    expected = {
        "none": [0.1] * 20,
        "step": [0.1 * 0.5 ** (i // 5) for i in range(20)],
        "exponential": [0.1 * 0.5**i for i in range(20)],
        "cosine": [0.1 * (1 + math.cos(math.pi * i / 20)) / 2 for i in range(20)],
    }[schedule]
    assert lrs == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_a_new_learning_rate_under_a_schedule_goes_on_from_there(tiny_cfg, xor_data):
    optim = OptimConfig(name="sgd", lr=0.1, schedule="exponential", gamma=0.5)
    run = Run(dataclasses.replace(tiny_cfg, optim=optim), xor_data)
    run.advance(2, max_seconds=math.inf)
    run.set_lr(1.0)
    assert [r.lr for r in run.advance(2, max_seconds=math.inf)] == pytest.approx([1.0, 0.5])
    assert run.chosen_lr == 1.0
