"""A small CNN built from config: conv blocks, then a classifier head; shapes checked before building."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.errors import ConfigError
from core.registry import ACTIVATIONS, INITIALIZERS, InitParams
from core.seeding import Dropout, generator, materialise, substream

MAX_BLOCKS = 4
MAX_CHANNELS = 128
POOLS = ("max", "avg", "none")


@dataclass(frozen=True)
class CNNConfig:
    """Conv blocks (conv -> optional BatchNorm -> activation -> optional 2x2 pooling) and a head."""

    blocks: int = 2  # conv blocks, 1..4
    channels: int = 16  # the first block's output channels; each further block doubles them
    kernel: int = 3  # square kernel side: 1, 3, 5 or 7
    padding: int = 1  # zero padding on every side; kernel // 2 keeps the size ("same")
    pool: str = "max"  # after each block: "max" or "avg" 2x2 pooling (halves the side), or "none"
    activation: str = "relu"  # key of core.registry.ACTIVATIONS
    batchnorm: bool = False  # BatchNorm2d between each conv and its activation
    dropout: float = 0.0  # dropout before each linear layer of the head, 0..0.9
    head: int = 64  # hidden units of the head; 0 = one linear layer straight to the classes
    init: str = "default"  # key of core.registry.INITIALIZERS for every conv and linear layer

    def block_channels(self) -> list[int]:
        return [min(self.channels * 2**i, MAX_CHANNELS) for i in range(self.blocks)]


@dataclass(frozen=True, slots=True)
class LayerRow:
    """One line of the architecture table."""

    name: str
    kind: str  # e.g. "Conv2d 3->16, 3x3, pad 1"
    shape: tuple[int, ...]  # output shape of one image: (C, H, W) or (features,)
    params: int  # trainable parameters
    macs: int = 0  # multiply-adds of one image's forward pass through this layer (conv and linear only)


def validate_cnn(cfg: CNNConfig) -> None:
    """Raise ConfigError with one sentence if the settings themselves are impossible."""
    ACTIVATIONS.get(cfg.activation)
    INITIALIZERS.get(cfg.init)
    if not 1 <= cfg.blocks <= MAX_BLOCKS:
        raise ConfigError(f"A CNN here has 1 to {MAX_BLOCKS} conv blocks, not {cfg.blocks}.")
    if not 1 <= cfg.channels <= MAX_CHANNELS:
        raise ConfigError(f"The first block's channels must be from 1 to {MAX_CHANNELS}, not {cfg.channels}.")
    if cfg.kernel not in (1, 3, 5, 7):
        raise ConfigError(f"The kernel size must be 1, 3, 5 or 7, not {cfg.kernel}.")
    if not 0 <= cfg.padding <= 3:
        raise ConfigError(f"The padding must be from 0 to 3 pixels, not {cfg.padding}.")
    if cfg.pool not in POOLS:
        raise ConfigError(f"Pooling must be one of {', '.join(POOLS)}, not '{cfg.pool}'.")
    if not 0.0 <= cfg.dropout <= 0.9:
        raise ConfigError(f"Dropout must be between 0 and 0.9, not {cfg.dropout}.")
    if not 0 <= cfg.head <= 1024:
        raise ConfigError(f"The head's hidden units must be from 0 to 1024, not {cfg.head}.")


def layer_table(cfg: CNNConfig, image_shape: tuple[int, int, int], n_classes: int) -> list[LayerRow]:
    """Each layer's output shape and parameter count; ConfigError if a feature map would vanish."""
    validate_cnn(cfg)
    c, h, w = image_shape
    rows = []
    for i, out in enumerate(cfg.block_channels(), start=1):
        block, (c, h, w) = _block_rows(cfg, i, out, (c, h, w))
        rows += block
    features = c * h * w
    rows.append(LayerRow("flatten", "Flatten", (features,), 0))
    if features > 200_000:
        raise ConfigError(
            f"The conv blocks leave {features:,} features for the head, too many to train here: "
            "add pooling or blocks, or use fewer channels."
        )
    if cfg.head:
        rows.append(_linear("dense", features, cfg.head))
        features = cfg.head
    rows.append(_linear("output", features, n_classes))
    return rows


def _block_rows(
    cfg: CNNConfig, i: int, out: int, shape: tuple[int, int, int]
) -> tuple[list[LayerRow], tuple[int, int, int]]:
    """Conv block i's rows (conv, batchnorm, activation, pooling) and the shape it leaves."""
    c, h, w = shape
    h2, w2 = h + 2 * cfg.padding - cfg.kernel + 1, w + 2 * cfg.padding - cfg.kernel + 1  # stride 1
    if h2 < 1 or w2 < 1:
        raise ConfigError(
            f"Block {i}'s {cfg.kernel}x{cfg.kernel} kernel does not fit its {h}x{w} input with padding "
            f"{cfg.padding}: use fewer blocks, a smaller kernel, more padding or no pooling."
        )
    conv_params = out * c * cfg.kernel**2 + out
    what = f"Conv2d {c}->{out}, {cfg.kernel}x{cfg.kernel}, pad {cfg.padding}"
    rows = [LayerRow(f"conv {i}", what, (out, h2, w2), conv_params, (conv_params - out) * h2 * w2)]
    if cfg.batchnorm:
        rows.append(LayerRow(f"bn {i}", "BatchNorm2d", (out, h2, w2), 2 * out))
    rows.append(LayerRow(f"act {i}", ACTIVATIONS.get(cfg.activation).label, (out, h2, w2), 0))
    c, h, w = out, h2, w2
    if cfg.pool != "none":
        if h < 2 or w < 2:
            raise ConfigError(
                f"Block {i}'s pooling would shrink a {h}x{w} map below one pixel: use fewer blocks, "
                "more padding or no pooling."
            )
        h, w = h // 2, w // 2
        rows.append(LayerRow(f"pool {i}", f"{cfg.pool.capitalize()}Pool2d 2x2", (c, h, w), 0))
    return rows, (c, h, w)


