"""The Optimizers lab's race presets: the shared setup and each racer's optimizer."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.presets import PresetBase, by_name


@dataclass(frozen=True)
class RacePreset(PresetBase):
    """One race lesson: the shared setup and the racers' optimizers."""

    base: RunConfig
    racers: tuple[OptimConfig, ...]


RACE_BASE = RunConfig(
    data=DataConfig(name="moons", n_samples=600, noise=0.2),
    model=ModelConfig(depth=2, width=16, activation="relu"),
    train=TrainConfig(steps=300, batch_size=32),
)
RACE_PRESETS: dict[str, RacePreset] = by_name(
    RacePreset(
        "SGD vs Adam",
        "SGD vs Adam",
        "The same network from the same weights on the same batches: Adam's per-weight step "
        "sizes reach a low loss in far fewer steps than plain SGD.",
        RACE_BASE,
        (OptimConfig(name="sgd", lr=0.01, momentum=0.0), OptimConfig(name="adam", lr=0.01)),
    ),
    RacePreset(
        "Learning rate in a race: too small, right, too large",
        "LR race",
        "SGD with three learning rates: 0.001 crawls, 1 converges, 5 bounces out of every valley "
        "and ends no better than a coin flip.",
        RACE_BASE,
        tuple(OptimConfig(name="sgd", lr=lr, momentum=0.0) for lr in (0.001, 1.0, 5.0)),
    ),
    RacePreset(
        "A schedule rescues a large learning rate",
        "Schedule",
        "SGD with momentum 0.9 and a large learning rate (0.5) keeps bouncing to the end; the "
        "same with a cosine schedule takes big steps early, small ones late, and settles lower.",
        RACE_BASE,
        (
            OptimConfig(name="sgd", lr=0.5, momentum=0.9),
            OptimConfig(name="sgd", lr=0.5, momentum=0.9, schedule="cosine"),
        ),
    ),
)
