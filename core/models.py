"""Model builders from config; every model names its layers for the probes."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from core.config import ModelConfig
from core.registry import ACTIVATIONS, INITIALIZERS, InitParams
from core.seeding import Dropout, generator, materialise, substream


class MLP(nn.Module):
    """depth x (Linear -> optional BatchNorm1d -> activation -> optional Dropout), then a Linear output
    layer. Dropout (p = `dropout`, after each hidden activation as the course places it) draws its masks
    from streams seeded by `seed`, never from torch's global generator.

    Made on the meta device: build_mlp gives it memory and draws its weights.
    """

    def __init__(self, n_in: int, n_out: int, cfg: ModelConfig, dropout: float = 0.0, seed: int = 0):
        super().__init__()
        act = ACTIVATIONS.get(cfg.activation)
        blocks = []
        width_in = n_in
        for _ in range(cfg.depth):
            parts = OrderedDict(linear=nn.Linear(width_in, cfg.width, device="meta"))
            if cfg.batchnorm:
                parts["bn"] = nn.BatchNorm1d(cfg.width, device="meta")
            parts["act"] = act.make()
            if dropout > 0:
                parts["drop"] = Dropout(dropout, substream(seed, 7, len(blocks)))
            blocks.append(nn.Sequential(parts))
            width_in = cfg.width
        self.hidden = nn.ModuleList(blocks)
        self.output = nn.Linear(width_in, n_out, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, n_in) -> (B, n_out)
        for block in self.hidden:
            x = block(x)
        return self.output(x)

    def layers(self) -> list[tuple[str, nn.Module]]:
        """(display name, module) from the input side to the output, for gradient norms."""
        named = [(f"hidden {i + 1}", block) for i, block in enumerate(self.hidden)]
        return [*named, ("output", self.output)]

    def activations(self) -> list[tuple[str, nn.Module]]:
        """(display name, activation module) of every hidden layer, for forward hooks."""
        return [(f"hidden {i + 1}", block.act) for i, block in enumerate(self.hidden)]


def build_mlp(n_in: int, n_out: int, cfg: ModelConfig, seed: int, dropout: float = 0.0) -> MLP:
    """Build and initialise an MLP from its own generator; the same seed and shapes give the same weights
    (with or without dropout, which has none)."""
    act = ACTIVATIONS.get(cfg.activation)
    init = INITIALIZERS.get(cfg.init)
    params = InitParams(a=cfg.init_a, b=cfg.init_b, std=cfg.init_std)
    g = generator(seed)
    model = materialise(MLP(n_in, n_out, cfg, dropout, seed), g)
    if init.apply is not None:
        for block in model.hidden:
            init.apply(block.linear, act, params, g)
        init.apply(model.output, ACTIVATIONS.get("linear"), params, g)
    return model
