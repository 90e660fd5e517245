"""Hyperparameter search, grid against random, over two settings: the learning rate (on a log scale) and
SGD's momentum or the weight decay.

Both methods get the same budget of trials. The grid takes sqrt(budget) values of each setting at fixed
intervals (the learning rate evenly spaced on the log scale) and tries every pair, so it tries only
sqrt(budget) distinct learning rates; random search draws every trial's two values independently
(`np.random.default_rng(seed).uniform` on the exponent of a log-scale setting), so it tries `budget`
distinct learning rates. When one setting matters far more than the other, as the learning rate does
here, random search therefore usually finds a better model for the same cost.

Each trial is a short seeded FitRun (`run_trial`, a top-level function on plain data, so that the
server's process pool can run it; core.overfitting.pool). A trial is scored on the validation set only:
its data never includes the test set, so picking the winner cannot leak the test set into the choice.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from core.config import MAX_LR, OptimConfig, with_changes
from core.errors import ConfigError
from core.overfitting import config as fit_config
from core.overfitting import pool
from core.overfitting.config import FitConfig, FitData, FitModel, FitTrain
from core.overfitting.data import Splits, load
from core.overfitting.run import FitRun

BUDGETS = (9, 16, 25)  # square numbers: the grid takes sqrt(budget) values of each setting
METHODS = ("grid", "random")
# The second setting: (label, log scale?, default range). Momentum lives in [0, 1) and is searched on a
# linear scale, as the course does; weight decay spans decades, so it is searched on a log scale.
SECOND = {
    "momentum": ("Momentum", False, (0.5, 0.99)),
    "weight_decay": ("Weight decay", True, (1e-5, 1e-1)),
}
CPU = torch.device("cpu")  # trials run one per core in the pool; these small MLPs gain nothing from a GPU

# Each trial: 300 digits, 10 epochs of batches of 32 (100 steps), an MLP 2 x 128, SGD with momentum:
# 0.12-0.19 s on one core of the 2-core VM (0.3-0.5 s while other sessions ran; BENCHMARKS.md,
# bench.search), so even 25 trials take seconds. Short enough that the learning rate decides the score:
# with 9 trials, random search beat the grid for each of seeds 0..9 (the lesson; bench.search --lesson).
BASE = FitConfig(
    data=FitData(name="digits"),
    model=FitModel(depth=2, width=128),
    optim=OptimConfig(name="sgd", lr=0.01, momentum=0.9, weight_decay=0.0),
    train=FitTrain(examples=300, epochs=10, batch_size=32),
)


@dataclass(frozen=True)
class SearchSpace:
    """The ranges searched: the learning rate on a log scale, and the second setting's."""

    lr_low: float = 1e-4
    lr_high: float = 1.0
    second: str = "momentum"  # key of SECOND: "momentum" or "weight_decay"
    second_low: float = SECOND["momentum"][2][0]
    second_high: float = SECOND["momentum"][2][1]

    @property
    def second_label(self) -> str:
        return SECOND[self.second][0]

    @property
    def second_log(self) -> bool:
        """Whether the second setting is searched (and drawn) on a log scale."""
        return SECOND[self.second][1]


def space_for(second: str, **ranges: float) -> SearchSpace:
    """The space over the learning rate and `second` with that setting's default range."""
    if second not in SECOND:
        raise ConfigError(f"Unknown setting '{second}' to search. Valid names: {', '.join(SECOND)}.")
    low, high = SECOND[second][2]
    return replace(SearchSpace(second=second, second_low=low, second_high=high), **ranges)


def validate_space(space: SearchSpace) -> None:
    """Raise ConfigError with one readable sentence if the ranges cannot be searched."""
    if space.second not in SECOND:
        raise ConfigError(f"Unknown setting '{space.second}' to search. Valid names: {', '.join(SECOND)}.")
    if not (0 < space.lr_low < space.lr_high <= MAX_LR):
        raise ConfigError(
            f"The learning rates to search must go from a lowest above 0 to a highest above it and at most "
            f"{MAX_LR:g}, not {space.lr_low:g} to {space.lr_high:g}."
        )
    label, low, high = space.second_label, space.second_low, space.second_high
    if space.second == "momentum" and not (0 <= low < high < 1):
        raise ConfigError(
            f"The momentum to search must go from a lowest of at least 0 to a highest above it and below 1, "
            f"not {low:g} to {high:g}."
        )
    if space.second == "weight_decay" and not (0 < low < high <= 1):
        raise ConfigError(
            f"The {label.lower()} to search is on a log scale: it must go from a lowest above 0 to a "
            f"highest above it and at most 1, not {low:g} to {high:g}."
        )


