"""Recurrent forecasters: a plain RNN, an LSTM or a GRU, then a Linear layer to the horizon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.registry import Registry
from core.seeding import generator, materialise
from core.sequences.config import CellConfig


@dataclass(frozen=True)
class CellSpec:
    """A torch recurrent layer and one sentence on how it remembers."""

    label: str
    make: Callable[[int, int], nn.RNNBase]  # (hidden, layers) -> module over (B, T, 1), on the meta device
    memory: str


CELLS: Registry[CellSpec] = Registry("cell")
CELLS.add(
    "rnn",
    CellSpec(
        "RNN",
        lambda hidden, layers: nn.RNN(
            1, hidden, layers, nonlinearity="tanh", batch_first=True, device="meta"
        ),
        "one tanh state, multiplied by the same weights at every step, so old inputs fade fast",
    ),
)
CELLS.add(
    "lstm",
    CellSpec(
        "LSTM",
        lambda hidden, layers: nn.LSTM(1, hidden, layers, batch_first=True, device="meta"),
        "a cell state that the forget gate can carry across many steps almost unchanged",
    ),
)
CELLS.add(
    "gru",
    CellSpec(
        "GRU",
        lambda hidden, layers: nn.GRU(1, hidden, layers, batch_first=True, device="meta"),
        "an update gate that blends the old state with the new one, so it can keep the old",
    ),
)


class Forecaster(nn.Module):
    """Recurrent layers read a window; the last step's state predicts the next h values.

    Made on the meta device: build_forecaster gives it memory and draws its weights.
    """

    def __init__(self, cfg: CellConfig, horizon: int):
        super().__init__()
        self.rnn = CELLS.get(cfg.cell).make(cfg.hidden, cfg.layers)
        self.head = nn.Linear(cfg.hidden, horizon, device="meta")

    def forward(self, x: torch.Tensor, state=None):
        """(B, T, 1) -> ((B, h) prediction, state after the last step)."""
        out, state = self.rnn(x, state)  # out: (B, T, hidden)
        return self.head(out[:, -1]), state  # (B, h)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0]

    @torch.no_grad()
    def roll(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """(B, T, 1) -> (B, steps): forecast `steps` ahead by feeding each prediction back as input.

        The state carries on from the window, so each new block of h predictions costs h cell steps,
        not a whole window again.
        """
        pred, state = self(x)  # (B, h)
        blocks = [pred]
        while sum(b.shape[1] for b in blocks) < steps:
            pred, state = self(blocks[-1].unsqueeze(-1), state)  # (B, h, 1) in, (B, h) out
            blocks.append(pred)
        return torch.cat(blocks, dim=1)[:, :steps]


def build_forecaster(cfg: CellConfig, horizon: int, seed: int) -> Forecaster:
    """PyTorch's default initial weights, drawn from the model's own generator: same seed, same weights."""
    return materialise(Forecaster(cfg, horizon), generator(seed))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
