"""Shared test set-up: one torch thread, and small datasets and configs to reuse."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

# before core.live is imported: page tests train flat out, and a worker whose test is waiting for it
# (asking for no snapshot meanwhile) is not taken for a closed page
os.environ.setdefault("GP_SPEED", "max")
os.environ.setdefault("GP_STALE_SECONDS", "600")

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


# browser test modules that check what a page shows, not how fast a live run moves: under xdist they run
# beside the timed ones, on a second server (see pytest_xdist_make_scheduler)
BROWSER_LAYOUT = {
    "test_present_browser.py",
    "test_lessons_browser.py",
    "test_export_browser.py",
    "test_predict_browser.py",
    "test_serve_browser.py",
}


@pytest.hookimpl(optionalhook=True)  # runs without pytest-xdist too (`-p no:xdist`)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under pytest-xdist (`make test` runs `pytest -n` with one worker more than the cores): the
    browser tests go first, as two units, each to one worker with its own server and Chromium, in order:
    the tests that time a live run (Pause, redraws, a closed tab) in one, the layout and lesson tests in
    the other (more browser units would compete for the cores the timings were set on). Every other
    module is a unit of its own, largest first: its module-scoped fixtures and caches (an export
    module's scripts, a lesson module's trained presets) are made once, not once on each worker that
    takes one of its tests. (pytest-xdist's own `--dist loadgroup` does not group under this pytest.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module.startswith("tests/browser/"):
                return "tests/browser:layout" if Path(module).name in BROWSER_LAYOUT else "tests/browser:live"
            return module

        def _assign_work_unit(self, node) -> None:  # the queue is ordered by the units' number of tests
            for unit in ("tests/browser:layout", "tests/browser:live"):
                if unit in self.workqueue:
                    self.workqueue.move_to_end(unit, last=False)
            super()._assign_work_unit(node)

    return ModulesTogether(config, log)
