"""The trade-off sweep: the same two-headed model trained briefly under several loss weightings."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.data.glyphs import GlyphSet
from core.errors import ConfigError
from core.multitask.config import MultiTaskConfig
from core.multitask.models import SETUPS
from core.multitask.run import MultiTaskRun

SHARES = (0.05, 0.2, 0.5, 0.8, 0.95)  # the first task's weight in sum-to-one form; the second gets the rest
SWEEP_STEPS = 80  # per weighting: 5 x 80 steps of the default CNN take about 5 s of one CPU core


@dataclass(frozen=True)
class SweepPoint:
    """One weighting's final test scores."""

    weights: dict[str, float]  # task -> raw weight (they sum to 1)
    score: dict[str, float]  # task -> accuracy in [0, 1] or MSE in degrees²
    diverged: bool


@dataclass(frozen=True)
class Sweep:
    """Every weighting of one setup, trained from the same weights on the same batches."""

    setup: str  # key of SETUPS
    tasks: tuple[str, str]  # the first task's share is the x axis
    normalise: str
    steps: int
    points: tuple[SweepPoint, ...]
    chance: dict[str, float]
    seconds: float  # wall time of the whole sweep

    def shares(self) -> list[float]:
        return [p.weights[self.tasks[0]] for p in self.points]


def sweep_configs(cfg: MultiTaskConfig, steps: int, shares=SHARES) -> list[MultiTaskConfig]:
    """cfg with each share of the loss weights and `steps` steps; ConfigError for a one-task model."""
    tasks = SETUPS.get(cfg.model.setup).tasks
    if len(tasks) != 2:
        raise ConfigError(
            f"'{SETUPS.get(cfg.model.setup).label}' has one output, so there is no weight to trade: "
            "choose a model with two outputs."
        )
    train = dataclasses.replace(cfg.train, steps=steps, eval_every=steps)  # scored once, at the end
    return [
        dataclasses.replace(
            cfg, loss=dataclasses.replace(cfg.loss, **{tasks[0]: s, tasks[1]: 1 - s}), train=train
        )
        for s in shares
    ]


def sweep_weights(
    cfg: MultiTaskConfig,
    glyphs: GlyphSet,
    steps: int = SWEEP_STEPS,
    shares=SHARES,
    progress: Callable[[int, int], None] | None = None,
    device: torch.device | None = None,
) -> Sweep:
    """Train one run per share to the end; progress(done, total) after each."""
    started = time.perf_counter()
    configs = sweep_configs(cfg, steps, shares)
    points, chance = [], {}
    for i, c in enumerate(configs):
        run = MultiTaskRun(c, glyphs, device)
        run.advance(steps, max_seconds=math.inf)
        chance = run.chance()
        points.append(SweepPoint(run.weights, run.evals[-1].score, run.diverged_at is not None))
        if progress:
            progress(i + 1, len(configs))
    seconds = time.perf_counter() - started
    tasks = SETUPS.get(cfg.model.setup).tasks
    return Sweep(cfg.model.setup, tasks, cfg.loss.normalise, steps, tuple(points), chance, seconds)
