"""Shared test set-up: one torch thread, and small datasets and configs to reuse."""

from __future__ import annotations

import math
import os
import time

# before core.live is imported: page tests train flat out, and a worker whose test is waiting for it
# (asking for no snapshot meanwhile) is not taken for a closed page
os.environ.setdefault("GP_SPEED", "max")
os.environ.setdefault("GP_STALE_SECONDS", "600")
# page tests (AppTest) train in the test process, the app's default; the engine tests turn engines on
# (tests/test_engines.py, test_pages_engines.py, browser/test_engines_browser.py)
os.environ.setdefault("GP_LIVE_PROCESSES", "0")
# before core.figures is imported: every figure a test (or a server a browser test starts) makes is built
# both unvalidated, as the app builds it, and validated, and the two must give the same JSON
os.environ["GP_CHECK_FIGURES"] = "1"

import pytest
import torch
from torch import nn

from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.data.catalog import DATASETS
from core.data.glyphs import GlyphSet
from core.live import LiveWorker
from core.multitask.config import MultiTaskConfig
from core.multitask.sweep import SHARES, SWEEP_STEPS, Sweep, start_sweep, sweep_of

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def xor_data():
    """A small, dull 2-D dataset: fast and clear (Lightning's advice)."""
    return DATASETS.get("xor").load(DataConfig(name="xor", n_samples=128, noise=0.05))


@pytest.fixture
def tiny_cfg() -> RunConfig:
    """Two hidden layers of 8 units on xor, a few steps, probes every step."""
    return RunConfig(
        data=DataConfig(name="xor", n_samples=128, noise=0.05),
        model=ModelConfig(depth=2, width=8),
        optim=OptimConfig(name="sgd", lr=0.1, momentum=0.9),
        train=TrainConfig(steps=20, batch_size=16, probe_every=1, eval_every=5),
    )


# ---- helpers the app does not need: tests drive the core as the pages do --------------------------


def sweep_weights(
    cfg: MultiTaskConfig, glyphs: GlyphSet, steps: int = SWEEP_STEPS, shares=SHARES, device=None
) -> Sweep:
    """Train one run per share to its end, as the page does (on a live worker, all in step), and wait."""
    started = time.perf_counter()
    worker = LiveWorker("sweep", stale_seconds=math.inf)
    start_sweep(worker, cfg, glyphs, steps, shares, device)
    worker.wait_idle(math.inf)
    if error := worker.snapshot().error:
        raise RuntimeError(error)
    return sweep_of(cfg, list(worker.runs.values()), time.perf_counter() - started)


def hook_count(model: nn.Module) -> int:
    """Number of forward hooks still registered anywhere in the model (a probe must leave none behind)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.hookimpl(optionalhook=True)  # runs without pytest-xdist too (`-p no:xdist`)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under pytest-xdist (`make test` runs `pytest -n` with one worker more than the cores): the
    browser tests go first, as one unit, to one worker with one server and one Chromium, in order (a
    second unit on a second server was slower on 2 cores: 14:47 against 13:57, two Chromiums rendering).
    Every other module is a unit of its own, largest first: its module-scoped fixtures and caches (an
    export module's scripts, a lesson module's trained presets) are made once, not once on each worker
    that takes one of its tests. (pytest-xdist's own `--dist loadgroup` does not group here.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/browser" if nodeid.startswith("tests/browser/") else nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node) -> None:  # the queue is ordered by the units' number of tests
            if "tests/browser" in self.workqueue:
                self.workqueue.move_to_end("tests/browser", last=False)
            super()._assign_work_unit(node)

    return ModulesTogether(config, log)