@dataclass(frozen=True)
class SearchConfig:
    """One search: the base run of every trial, the ranges, how many trials and how they are chosen."""

    base: FitConfig = BASE
    space: SearchSpace = field(default_factory=SearchSpace)
    budget: int = 9  # trials, one of BUDGETS
    method: str = "random"  # "grid" or "random"
    seed: int = 0  # random search's draws (the trials' own runs use base.train.seed)


def validate(cfg: SearchConfig) -> None:
    """Raise ConfigError with one readable sentence if the search cannot run."""
    validate_space(cfg.space)
    if cfg.method not in METHODS:
        raise ConfigError(f"Unknown search method '{cfg.method}'. Valid names: {', '.join(METHODS)}.")
    if cfg.budget not in BUDGETS:
        raise ConfigError(
            f"The number of trials must be one of {', '.join(map(str, BUDGETS))} (a square, so that the grid "
            f"has as many values of each setting), not {cfg.budget}."
        )
    fit_config.validate(cfg.base)


# ---- the trials ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One pair of settings to try."""

    lr: float
    second: float  # the value of `setting`
    setting: str = "momentum"  # key of SECOND


def _axis(low: float, high: float, n: int, log: bool) -> np.ndarray:
    """n values from low to high at fixed intervals (ends included), evenly spaced on a log scale if `log`."""
    if log:
        return np.logspace(math.log10(low), math.log10(high), n)
    return np.linspace(low, high, n)


def _draw(rng: np.random.Generator, low: float, high: float, n: int, log: bool) -> np.ndarray:
    """n uniform draws from [low, high), uniform on the exponent if `log` (as many per decade)."""
    if log:
        return 10.0 ** rng.uniform(math.log10(low), math.log10(high), n)
    return rng.uniform(low, high, n)


def grid_trials(space: SearchSpace, budget: int) -> list[Trial]:
    """sqrt(budget) values of each setting at fixed intervals, every pair (learning rate outer)."""
    validate_space(space)
    k = math.isqrt(budget)
    if k * k != budget or k < 1:
        raise ConfigError(f"A grid needs a square number of trials (9, 16, 25), not {budget}.")
    lrs = _axis(space.lr_low, space.lr_high, k, log=True)
    seconds = _axis(space.second_low, space.second_high, k, log=space.second_log)
    return [Trial(float(lr), float(s), space.second) for lr in lrs for s in seconds]


def random_trials(space: SearchSpace, budget: int, seed: int) -> list[Trial]:
    """`budget` independent draws: every learning rate first, then every second value, from one generator."""
    validate_space(space)
    if budget < 1:
        raise ConfigError(f"A search needs at least one trial, not {budget}.")
    rng = np.random.default_rng(seed)
    lrs = _draw(rng, space.lr_low, space.lr_high, budget, log=True)
    seconds = _draw(rng, space.second_low, space.second_high, budget, log=space.second_log)
    return [Trial(float(lr), float(s), space.second) for lr, s in zip(lrs, seconds, strict=True)]


def trials_of(cfg: SearchConfig) -> list[Trial]:
    """The trials of a search, in the order they run and are listed."""
    if cfg.method == "grid":
        return grid_trials(cfg.space, cfg.budget)
    return random_trials(cfg.space, cfg.budget, cfg.seed)


# ---- one trial: plain data in, plain data out (it runs in a worker process) ----------------------------


