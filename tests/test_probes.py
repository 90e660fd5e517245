"""Gradient norms against a hand computation from p.grad; hooks that always go away."""

from __future__ import annotations

import math

import pytest
import torch

from core.config import ModelConfig, with_changes
from core.models import build_mlp
from core.probes import ActivationProbe, GradNormProbe, summarise
from core.training import Run
from tests.conftest import hook_count


def _by_hand(module: torch.nn.Module) -> float:
    return sum(p.grad.pow(2).sum().item() for p in module.parameters()) ** 0.5


@pytest.mark.parametrize("batchnorm", [False, True])
def test_grad_norms_equal_a_hand_computation(tiny_cfg, xor_data, batchnorm):
    run = Run(with_changes(tiny_cfg, model=dict(depth=3, batchnorm=batchnorm)), xor_data)
    record = run.advance(1, max_seconds=math.inf)[
        0
    ]  # p.grad still holds this step's gradient after the update
    for name, module in run.model.layers():
        assert record.grad_norms[name] == pytest.approx(_by_hand(module), rel=1e-5)
    total = sum(p.grad.pow(2).sum().item() for p in run.model.parameters()) ** 0.5
    assert record.grad_norm_total == pytest.approx(total, rel=1e-5)


def test_gradients_live_in_one_buffer_that_survives_zero_grad(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    run.advance(3, max_seconds=math.inf)
    buffer = run._grads._flat
    assert all(
        p.grad.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr()
        for p in run.model.parameters()
    )
    run.model.zero_grad()  # someone drops the views (set_to_none=True)
    record = run.advance(1, max_seconds=math.inf)[0]
    for name, module in run.model.layers():  # the probe re-attached them before backward
        assert record.grad_norms[name] == pytest.approx(_by_hand(module), rel=1e-5)


def test_layers_run_from_input_to_output():
    model = build_mlp(2, 2, ModelConfig(depth=3, width=4), seed=0)
    assert [name for name, _ in model.layers()] == ["hidden 1", "hidden 2", "hidden 3", "output"]
    probe = GradNormProbe(model.layers())
    assert probe.names == ["hidden 1", "hidden 2", "hidden 3", "output"]


def test_missing_gradients_count_as_zero():
    model = build_mlp(2, 2, ModelConfig(depth=1, width=4), seed=0)
    extra, norms, total = GradNormProbe(model.layers()).read(torch.tensor(2.5))  # before any backward
    assert extra == [2.5] and norms == [0.0, 0.0] and total == 0.0


def test_hooks_are_removed_after_a_run(tiny_cfg, xor_data):
    run = Run(tiny_cfg, xor_data)
    run.advance(7, max_seconds=math.inf)
    assert hook_count(run.model) == 0


def test_hooks_are_removed_when_a_forward_pass_fails():
    model = build_mlp(2, 2, ModelConfig(depth=2, width=4), seed=0)
    probe = ActivationProbe(model.activations(), saturation=None)
    with pytest.raises(RuntimeError), probe.capture():
        assert hook_count(model) == 2
        model(torch.zeros(3, 5))  # wrong input width: the forward pass raises half-way
    assert hook_count(model) == 0


def test_hooks_are_removed_when_a_run_is_abandoned_half_way(tiny_cfg, xor_data):
    run = Run(with_changes(tiny_cfg, train=dict(steps=1000)), xor_data)
    run.advance(1000, max_seconds=0.0)  # stops after one step of a long run
    assert hook_count(run.model) == 0


def test_activation_summary_by_hand():
    out = torch.tensor([[0.0, 0.5, 0.99], [0.0, 0.2, 0.01]])  # (B=2, units=3)
    stats = summarise(out, saturation=(0.02, 0.98))
    assert stats.mean == pytest.approx(out.mean().item())
    assert stats.std == pytest.approx(out.std(unbiased=False).item())
    assert stats.dead == pytest.approx(1 / 3)  # unit 0 is zero for every example
    assert stats.saturated == pytest.approx(4 / 6)  # 0.0, 0.0, 0.99, 0.01


def test_probe_collects_every_hidden_layer(tiny_cfg, xor_data):
    run = Run(with_changes(tiny_cfg, model=dict(depth=3, activation="sigmoid")), xor_data)
    stats = run.advance(1, max_seconds=math.inf)[0].activations
    assert list(stats) == ["hidden 1", "hidden 2", "hidden 3"]
    assert all(0 <= s.mean <= 1 for s in stats.values())  # sigmoid outputs
