"""The Gradients lab's presets: vanishing and exploding gradients, and their cures."""

from __future__ import annotations

import dataclasses

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.presets import Preset, by_name

_DEEP = ModelConfig(depth=10, width=32)
_SPIRAL = DataConfig(name="spiral", n_samples=600, noise=0.1)
_TRAIN = TrainConfig(steps=400, batch_size=32)

VANISHING = RunConfig(
    data=_SPIRAL,
    model=dataclasses.replace(_DEEP, activation="sigmoid", init="default"),
    optim=OptimConfig(name="adam", lr=0.01),
    train=_TRAIN,
)
CURED = dataclasses.replace(
    VANISHING,
    model=dataclasses.replace(_DEEP, activation="elu", init="kaiming_uniform", batchnorm=True),
)
EXPLODING = RunConfig(
    data=_SPIRAL,
    model=dataclasses.replace(_DEEP, activation="relu", init="normal", init_std=0.4),
    optim=OptimConfig(name="sgd", lr=0.2, momentum=0.9),
    train=_TRAIN,
)
CLIPPED = dataclasses.replace(EXPLODING, train=dataclasses.replace(_TRAIN, clip_norm=0.5))

GRADIENT_PRESETS: dict[str, Preset] = by_name(
    Preset(
        "Vanishing: deep sigmoid, default init",
        "Vanishing",
        "Ten sigmoid layers: the first layer's gradient is about a billionth of the last one's (the "
        "diagnosis gives the measured ratio), so the first layers never learn: the loss sinks to a "
        "coin flip's (ln 2 ≈ 0.69) and stays there.",
        VANISHING,
    ),
    Preset(
        "Cured: ELU + Kaiming + BatchNorm",
        "Cured",
        "The same ten layers with ELU, Kaiming initialization and BatchNorm: every layer gets a "
        "gradient within about ten times the last one's, and the spiral is learned.",
        CURED,
    ),
    Preset(
        "Exploding: large normal init",
        "Exploding",
        "Weights drawn from Normal(0, 0.4) grow the signal layer after layer (the tenth layer's "
        "outputs spread about 30 times wider than the first's); the first gradient's norm is about "
        "70, SGD's first steps are huge, the loss leaps thousands of times higher and the run "
        "diverges within five steps.",
        EXPLODING,
    ),
    Preset(
        "Clipped: the same with gradient clipping",
        "Clipped",
        "The same network with gradients clipped to a norm of 0.5: the first gradient (a norm of "
        "about 70) is scaled down over a hundredfold and most later ones are clipped too, so no step "
        "is huge; the run does not diverge and ends above 90% test accuracy. The large initial weights "
        "leave a third or more of the units of some layers dead from the start, but the live ones are "
        "enough.",
        CLIPPED,
    ),
    Preset(
        "Compare: vanishing vs cured",
        "Vanishing vs cured",
        "A and B side by side on the same data and batches: sigmoid with default "
        "init against ELU + Kaiming + BatchNorm.",
        VANISHING,
        CURED,
    ),
)
