"""The Overfitting lab's MLP: depth x (Linear -> activation -> Dropout), then a Linear output layer.

Dropout sits after each hidden activation, as the course places it; its masks come from the run's own
seeded streams (core.seeding.Dropout), so a run with dropout is as reproducible as one without.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

import torch
from torch import nn

from core.overfitting.config import FitModel
from core.registry import ACTIVATIONS
from core.seeding import Dropout, generator, materialise, substream


class FitMLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, cfg: FitModel, seed: int):
        super().__init__()
        act = ACTIVATIONS.get(cfg.activation)
        blocks, width_in = [], n_in
        for i in range(cfg.depth):
            parts = OrderedDict(
                linear=nn.Linear(width_in, cfg.width, device="meta"),
                act=act.make(),
                drop=Dropout(cfg.dropout, substream(seed, 7, i)),
            )
            blocks.append(nn.Sequential(parts))
            width_in = cfg.width
        self.hidden = nn.ModuleList(blocks)
        self.output = nn.Linear(width_in, n_out, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, n_in) -> (B, n_out)
        for block in self.hidden:
            x = block(x)
        return self.output(x)

    def linears(self) -> list[tuple[str, nn.Linear]]:
        """(display name, Linear) from the input side to the output."""
        return [(f"hidden {i + 1}", b.linear) for i, b in enumerate(self.hidden)] + [("output", self.output)]

    def with_masks(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        """The forward pass as in train mode when `g` is given (dropout masks drawn from `g`, not from
        the run's streams, so looking does not change the run), as in eval mode when it is None."""
        for block in self.hidden:
            x = block.act(block.linear(x))
            p = block.drop.p
            if g is not None and p > 0:
                keep = torch.empty_like(x).bernoulli_(1 - p, generator=g)
                x = x * keep / (1 - p) if p < 1 else x * keep
        return self.output(x)


def build_model(n_in: int, n_out: int, cfg: FitModel, seed: int) -> FitMLP:
    """PyTorch's default initial weights drawn from the run's own generator: same seed, same weights."""
    return materialise(FitMLP(n_in, n_out, cfg, seed), generator(seed))


def parameter_count(n_in: int, n_out: int, cfg: FitModel) -> int:
    """Weights and biases of the MLP, without building it."""
    widths = [n_in] + [cfg.width] * cfg.depth + [n_out]
    return sum((a + 1) * b for a, b in itertools.pairwise(widths))
