"""The Overfitting lab's core: three disjoint seeded sets, epochs and their mean loss, dropout only in
train mode, early stopping that puts the best weights back, weight decay, and a test set that training
never reads."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch

from core.config import OptimConfig, with_changes
from core.errors import ConfigError
from core.overfitting.config import FitConfig, FitData, FitModel, FitTrain, pool_size, validate
from core.overfitting.data import balanced_order, load
from core.overfitting.models import build_model, parameter_count, with_masks
from core.overfitting.run import FitRun, augment
from core.seeding import generator
from core.training import Status

CPU = torch.device("cpu")
TINY = FitConfig(
    model=FitModel(depth=2, width=32),
    optim=OptimConfig(name="adam", lr=0.003),
    train=FitTrain(examples=40, epochs=6, batch_size=16),
)


def finished(cfg: FitConfig, splits=None) -> FitRun:
    run = FitRun(cfg, splits, CPU)
    while not run.done:
        run.advance(10_000, max_seconds=math.inf)
    return run


def rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x}


@pytest.mark.parametrize("name", ["digits", "moons"])
def test_the_three_sets_are_disjoint_sized_and_seeded(name):
    data = FitData(name=name)
    s = load(data)
    assert len(s.x_pool) == pool_size(name)
    pool, val, test = rows(s.x_pool), rows(s.x_val), rows(s.x_test)
    assert not (pool & val) and not (pool & test) and not (val & test)
    again = load(data)
    assert torch.equal(s.x_pool, again.x_pool) and torch.equal(s.y_test, again.y_test)
    other = load(FitData(name=name, seed=1))
    assert not torch.equal(s.x_val, other.x_val)


def test_a_handful_of_examples_covers_every_class():
    s = load(FitData(name="digits"))
    assert sorted(s.y_pool[:10].tolist()) == list(range(10))  # the first ten: one of each digit
    counts = torch.bincount(s.y_pool[:50], minlength=10)
    assert counts.min() == counts.max() == 5
    y = np.array([0, 0, 0, 1, 1, 2])
    order = balanced_order(y, np.random.default_rng(0))
    assert sorted(y[order[:3]].tolist()) == [0, 1, 2]


def test_an_epoch_is_every_example_once_and_its_loss_the_mean_of_its_batches():
    run = FitRun(TINY, device=CPU)
    t = TINY.train
    assert t.per_epoch == 3 and t.steps == 18  # 40 examples in batches of 16: 16 + 16 + 8
    seen = []
    for _ in range(t.per_epoch):
        before = run._order.clone() if len(run._order) else None
        run.advance(1, max_seconds=math.inf)
        assert before is None or torch.equal(before, run._order)
    seen = run._order.tolist()
    assert sorted(seen) == list(range(40))
    epoch = run.evals[-1]
    assert epoch.epoch == 1 and epoch.step == 3
    assert epoch.train_loss == pytest.approx(statistics.fmean(r.loss for r in run.records[:3]), rel=1e-12)
    assert [r.epoch for r in run.records] == [1, 1, 1]


def test_same_seed_same_run_and_a_b_start_alike():
    a, b = finished(TINY), finished(TINY)
    assert [e.val_loss for e in a.evals] == [e.val_loss for e in b.evals]
    decayed = FitRun(with_changes(TINY, optim={"weight_decay": 0.01}), device=CPU)
    fresh = FitRun(TINY, device=CPU)
    for p, q in zip(fresh.model.parameters(), decayed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_dropout_works_in_train_mode_only():
    model = build_model(64, 10, FitModel(depth=2, width=64, dropout=0.5), seed=0)
    x = torch.rand(8, 64, generator=generator(1))
    model.eval()
    assert torch.equal(model(x), model(x))  # eval mode: every unit, the same output
    model.train()
    first, second = model(x), model(x)
    assert not torch.equal(first, second)  # train mode: new masks each pass
    keep = model.hidden[0].drop.last_keep
    assert 0.3 < (keep == 0).float().mean() < 0.7  # about half dropped
    assert set(keep.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    model.eval()
    assert torch.equal(with_masks(model, x, None), model(x))


def test_looking_at_dropout_or_the_test_set_changes_nothing_in_the_run():
    cfg = with_changes(TINY, model={"dropout": 0.5})
    quiet, looked = FitRun(cfg, device=CPU), FitRun(cfg, device=CPU)
    for _ in range(3):
        quiet.advance(4, max_seconds=math.inf)
        looked.advance(4, max_seconds=math.inf)
        index, eval_p, train_p = looked.mode_outputs(samples=4)
        assert 0 <= index < len(looked.x_val) and eval_p.shape == (10,) and train_p.shape == (4, 10)
        assert eval_p.max() <= looked.mode_outputs(samples=1, index=0)[1].max() + 1e-6  # the least sure
        assert np.allclose(train_p.sum(axis=1), 1, atol=1e-5)
        assert len(looked.dropout_masks()) == 2
        looked.evaluate_test()
    assert [r.loss for r in quiet.records] == [r.loss for r in looked.records]
    assert len(looked.test_looks) == 3 and looked.test_looks[-1].epoch == looked.epoch


def test_training_never_reads_the_test_set():
    splits = load(TINY.data)
    poisoned = type(splits)(**{**vars(splits), "x_test": torch.full_like(splits.x_test, math.nan)})
    run = finished(TINY, poisoned)
    assert run.status is Status.FINISHED and all(math.isfinite(e.val_loss) for e in run.evals)
    assert math.isnan(run.evaluate_test().loss)  # only the button's look reads it


def test_early_stopping_stops_after_patience_and_puts_the_best_weights_back():
    cfg = with_changes(TINY, train={"examples": 50, "epochs": 100, "patience": 4, "batch_size": 32})
    cfg = with_changes(cfg, model={"width": 256})
    run = FitRun(cfg, device=CPU)
    kept = {}
    while not run.done:
        run.advance(1, max_seconds=math.inf)
        if run.evals[-1] is run.best and run.evals[-1].epoch not in kept:
            kept[run.best.epoch] = {k: v.clone() for k, v in run.model.state_dict().items()}
    assert run.stopped_at is not None and run.stopped_at == run.best.epoch + 4
    assert run.restored_from == run.best.epoch
    assert run.evals[-1].epoch == run.stopped_at < cfg.train.epochs
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, kept[run.best.epoch][name]), name
    assert "Stopped early after epoch" in run.message


def test_without_patience_the_run_keeps_its_last_weights_and_marks_the_best_epoch():
    run = finished(TINY)
    assert run.stopped_at is None and run.restored_from is None
    assert run.best.val_loss == min(e.val_loss for e in run.evals)
    assert run.step == TINY.train.steps and run.evals[-1].epoch == TINY.train.epochs


def test_weight_decay_shrinks_the_weights():
    plain = finished(TINY)
    decayed = finished(with_changes(TINY, optim={"weight_decay": 0.1}))
    assert decayed.evals[-1].weight_norm < plain.evals[-1].weight_norm


def test_augmentation_moves_pixels_keeps_the_range_and_is_seeded():
    s = load(FitData(name="digits"))
    x = s.x_pool[:16]
    a, b = augment(x, 8, generator(3)), augment(x, 8, generator(3))
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, x)
    assert a.min() >= 0 and a.max() <= 1 + 1e-6
    assert (a - x).abs().mean() < x.mean()  # turned and shifted a little, not scrambled


def test_the_parameter_count_matches_the_model():
    cfg = FitModel(depth=2, width=256)
    model = build_model(64, 10, cfg, 0)
    assert parameter_count(64, 10, cfg) == sum(p.numel() for p in model.parameters()) == 85_002


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"train": {"examples": 5}}, "training examples"),
        ({"train": {"examples": 5000}}, "training examples"),
        ({"model": {"dropout": 0.95}}, "dropout"),
        ({"model": {"depth": 0}}, "depth"),
        ({"train": {"epochs": 200, "examples": 1077, "batch_size": 8}}, "at most 7,000"),
        ({"data": {"name": "moons"}, "train": {"augment": True}}, "digits"),
        ({"data": {"name": "cifar"}}, "Unknown dataset"),
        ({"optim": {"lr": 1000.0}}, "learning rate"),
    ],
)
def test_settings_that_cannot_run_get_one_sentence(changes, words):
    with pytest.raises(ConfigError, match=words):
        validate(with_changes(TINY, **changes))