def _linear(name: str, n_in: int, n_out: int) -> LayerRow:
    """A Linear layer's row: weights and biases, and one multiply-add per weight."""
    return LayerRow(name, f"Linear {n_in}->{n_out}", (n_out,), n_in * n_out + n_out, n_in * n_out)


def forward_cost(rows: list[LayerRow], image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(multiply-adds, values) of one image's forward pass: the values are the input and every layer's
    output, what a training step keeps for its backward pass (and about as much again for gradients)."""
    values = math.prod(image_shape) + sum(math.prod(r.shape) for r in rows if r.name != "flatten")
    return sum(r.macs for r in rows), values


class CNN(nn.Module):
    """blocks x (Conv2d -> BatchNorm2d? -> activation -> pool?) -> flatten -> head -> class scores.

    Made on the meta device: build_cnn gives it memory and draws its weights. Each dropout layer draws
    its masks from its own sub-stream of `seed`.
    """

    def __init__(self, cfg: CNNConfig, image_shape: tuple[int, int, int], n_classes: int, seed: int):
        super().__init__()
        rows = layer_table(cfg, image_shape, n_classes)
        act = ACTIVATIONS.get(cfg.activation)
        blocks = []
        c_in = image_shape[0]
        for out in cfg.block_channels():
            parts = OrderedDict(conv=nn.Conv2d(c_in, out, cfg.kernel, padding=cfg.padding, device="meta"))
            if cfg.batchnorm:
                parts["bn"] = nn.BatchNorm2d(out, device="meta")
            parts["act"] = act.make()
            if cfg.pool != "none":
                parts["pool"] = nn.MaxPool2d(2) if cfg.pool == "max" else nn.AvgPool2d(2)
            blocks.append(nn.Sequential(parts))
            c_in = out
        self.blocks = nn.ModuleList(blocks)
        features = next(r.shape[0] for r in rows if r.name == "flatten")
        head = []
        if cfg.head:
            dropout = Dropout(cfg.dropout, substream(seed, 1))
            head = [dropout, nn.Linear(features, cfg.head, device="meta"), act.make()]
            features = cfg.head
        self.dense = nn.Sequential(*head) if head else None
        dropout = Dropout(cfg.dropout, substream(seed, 2))
        self.output = nn.Sequential(dropout, nn.Linear(features, n_classes, device="meta"))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, F)
        for block in self.blocks:
            x = block(x)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, n_classes)
        x = self.features(x)
        if self.dense is not None:
            x = self.dense(x)
        return self.output(x)

    def layers(self) -> list[tuple[str, nn.Module]]:
        """(display name, module) from the input side to the output, for gradient norms."""
        named = [(f"conv {i + 1}", block) for i, block in enumerate(self.blocks)]
        if self.dense is not None:
            named.append(("dense", self.dense))
        return [*named, ("output", self.output)]

    def feature_modules(self) -> list[tuple[str, nn.Module]]:
        """(display name, module) whose outputs are the feature maps: each activation and pooling."""
        out = []
        for i, block in enumerate(self.blocks, start=1):
            out.append((f"conv {i} (after activation)", block.act))
            if hasattr(block, "pool"):
                out.append((f"conv {i} (after pooling)", block.pool))
        return out

    @torch.no_grad()
    def feature_maps(self, image: torch.Tensor) -> list[tuple[str, np.ndarray]]:
        """(C, H, W) -> [(layer name, (channels, h, w) float32)] after every activation and pooling.

        Forward hooks live only during this one pass (eval mode) and are always removed.
        """
        maps: list[tuple[str, np.ndarray]] = []
        handles = [
            module.register_forward_hook(
                lambda m, i, o, name=name: maps.append((name, o[0].float().cpu().numpy()))
            )
            for name, module in self.feature_modules()
        ]
        try:
            self.eval()
            self(image.unsqueeze(0).to(next(self.parameters()).device))
        finally:
            for handle in handles:
                handle.remove()
        return maps


def build_cnn(cfg: CNNConfig, image_shape: tuple[int, int, int], n_classes: int, seed: int) -> CNN:
    """Build and initialise a CNN from its own generator; the same seed and shapes give the same weights."""
    act = ACTIVATIONS.get(cfg.activation)
    init = INITIALIZERS.get(cfg.init)
    g = generator(seed)
    model = materialise(CNN(cfg, image_shape, n_classes, seed), g)
    if init.apply is not None:
        params = InitParams()
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                is_output = module is model.output[-1]
                init.apply(module, ACTIVATIONS.get("linear") if is_output else act, params, g)
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
