"""The lab's configuration: glyphs, which inputs and outputs, the CNN, the loss weights, training."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.config import OptimConfig, check_clip, check_optim
from core.data.glyphs import GlyphConfig
from core.data.glyphs import validate as validate_glyphs
from core.errors import ConfigError

MAX_STEPS = 2000
MAX_WEIGHT = 100.0
# How each task's loss is scaled before its weight. Dividing by the loss at the start (measured once,
# with the initial weights, on a fixed sample of training images) puts every task at 1 when training
# starts whatever its unit, and keeps the objective fixed: the weights keep their meaning all run long.
# A running mean would move the objective every step and undo the weights as a task is learned (its
# loss shrinks, so does its divisor, and it is pushed as hard as before), which is hard to read in class.
NORMALISE = {
    "none": "Raw losses (each in its own unit)",
    "start": "Each loss divided by its value at the start",
}


@dataclass(frozen=True)
class NetConfig:
    """Which inputs and outputs (a key of core.multitask.models.SETUPS), and the CNN that reads the image."""

    setup: str = "char_alphabet"  # char, char_given_alphabet, char_alphabet, angle_alphabet
    blocks: int = 2  # conv blocks (conv 3x3 -> ReLU -> max pool 2x2), 1..3
    channels: int = 8  # the first block's channels, doubling per block: small keeps a CPU step cheap
    hidden: int = 64  # units of the shared dense layer that every head reads


@dataclass(frozen=True)
class LossConfig:
    """One weight per task; the total loss is the sum of weight x loss (x 1 / normaliser)."""

    char: float = 1.0  # weight of the character loss (cross-entropy)
    alphabet: float = 1.0  # weight of the alphabet loss (cross-entropy)
    angle: float = 1.0  # weight of the rotation-angle loss (MSE in degrees², hundreds at the start)
    normalise: str = "none"  # key of NORMALISE


@dataclass(frozen=True)
class MTTrainConfig:
    """How long, on which batches, and how often the test set is scored."""

    batch_size: int = 32  # images per step
    steps: int = 150  # optimizer steps in one run
    seed: int = 0  # initial weights and batch order
    eval_every: int = 10  # test metrics every k steps (a test pass costs a few training steps)
    clip_norm: float = 0.0  # gradient clipping by total norm; 0 = off


@dataclass(frozen=True)
class MultiTaskConfig:
    """Everything one run of the lab needs."""

    data: GlyphConfig = field(default_factory=lambda: GlyphConfig(n_alphabets=6, per_character=40))
    model: NetConfig = field(default_factory=NetConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=0.003))
    train: MTTrainConfig = field(default_factory=MTTrainConfig)


def validate(cfg: MultiTaskConfig) -> None:
    """Raise ConfigError with one readable sentence if the configuration cannot run."""
    from core.multitask.models import SETUPS

    m, w, t, o = cfg.model, cfg.loss, cfg.train, cfg.optim
    validate_glyphs(cfg.data)
    setup = SETUPS.get(m.setup)
    if w.normalise not in NORMALISE:
        raise ConfigError(f"Unknown normalisation '{w.normalise}'. Valid names: {', '.join(NORMALISE)}.")
    for label, value, low, high in (
        ("number of conv blocks", m.blocks, 1, 3),
        ("number of channels", m.channels, 1, 64),
        ("number of hidden units", m.hidden, 1, 512),
        ("batch size", t.batch_size, 1, 1024),
        ("number of steps", t.steps, 1, MAX_STEPS),
        ("evaluation interval", t.eval_every, 1, MAX_STEPS),
    ):
        if not low <= value <= high:
            raise ConfigError(f"The {label} must be between {low} and {high}, not {value}.")
    weights = {task: getattr(w, task) for task in setup.tasks}
    for task, value in weights.items():
        if not (math.isfinite(value) and 0 <= value <= MAX_WEIGHT):
            raise ConfigError(f"The {task} weight must be between 0 and {MAX_WEIGHT:g}, not {value}.")
    if not any(weights.values()):
        raise ConfigError("At least one loss weight must be above 0, or nothing is learned.")
    check_optim(o)
    check_clip(t.clip_norm)
