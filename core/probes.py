"""Per-layer gradient norms (no hooks needed) and sampled activation statistics (hooks)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from core.records import ActivationStats


class GradNormProbe:
    """Reads per-layer gradient norms after backward, before the optimizer step.

    One fused `_foreach_norm` over all gradients, summed per layer: the cost is a few
    kernel launches per step, whatever the depth (measured in bench.overhead).
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]]):
        self.names = [name for name, _ in layers]
        self.params: list[nn.Parameter] = []
        owner = []
        for i, (_, module) in enumerate(layers):
            for p in module.parameters():
                if p.requires_grad:
                    self.params.append(p)
                    owner.append(i)
        self._owner = torch.tensor(owner, dtype=torch.long)

    def read(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-layer norms (L,), total norm ()) as tensors on the parameters' device."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        squares = torch.stack(torch._foreach_norm(grads)).square()  # (P,)
        owner = self._owner.to(squares.device)
        per_layer = torch.zeros(len(self.names), device=squares.device).index_add_(0, owner, squares)
        return per_layer.sqrt(), squares.sum().sqrt()


class ActivationProbe:
    """Forward hooks that summarise each hidden activation; always removed on exit."""

    def __init__(self, activations: Sequence[tuple[str, nn.Module]], saturation: tuple[float, float] | None):
        self.activations = list(activations)
        self.saturation = saturation
        self.stats: dict[str, ActivationStats] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    @contextlib.contextmanager
    def capture(self) -> Iterator[dict[str, ActivationStats]]:
        """Hooks live only inside this block; the dict fills during the forward pass."""
        self.stats = {}
        try:
            for name, module in self.activations:
                self._handles.append(module.register_forward_hook(self._hook(name)))
            yield self.stats
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.stats[name] = summarise(output.detach(), self.saturation)

        return hook


def summarise(out: torch.Tensor, saturation: tuple[float, float] | None) -> ActivationStats:
    """Mean, std, dead-unit share and saturated share of a (B, units) activation."""
    out = out.float()
    mean, std = out.mean(), out.std(unbiased=False)
    dead = (out == 0).all(dim=0).float().mean()  # (units,) -> share
    if saturation is None:
        saturated = torch.zeros((), device=out.device)
    else:
        low, high = saturation
        saturated = ((out <= low) | (out >= high)).float().mean()
    m, s, d, sat = torch.stack([mean, std, dead, saturated]).tolist()
    return ActivationStats(mean=m, std=s, dead=d, saturated=sat)


def hook_count(model: nn.Module) -> int:
    """Number of forward hooks still registered anywhere in the model (tests use it)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
