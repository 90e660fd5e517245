"""Per-layer gradient norms (no hooks needed) and sampled activation statistics (hooks)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from core.records import ActivationStats


class GradNormProbe:
    """Reads per-layer gradient norms after backward, before the optimizer step.

    One fused `_foreach_norm` over all gradients and a single device->host copy per step;
    per-layer sums run in Python floats (float64) over a precomputed owner list. Measured
    in bench.overhead: ~70-100 us a step on a 2-core CPU, against ~2 ms for the step.
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]]):
        self.names = [name for name, _ in layers]
        self.params: list[nn.Parameter] = []
        self._owner: list[int] = []
        for i, (_, module) in enumerate(layers):
            for p in module.parameters():
                if p.requires_grad:
                    self.params.append(p)
                    self._owner.append(i)

    def read(self, *extra: torch.Tensor) -> tuple[list[float], list[float], float]:
        """(extra scalars as floats, per-layer norms, total norm), in one host copy.

        `extra` lets the caller ride along, e.g. the loss, instead of syncing twice.
        """
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        values = torch.stack([*(e.detach().reshape(()) for e in extra), *torch._foreach_norm(grads)]).tolist()
        head, per_param = values[: len(extra)], values[len(extra) :]
        squares = [0.0] * len(self.names)
        for owner, norm in zip(self._owner, per_param, strict=True):
            squares[owner] += norm * norm
        return head, [math.sqrt(s) for s in squares], math.sqrt(sum(squares))


class ActivationProbe:
    """Forward hooks that summarise each hidden activation; always removed on exit."""

    def __init__(self, activations: Sequence[tuple[str, nn.Module]], saturation: tuple[float, float] | None):
        self.activations = list(activations)
        self.saturation = saturation
        self.stats: dict[str, ActivationStats] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    @contextlib.contextmanager
    def capture(self) -> Iterator[dict[str, ActivationStats]]:
        """Hooks live only inside this block; the dict is filled when the block ends."""
        self.stats = {}
        outputs: dict[str, torch.Tensor] = {}
        try:
            for name, module in self.activations:
                self._handles.append(module.register_forward_hook(self._hook(name, outputs)))
            yield self.stats
        finally:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
        if outputs:
            self.stats.update(summarise_all(outputs, self.saturation))

    @staticmethod
    def _hook(name: str, outputs: dict[str, torch.Tensor]):
        def hook(module, inputs, output):
            outputs[name] = output.detach()

        return hook


def summarise_all(
    outputs: dict[str, torch.Tensor], saturation: tuple[float, float] | None
) -> dict[str, ActivationStats]:
    """Mean, std, dead-unit share and saturated share of each (B, units...) activation.

    All layers at once: their units side by side, per-unit statistics, then per-layer
    averages with one index_add and one device->host copy. About 15 ops whatever the
    depth (per-layer code cost ~150 us a layer on a 2-core CPU, 4 layers = 25% of a step).
    """
    flat = [out.float().flatten(1) for out in outputs.values()]  # each (B, units_i)
    units = torch.tensor([f.shape[1] for f in flat], device=flat[0].device)  # (L,)
    x = torch.cat(flat, dim=1)  # (B, U), U = sum of units_i
    columns = [x.mean(0), x.square().mean(0), (x == 0).all(0).float()]  # per unit, (U,) each
    if saturation is None:
        columns.append(torch.zeros_like(columns[0]))
    else:
        low, high = saturation
        columns.append(((x <= low) | (x >= high)).float().mean(0))
    layer = torch.repeat_interleave(torch.arange(len(flat), device=x.device), units)  # (U,) owner
    per_layer = torch.zeros(len(flat), 4, device=x.device).index_add_(0, layer, torch.stack(columns, 1))
    mean, square, dead, saturated = (per_layer / units[:, None]).T  # (L,) each
    std = (square - mean.square()).clamp_min(0).sqrt()  # population std
    rows = torch.stack([mean, std, dead, saturated], 1).tolist()  # (L, 4)
    return {name: ActivationStats(*row) for name, row in zip(outputs, rows, strict=True)}


def summarise(out: torch.Tensor, saturation: tuple[float, float] | None) -> ActivationStats:
    """The statistics of one (B, units...) activation."""
    return summarise_all({"out": out}, saturation)["out"]


def hook_count(model: nn.Module) -> int:
    """Number of forward hooks still registered anywhere in the model (tests use it)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