@dataclass(frozen=True)
class TrialResult:
    """What one trial scored, on the validation set, at its best epoch (lowest validation loss)."""

    lr: float
    second: float
    setting: str  # key of SECOND
    val_loss: float  # the lowest validation loss over the epochs (epoch 0, before training, included)
    val_accuracy: float  # the validation accuracy at that epoch
    epoch: int  # that epoch
    diverged: bool  # the loss became NaN or infinite: the run stopped there
    seconds: float  # wall time of the trial (the only field that differs between two runs of it)

    def same_as(self, other: TrialResult) -> bool:
        """Equal bit for bit in every field but `seconds` (floats compared by their bits: NaN equals NaN)."""
        for f in fields(self):
            if f.name == "seconds":
                continue
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, float) and isinstance(b, float):
                if np.float64(a).tobytes() != np.float64(b).tobytes():
                    return False
            elif a != b:
                return False
        return True


@functools.lru_cache(maxsize=4)
def validation_splits(data: FitData) -> Splits:
    """The training pool and validation set of `data`, loaded once per process; the test set is left
    out (emptied), so no trial can score on it, even by mistake."""
    splits = load(data)
    return replace(splits, x_test=splits.x_test[:0], y_test=splits.y_test[:0])


def trial_config(base: FitConfig, trial: Trial) -> FitConfig:
    """base with the trial's learning rate and second setting."""
    return with_changes(base, optim={"lr": trial.lr, trial.setting: trial.second})


def run_trial(base: FitConfig, trial: Trial) -> TrialResult:
    """Train base with the trial's settings to its end, on the CPU, and score it on the validation set.

    Deterministic: the same base and trial give the same numbers bit for bit in any process, provided
    torch uses one thread (the pool's workers do; so must a caller comparing with them)."""
    started = time.perf_counter()
    run = FitRun(trial_config(base, trial), validation_splits(base.data), device=CPU)
    while not run.done:
        run.advance(10**6, max_seconds=math.inf)
    best = run.best  # never None: epoch 0 has a finite loss (the weights are fresh)
    return TrialResult(
        lr=trial.lr,
        second=trial.second,
        setting=trial.setting,
        val_loss=best.val_loss if best else math.inf,
        val_accuracy=best.val_accuracy if best else 0.0,
        epoch=best.epoch if best else 0,
        diverged=run.diverged_at is not None,
        seconds=time.perf_counter() - started,
    )


# ---- a whole search ------------------------------------------------------------------------------------


def search_tasks(cfg: SearchConfig) -> list[pool.Task]:
    """One pool task per trial, in trial order."""
    validate(cfg)
    return [pool.Task(run_trial, (cfg.base, trial)) for trial in trials_of(cfg)]


def start_search(cfg: SearchConfig, on: pool.Pool | None = None) -> pool.Job:
    """Queue the search's trials on the server's shared pool (or `on`); the Job reports their progress."""
    tasks = search_tasks(cfg)
    return (on or pool.shared_pool()).submit(tasks, what="trial")


def best(results: Sequence[TrialResult | None]) -> TrialResult | None:
    """The finished trial with the lowest validation loss (the quantity each run's own best epoch is
    picked by, and finer than accuracy, which ties often on 360 examples); None if none finished."""
    done = [r for r in results if r is not None]
    return min(done, key=lambda r: (r.val_loss, -r.val_accuracy)) if done else None


def to_csv(searches: Mapping[str, Sequence[TrialResult | None]]) -> str:
    """Every finished trial of one or more searches (method -> results) as CSV: one row each, in trial
    order within its method, numbered from 1, each search's best marked."""
    import pandas as pd

    rows = []
    for method, results in searches.items():
        winner = best(results)
        for number, r in enumerate(results, start=1):
            if r is not None:
                rows.append(
                    {
                        "method": method,
                        "trial": number,
                        "learning_rate": r.lr,
                        r.setting: r.second,
                        "best_val_loss": r.val_loss,
                        "val_accuracy": r.val_accuracy,
                        "best_epoch": r.epoch,
                        "diverged": r.diverged,
                        "seconds": round(r.seconds, 3),
                        "best": r is winner,
                    }
                )
    if not rows:  # nothing finished yet: the header of the columns every search has
        return "method,trial,learning_rate,best_val_loss,val_accuracy,best_epoch,diverged,seconds,best\n"
    return pd.DataFrame(rows).to_csv(index=False)
