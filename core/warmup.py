"""Pay torch's first-use costs (lazy imports, first optimizer) once, at start-up."""

from __future__ import annotations

import dataclasses

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.data import Dataset
from core.registry import DATASETS, OPTIMIZERS
from core.training import Run


def warm_up(dataset: Dataset | None = None) -> float:
    """Train a tiny model a few steps with every optimizer; returns the final loss."""
    base = RunConfig(
        data=DataConfig(name="xor", n_samples=64),
        model=ModelConfig(depth=2, width=4, batchnorm=True),
        train=TrainConfig(steps=3, batch_size=8, probe_every=1, eval_every=3),
    )
    data = dataset or DATASETS.get("xor").load(base.data)
    loss = 0.0
    for name, spec in OPTIMIZERS.items():
        cfg = dataclasses.replace(base, optim=dataclasses.replace(base.optim, name=name, lr=spec.default_lr))
        run = Run(cfg, data)
        loss = run.advance(3)[-1].loss
    return loss
