"""The trade-off sweep: the same two-headed model trained briefly under several loss weightings."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.data.glyphs import GlyphSet
from core.errors import ConfigError
from core.live import LiveWorker
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


def start_sweep(
    worker: LiveWorker,
    cfg: MultiTaskConfig,
    glyphs: GlyphSet,
    steps: int = SWEEP_STEPS,
    shares=SHARES,
    device: torch.device | None = None,
) -> None:
    """Give worker one run per share, playing flat out and in step; ConfigError for a one-task model."""
    configs = {f"{share:g}": c for share, c in zip(shares, sweep_configs(cfg, steps, shares), strict=True)}
    worker.clear()
    worker.set_speed("max")
    if errors := worker.sync(configs, lambda c: MultiTaskRun(c, glyphs, device)):
        raise ConfigError(next(iter(errors.values())))
    worker.play()


def sweep_of(cfg: MultiTaskConfig, runs: Sequence[MultiTaskRun], seconds: float) -> Sweep:
    """The sweep that trained runs (one per weighting of cfg, each to its end) make."""
    points = tuple(SweepPoint(run.weights, run.evals[-1].score, run.diverged_at is not None) for run in runs)
    tasks = SETUPS.get(cfg.model.setup).tasks
    return Sweep(
        cfg.model.setup, tasks, cfg.loss.normalise, runs[0].cfg.train.steps, points, runs[0].chance(), seconds
    )
