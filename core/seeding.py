"""A run's own random streams: initial weights and dropout masks never come from torch's global generator.

Every Streamlit session's script, and every live worker, is a thread of one process, and torch's global
generator is shared by all of them: a model seeded through it can get another session's draws. So layers
are made on the meta device (no memory, no draws) and `materialise` gives them PyTorch's default values
drawn from a generator that belongs to the run; `Dropout` draws its masks from its own seeded stream.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed`: one random stream that belongs to one run."""
    return torch.Generator(device).manual_seed(seed)


def substream(seed: int, *path: int) -> int:
    """A seed for the sub-stream `path` of a run's `seed`, unrelated to any other seed's or path's numbers."""
    entropy = [seed % 2**64, *path]  # SeedSequence wants whole numbers >= 0; torch takes seeds below 0 too
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def default_init_(layer: nn.Module, g: torch.Generator) -> None:
    """PyTorch's own reset_parameters of a Linear, Conv or recurrent layer, every number drawn from `g`."""
    if isinstance(layer, nn.RNNBase):  # uniform(-1/sqrt(hidden), 1/sqrt(hidden)) for every weight and bias
        bound = 1 / math.sqrt(layer.hidden_size)
        for weight in layer.parameters():
            nn.init.uniform_(weight, -bound, bound, generator=g)
        return
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=g)  # uniform(±1/sqrt(fan_in))
    if layer.bias is not None:
        bound = 1 / math.sqrt(layer.weight[0].numel())  # fan_in: input features x kernel area
        nn.init.uniform_(layer.bias, -bound, bound, generator=g)


def materialise(model: nn.Module, g: torch.Generator) -> nn.Module:
    """A model made on the meta device, now on the CPU with PyTorch's default initial values, drawn from `g`.

    Layers are visited in registration order (the input side first); a layer type with parameters or
    buffers that this function does not know raises, rather than keep uninitialised memory.
    """
    model.to_empty(device="cpu")
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv2d | nn.RNNBase):
            default_init_(module, g)
        elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            module.reset_parameters()  # weight 1, bias 0, fresh running statistics: nothing random
        elif [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            raise TypeError(f"materialise does not know how to initialise a {type(module).__name__}")
    return model


class Dropout(nn.Module):
    """nn.Dropout whose masks come from its own stream seeded by `seed`, never from torch's global one."""

    def __init__(self, p: float, seed: int):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.seed = p, seed
        self._generator: torch.Generator | None = None  # made on the input's device, anew if it moves
        self.last_keep: torch.Tensor | None = (
            None  # the last training step's mask: 0 where a unit was dropped
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self._generator is None or self._generator.device != x.device:
            self._generator = generator(self.seed, x.device)
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self._generator)  # 1 keeps, 0 drops
        self.last_keep = keep  # for a picture of the dropped units; nonzero where kept (scaled below)
        return x * keep if self.p == 1 else x * keep.div_(1 - self.p)  # scaled so the mean is unchanged

    def extra_repr(self) -> str:
        return f"p={self.p}"
