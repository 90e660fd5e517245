"""The run object: seeding, slices, bounds, divergence, learning-rate changes, reset."""

from __future__ import annotations

import dataclasses
import math
import pickle

import pytest
import torch

from core.config import with_changes
from core.records import ActivationStats, EvalRecord, StepRecord
from core.registry import ACTIVATIONS, INITIALIZERS, OPTIMIZERS
from core.training import Run, Status
from tests.conftest import hook_count


def test_advance_returns_records_in_order(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    first = run.advance(3, max_seconds=math.inf)
    second = run.advance(2, max_seconds=math.inf)
    assert [r.step for r in first + second] == [1, 2, 3, 4, 5]
    assert run.step == 5 and run.records == first + second


def test_same_seed_same_records(tiny_cfg, xor_data):
    a, b = Run(tiny_cfg, xor_data), Run(tiny_cfg, xor_data)
    assert [r.loss for r in a.advance(10, max_seconds=math.inf)] == [
        r.loss for r in b.advance(10, max_seconds=math.inf)
    ]


def test_runs_differing_in_optimizer_share_weights_and_batches(tiny_cfg, xor_data):
    other = with_changes(tiny_cfg, optim=dict(name="adam", lr=0.01))
    a, b = Run(tiny_cfg, xor_data), Run(other, xor_data)
    assert a.init_fingerprint == b.init_fingerprint
    for _ in range(5):
        assert torch.equal(a._batches.next(), b._batches.next())


def test_different_initializers_give_different_weights(tiny_cfg, xor_data):
    other = with_changes(tiny_cfg, model=dict(init="xavier_normal"))
    assert Run(tiny_cfg, xor_data).init_fingerprint != Run(other, xor_data).init_fingerprint


def test_building_a_run_leaves_the_global_rng_alone(tiny_cfg, xor_data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Run(tiny_cfg, xor_data)
    assert torch.equal(torch.rand(3), expected)


def test_stops_at_the_step_cap(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    assert len(run.advance(1000, max_seconds=math.inf)) == tiny_cfg.train.steps
    assert run.status is Status.FINISHED and run.done
    assert run.advance(5, max_seconds=math.inf) == []
    assert run.evals[-1].step == tiny_cfg.train.steps


def test_a_slice_is_bounded_in_time(tiny_cfg, xor_data):
    cfg = with_changes(tiny_cfg, train=dict(steps=3000))
    run = Run(cfg, xor_data)
    done = run.advance(3000, max_seconds=0.0)
    assert len(done) == 1  # the deadline is checked after every step
    assert not run.done


def test_divergence_is_a_result_not_an_exception(tiny_cfg, xor_data):
    cfg = with_changes(tiny_cfg, model=dict(depth=6, activation="linear", init="normal", init_std=3.0))
    run = Run(cfg, xor_data)
    records = run.advance(20, max_seconds=math.inf)
    assert run.status is Status.DIVERGED
    assert run.diverged_at == records[-1].step
    assert not (math.isfinite(records[-1].loss) and math.isfinite(records[-1].grad_norm_total))
    assert f"Diverged at step {run.diverged_at}" in run.message
    assert run.advance(5, max_seconds=math.inf) == []


def test_learning_rate_change_applies_at_the_next_step(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    run.advance(2, max_seconds=math.inf)
    run.set_lr(0.01)
    nxt = run.advance(1, max_seconds=math.inf)[0]
    assert nxt.lr == 0.01
    assert all(g["lr"] == 0.01 for g in run.optimizer.param_groups)
    with pytest.raises(ValueError):
        run.set_lr(float("nan"))


def test_pause_play_and_reset(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    assert run.status is Status.READY
    run.play()
    assert run.status is Status.PLAYING
    first = [r.loss for r in run.advance(4, max_seconds=math.inf)]
    run.pause()
    assert run.status is Status.PAUSED
    run.reset()
    assert run.step == 0 and run.status is Status.READY and len(run.evals) == 1
    assert [r.loss for r in run.advance(4, max_seconds=math.inf)] == first


def test_clipping_bounds_the_gradient(tiny_cfg, xor_data):
    cfg = with_changes(tiny_cfg, model=dict(init="normal", init_std=2.0), train=dict(clip_norm=0.5))
    run = Run(cfg, xor_data)
    rec = run.advance(1, max_seconds=math.inf)[0]
    assert rec.clipped and rec.grad_norm_total > 0.5
    after = torch.sqrt(sum(p.grad.pow(2).sum() for p in run.model.parameters())).item()
    assert after == pytest.approx(0.5, rel=1e-3)


@pytest.mark.parametrize("optimizer", OPTIMIZERS.names())
@pytest.mark.parametrize("init", INITIALIZERS.names())
@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_every_combination_trains_or_diverges_cleanly(tiny_cfg, xor_data, activation, init, optimizer):
    cfg = with_changes(
        tiny_cfg,
        model=dict(activation=activation, init=init),
        optim=dict(name=optimizer, lr=OPTIMIZERS.get(optimizer).default_lr),
        train=dict(steps=4),
    )
    run = Run(cfg, xor_data)
    records = run.advance(4, max_seconds=math.inf)
    if run.status is Status.DIVERGED:
        assert run.diverged_at == records[-1].step
    else:
        assert run.status is Status.FINISHED
        assert all(math.isfinite(r.loss) for r in records)
    assert hook_count(run.model) == 0


def test_batchnorm_and_every_loss_train(tiny_cfg, xor_data):
    for loss in ("cross_entropy", "bce", "mse"):
        run = Run(with_changes(tiny_cfg, model=dict(batchnorm=True), train=dict(loss=loss)), xor_data)
        run.advance(20, max_seconds=math.inf)
        assert run.status is Status.FINISHED and math.isfinite(run.evals[-1].test_loss)


def test_predict_grid_covers_the_data(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    xs, ys, score = run.predict_grid(resolution=12)
    assert xs.shape == (12,) and ys.shape == (12,) and score.shape == (12, 12)
    assert ((score >= 0) & (score <= 1)).all()
    assert xs.min() < xor_data.x_train[:, 0].min().item() and xs.max() > xor_data.x_train[:, 0].max().item()


# ---- records are a contract ------------------------------------------------------------


def test_record_fields_are_a_contract():
    assert [f.name for f in dataclasses.fields(StepRecord)] == [
        "step", "loss", "lr", "grad_norms", "grad_norm_total", "clipped", "activations",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(EvalRecord)] == [
        "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(ActivationStats)] == ["mean", "std", "dead", "saturated"]


def _plain(value) -> bool:
    if isinstance(value, (bool, int, float, str, type(None))):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if dataclasses.is_dataclass(value):
        return all(_plain(getattr(value, f.name)) for f in dataclasses.fields(value))
    return False


def test_records_hold_plain_values_only(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    records = run.advance(5, max_seconds=math.inf)
    assert all(_plain(r) for r in records) and all(_plain(e) for e in run.evals)
    assert records[0].activations is not None and set(records[0].activations) == {"hidden 1", "hidden 2"}
    assert set(records[0].grad_norms) == {"hidden 1", "hidden 2", "output"}
    assert pickle.loads(pickle.dumps(records)) == records


def test_activation_stats_are_sampled_every_k_steps(tiny_cfg, xor_data):
    run = Run(with_changes(tiny_cfg, train=dict(probe_every=3)), xor_data)
    sampled = [r.step for r in run.advance(10, max_seconds=math.inf) if r.activations is not None]
    assert sampled == [1, 4, 7, 10]
