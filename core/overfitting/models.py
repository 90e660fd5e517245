"""The Overfitting lab's network: the shared MLP (core.models) with dropout after each hidden activation,
as the course places it, its masks drawn from the run's own seeded streams; its size; and a forward pass
with masks of the caller's choosing, to show train mode against eval mode without touching the run."""

from __future__ import annotations

import itertools

import torch

from core.config import ModelConfig
from core.models import MLP, build_mlp
from core.overfitting.config import FitModel


def build_model(n_in: int, n_out: int, cfg: FitModel, seed: int) -> MLP:
    """PyTorch's default initial weights drawn from the run's own generator: same seed, same weights."""
    shape = ModelConfig(depth=cfg.depth, width=cfg.width, activation=cfg.activation)
    return build_mlp(n_in, n_out, shape, seed, dropout=cfg.dropout)


def with_masks(model: MLP, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    """The forward pass as in train mode when `g` is given (dropout masks drawn from `g`, not from the run's
    streams, so looking changes nothing in the run), as in eval mode (every unit) when it is None."""
    for block in model.hidden:
        x = block.act(block.linear(x))
        if g is not None and hasattr(block, "drop"):
            p = block.drop.p
            keep = torch.empty_like(x).bernoulli_(1 - p, generator=g)
            x = x * keep / (1 - p) if p < 1 else x * keep
    return model.output(x)


def parameter_count(n_in: int, n_out: int, cfg: FitModel) -> int:
    """Weights and biases of the MLP, without building it."""
    widths = [n_in] + [cfg.width] * cfg.depth + [n_out]
    return sum((a + 1) * b for a, b in itertools.pairwise(widths))
