"""Cells side by side: one config per (cell, split), and the results table beside the baselines."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from core.sequences.config import SeqConfig
from core.sequences.models import CELLS
from core.sequences.run import SeqRun
from core.training import Status


def lab_configs(base: SeqConfig, cells: Sequence[str], splits: Sequence[str]) -> dict[str, SeqConfig]:
    """Label -> config for every chosen cell on every chosen split, cells in registry order.

    Runs that share a split see the same windows and batches; the label names the split only
    when two splits are compared ("GRU · shuffled split").
    """
    configs = {}
    for split in splits:
        for name in (n for n in CELLS.names() if n in cells):
            label = CELLS.get(name).label + (f" · {split} split" if len(splits) > 1 else "")
            model = dataclasses.replace(base.model, cell=name)
            configs[label] = dataclasses.replace(
                base, model=model, window=dataclasses.replace(base.window, split=split)
            )
    return configs


def results_rows(runs: Mapping[str, SeqRun]) -> list[dict[str, object]]:
    """One row per run, then one per naive baseline of the honest (time) split, best test MSE first."""
    rows = []
    for label, run in runs.items():
        last = run.evals[-1]
        per_step = run.seconds_per_step()
        rows.append(
            {
                "model": label,
                "parameters": run.n_parameters,
                "ms per step": None if per_step is None else round(1000 * per_step, 1),
                "train MSE": last.train_mse,
                "test MSE": last.test_mse,
                "test RMSE": math.sqrt(last.test_mse) * run.windows.std,  # in the series' unit
                "status": _status(run),
            }
        )
    honest = honest_run(runs)
    for name, mse in (honest.baselines if honest else {}).items():
        rows.append(
            {"model": f"{name} (naive)", "parameters": 0, "ms per step": None, "train MSE": None,
             "test MSE": mse, "test RMSE": math.sqrt(mse) * honest.windows.std, "status": "no training"}
        )  # fmt: skip
    return rows


def honest_run(runs: Mapping[str, SeqRun]) -> SeqRun | None:
    """The first run on the split by time (the first run when none is), whose baselines are shown."""
    return next(
        (run for run in runs.values() if run.cfg.window.split == "time"), next(iter(runs.values()), None)
    )


def _status(run: SeqRun) -> str:
    if run.status is Status.DIVERGED:
        return f"diverged at step {run.diverged_at}"
    if run.status is Status.FINISHED:
        return "finished"
    return f"step {run.step} of {run.cfg.train.steps}"


def verdict(run: SeqRun) -> str:
    """One sentence: does this run beat the best naive forecast on its own test windows?"""
    name, base = run.best_baseline
    mse = run.evals[-1].test_mse
    if not mse < base:
        return f"test MSE {mse:.4f}: not below '{name.lower()}' ({base:.4f})"
    return f"test MSE {mse:.4f}: {(base - mse) / base:.0%} below '{name.lower()}' ({base:.4f})"
