"""The Overfitting lab's presets reproduce their lessons as measured facts on their fixed seeds.

Each preset trains A (and B) to the end as the page plays them, side by side. The numbers in the comments
were measured on a 2-core CPU, one torch thread (torch 2.14): about 10 s of CPU in all.
"""

from __future__ import annotations

import functools

import torch

from core.overfitting.presets import FIT_PRESETS
from core.overfitting.run import FitRun
from core.training import advance_together
from tests.test_lessons_images import only_difference

CPU = torch.device("cpu")


@functools.cache
def played(name: str) -> dict[str, FitRun]:
    p = FIT_PRESETS[name]
    runs = {label: FitRun(cfg, device=CPU) for label, cfg in zip("AB", (p.a, p.b), strict=True) if cfg}
    advance_together(list(runs.values()), max_rounds=10_000, max_seconds=600)
    assert all(run.done for run in runs.values())
    return runs


def test_fifty_examples_overfit_the_validation_loss_turns_while_the_training_loss_falls():
    run = played("Overfitting: 50 examples, 85,000 weights")["A"]
    last = run.evals[-1]
    assert run.best.epoch <= 25  # 13
    assert last.val_loss > 1.25 * run.best.val_loss  # 0.87 against 0.64
    assert last.train_loss < 0.01 and last.gap > 0.5  # 0.000, 0.87
    assert last.train_accuracy == 1.0 and last.val_accuracy < 0.9  # memorised; 81% on new digits


def test_ten_times_the_data_shrinks_the_gap():
    runs = played("More data: 50 against 500 examples")
    a, b = runs["A"].evals[-1], runs["B"].evals[-1]
    assert set(only_difference(runs["A"].cfg, runs["B"].cfg)) == {"train.examples"}
    assert b.gap < a.gap / 2 and b.val_loss < a.val_loss / 2  # gap 0.23 vs 0.84; val 0.23 vs 0.84
    assert b.val_accuracy > a.val_accuracy + 0.1  # 95% vs 80%


def test_a_large_network_on_thirty_points_memorises_them_a_small_one_cannot():
    runs = played("Capacity: 8 units against 3 x 256 on 30 points")
    a, b = runs["A"].evals[-1], runs["B"].evals[-1]
    assert b.train_loss < 0.01 and a.train_loss > 0.1  # 0.000 vs 0.21
    assert b.val_loss > 3 * a.val_loss  # 7.6 vs 0.40
    assert runs["B"].params > 1000 * runs["A"].params  # 132,866 vs 42


def test_dropout_delays_overfitting_and_lowers_the_best_validation_loss():
    runs = played("Dropout: the same network with p = 0.5")
    a, b = runs["A"], runs["B"]
    assert set(only_difference(a.cfg, b.cfg)) == {"model.dropout"}
    assert b.best.val_loss < a.best.val_loss  # 0.59 vs 0.64
    assert b.best.epoch > a.best.epoch + 5  # 29 vs 13


def test_weight_decay_shrinks_the_weights_and_the_gap():
    runs = played("Weight decay 0.01: smaller weights, a smaller gap")
    a, b = runs["A"].evals[-1], runs["B"].evals[-1]
    assert b.weight_norm < a.weight_norm / 2  # 7.9 vs 19.0
    assert b.gap < a.gap - 0.2  # 0.55 vs 0.87


def test_too_much_weight_decay_underfits():
    last = played("Too much weight decay (0.1): underfitting")["A"].evals[-1]
    assert last.train_loss > 1.0 and last.val_loss > 1.0  # 1.72, 1.83
    assert abs(last.gap) < 0.3 and last.val_accuracy < 0.5  # 0.11; 28%
    assert last.weight_norm < 5  # 3.0 (19 without decay)


def test_early_stopping_stops_patience_epochs_after_the_best_and_restores_it():
    run = played("Early stopping: patience 10")["A"]
    assert run.stopped_at == run.best.epoch + 10  # 23 = 13 + 10
    assert run.restored_from == run.best.epoch
    assert run.evals[-1].epoch < run.cfg.train.epochs / 2  # stopped long before 100
