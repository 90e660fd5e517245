"""The data sets every session shares (ui.runs.SHARED_DATA and SHARED_IMAGES) are handed out without a
copy, bounded by their bytes: so no run may write to them. Each lab's run trains, evaluates and is
reset on a shared set here, and every tensor and array of the set is the same afterwards."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from core.budget import data_bytes
from core.config import RunConfig, with_changes
from core.data.catalog import DATASETS, IMAGE_DATASETS
from core.data.glyphs import generate
from core.data.series import electricity
from core.images.run import ImageRun, ImageRunConfig
from core.multitask.config import MultiTaskConfig
from core.multitask.run import MultiTaskRun
from core.overfitting.config import FitConfig
from core.overfitting.data import load
from core.overfitting.run import FitRun
from core.sequences.presets import SEQ_BASE
from core.sequences.run import SeqRun
from core.training import Run
from ui.runs import SHARED_DATA_BYTES, SharedData

CPU = torch.device("cpu")


def arrays(data) -> dict[str, object]:
    """field path -> a copy of every tensor and array the data set holds."""
    out = {}
    for f in dataclasses.fields(data):
        value = getattr(data, f.name)
        if isinstance(value, torch.Tensor):
            out[f.name] = value.clone()
        elif isinstance(value, np.ndarray):
            out[f.name] = value.copy()
        elif dataclasses.is_dataclass(value):
            out |= {f"{f.name}.{k}": v for k, v in arrays(value).items()}
    return out


def same(a, b) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else np.array_equal(a, b)


LABS = {
    "gradients": (lambda: DATASETS.get("spiral").load(RunConfig().data), lambda d: Run(RunConfig(), d, CPU)),
    "images": (
        lambda: IMAGE_DATASETS.get("shapes").load(
            ImageRunConfig().data.__class__(name="shapes", per_class=20)
        ),
        lambda d: ImageRun(
            with_changes(ImageRunConfig(), augment={"hflip": 0.5, "rotation": 30.0, "erasing": 0.5}), d, CPU
        ),
    ),
    "two-inputs": (
        lambda: generate(MultiTaskConfig().data),
        lambda d: MultiTaskRun(MultiTaskConfig(), d, CPU),
    ),
    "sequences": (lambda: electricity(SEQ_BASE.data), lambda d: SeqRun(SEQ_BASE, d, CPU)),
    "overfitting": (lambda: load(FitConfig().data), lambda d: FitRun(FitConfig(), d, CPU)),
}


@pytest.mark.parametrize("lab", list(LABS))
def test_training_evaluating_and_resetting_leave_the_shared_set_as_it_was(lab):
    make_data, make_run = LABS[lab]
    data = make_data()
    before = arrays(data)
    assert before and data_bytes(data) > 0  # counted against the shared cache's bytes
    run = make_run(data)
    run.advance(min(40, run.cfg.train.steps), max_seconds=math.inf)
    assert run.step > 0
    run.reset()
    run.advance(3, max_seconds=math.inf)
    after = arrays(data)
    assert after.keys() == before.keys()
    changed = [name for name in before if not same(before[name], after[name])]
    assert not changed, f"the {lab} run wrote to the shared data: {changed}"


def test_a_series_counts_its_arrays_so_the_cache_bounds_it_by_bytes():
    """A Series holds numpy arrays, not tensors: they count, or the cache would keep series unbounded."""
    made = [electricity(dataclasses.replace(SEQ_BASE.data, days=14, seed=s)) for s in range(2)]
    size = data_bytes(made[0])
    assert size == made[0].values.nbytes + made[0].times.nbytes > 0
    cache, loads = SharedData(max_bytes=int(1.5 * size)), []
    for key in (0, 1, 0):  # the second evicts the first: room for one
        cache.get(("series", key), lambda key=key: loads.append(key) or made[key])
    assert loads == [0, 1, 0] and 0 < SHARED_DATA_BYTES <= 256 * 2**20
