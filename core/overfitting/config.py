"""The Overfitting lab's settings: which data and how much of it, the model's capacity and its cures,
the optimizer (the shared OptimConfig, checked by the shared rules), and how long it trains."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.config import OptimConfig, check_optim
from core.errors import ConfigError
from core.registry import ACTIVATIONS

# dataset -> (label, examples in all, held out for validation, held out for test). The rest is the
# training pool; `train.examples` takes that many from it. Validation and test stay the same whatever
# the training set's size, so a gap that opens is the training set's doing.
DATASETS = {
    "digits": ("Handwritten digits (8x8, 10 classes)", 1797, 360, 360),
    "moons": ("Moons (2-D, 2 classes)", 1000, 200, 200),
}
MAX_DEPTH = 6
MAX_WIDTH = 1024
MAX_EPOCHS = 200
MAX_STEPS = 7000  # 200 epochs of every digit in batches of 32 (6,800): a step of these MLPs takes ~1-3 ms


def pool_size(name: str) -> int:
    """How many training examples a dataset offers (after validation and test are held out)."""
    _, total, val, test = DATASETS[name]
    return total - val - test


@dataclass(frozen=True)
class FitData:
    """Which data, and how it is drawn and split (train pool / validation / test)."""

    name: str = "digits"  # "digits" (scikit-learn's 1,797 8x8 images) or "moons" (2-D points)
    noise: float = 0.3  # moons only: how far the points scatter from their half circles
    seed: int = 0  # the split (and the moons' points): same seed, same three sets


@dataclass(frozen=True)
class FitModel:
    """An MLP: depth x (Linear -> activation -> Dropout), then a Linear output layer."""

    depth: int = 2  # hidden layers, 1..6
    width: int = 256  # units per hidden layer, 2..1024: capacity
    activation: str = "relu"  # key of core.registry.ACTIVATIONS
    dropout: float = 0.0  # share of each hidden layer's units zeroed on every training step (0 = off)


@dataclass(frozen=True)
class FitTrain:
    """How much data, how long, and when to stop."""

    examples: int = 100  # training examples taken from the training pool: a handful .. all
    epochs: int = 60  # passes over the training examples
    batch_size: int = 32  # examples per step; the last batch of an epoch may be smaller
    seed: int = 0  # initial weights, dropout masks, batch order and augmentation
    patience: int = 0  # early stopping: epochs without a better validation loss before it stops; 0 = off
    augment: bool = False  # digits only: every training image shifted up to a pixel and turned up to 10°

    clip_norm = 0.0  # not a setting here: the shared step path reads it (0 = never clipped)

    @property
    def per_epoch(self) -> int:
        """Steps in one epoch: the examples in batches, the last one possibly smaller."""
        return math.ceil(self.examples / max(1, min(self.batch_size, self.examples)))

    @property
    def steps(self) -> int:
        """Optimizer steps of the whole run (the live engine's length of a run)."""
        return self.epochs * self.per_epoch


@dataclass(frozen=True)
class FitConfig:
    """Everything one run of the Overfitting lab needs."""

    data: FitData = field(default_factory=FitData)
    model: FitModel = field(default_factory=FitModel)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=0.001))
    train: FitTrain = field(default_factory=FitTrain)


def validate(cfg: FitConfig) -> None:
    """Raise ConfigError with one readable sentence if the settings cannot run."""
    d, m, t = cfg.data, cfg.model, cfg.train
    if d.name not in DATASETS:
        raise ConfigError(f"Unknown dataset '{d.name}'. Valid names: {', '.join(DATASETS)}.")
    ACTIVATIONS.get(m.activation)
    check_optim(cfg.optim)
    pool = pool_size(d.name)
    for label, value, low, high in (
        ("noise", d.noise, 0.0, 1.0),
        ("depth", m.depth, 1, MAX_DEPTH),
        ("width", m.width, 2, MAX_WIDTH),
        ("dropout", m.dropout, 0.0, 0.9),
        ("number of training examples", t.examples, 10, pool),
        ("number of epochs", t.epochs, 1, MAX_EPOCHS),
        ("batch size", t.batch_size, 1, 1024),
        ("patience", t.patience, 0, MAX_EPOCHS),
    ):
        if not (low <= value <= high):
            raise ConfigError(f"The {label} must be between {low:g} and {high:g}, not {value:g}.")
    if t.steps > MAX_STEPS:
        raise ConfigError(
            f"{t.epochs} epochs of {t.examples} examples in batches of {t.batch_size} make "
            f"{t.steps:,} steps; "
            f"a run here takes at most {MAX_STEPS:,}. Use fewer epochs or a larger batch."
        )
    if t.augment and d.name != "digits":
        raise ConfigError("Augmentation shifts and turns images: choose the digits to use it.")
