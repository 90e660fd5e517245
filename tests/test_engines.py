"""Live engines (core.engines, core.enginehost, core.remote): a session's runs trained in a child
process give the numbers they give in the server, sessions stay apart, an engine's death takes only
its own sessions (in one sentence), and sessions that close give their memory back."""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
import signal
import time

import pytest
import torch

from core.config import with_changes
from core.data.catalog import DATASETS
from core.enginehost import table_run
from core.engines import EngineLost, EnginePool
from core.live import LiveWorker
from core.remote import RemoteWorker
from core.training import Run, Status

BUILD = functools.partial(table_run, None)  # the built-in table, loaded in the engine


@pytest.fixture(scope="module")
def pool():
    engines = EnginePool(2)
    engines.start()
    yield engines
    engines.stop()


def cfg_of(tiny_cfg, steps=120, train=None, **changes):
    train = dict(steps=steps, probe_every=1, eval_every=10) | (train or {})
    return with_changes(tiny_cfg, train=train, **changes)


def in_process(configs):
    """The same runs trained in this process, as the server trains them without engines."""
    worker = LiveWorker("reference", stale_seconds=600)
    worker.set_speed("max")
    assert worker.sync(configs, lambda cfg: Run(cfg, DATASETS.get(cfg.data.name).load(cfg.data))) == {}
    worker.play()
    assert worker.wait_idle(60)
    return worker.snapshot().runs


def remote(pool, configs, **kwargs):
    worker = RemoteWorker(pool, "grad", **kwargs)
    worker.set_speed("max")
    assert worker.sync(configs, BUILD) == {}
    return worker


def same_numbers(a, b) -> None:
    assert [r.loss for r in a.records] == [r.loss for r in b.records]
    assert [r.grad_norms for r in a.records] == [r.grad_norms for r in b.records]
    assert [dataclasses.astuple(e) for e in a.evals] == [dataclasses.astuple(e) for e in b.evals]


def test_runs_in_an_engine_match_the_server_bit_for_bit(pool, tiny_cfg):
    configs = {"A": cfg_of(tiny_cfg), "B": cfg_of(tiny_cfg, model=dict(activation="tanh", depth=4))}
    reference = in_process(configs)
    worker = remote(pool, configs)
    worker.play()
    seen = []
    while worker.snapshot().playing:  # snapshots during the run: each sends only what is new
        seen.append(worker.snapshot().runs["A"].step)
        time.sleep(0.01)
    assert worker.wait_idle(60)
    snap = worker.snapshot()
    assert snap.finished and not snap.playing
    for label in configs:
        run = snap.runs[label]
        assert run.status is Status.FINISHED and run.step == 120
        assert [r.step for r in run.records] == list(range(1, 121))
        same_numbers(run, reference[label])
        assert run.layer_names == reference[label].layer_names
        assert run.init_fingerprint == reference[label].init_fingerprint
        assert torch.equal(run.data.x_test, reference[label].data.x_test)
    grid = snap.runs["A"].predict_grid(resolution=8)
    expected = reference["A"].predict_grid(resolution=8)
    for got, want in zip(grid, expected, strict=True):
        assert torch.equal(torch.as_tensor(got), torch.as_tensor(want))
    assert len(seen) >= 1
    worker.reset()  # back to step 0, same weights and batches: the same numbers again
    snap = worker.snapshot()
    assert all(run.step == 0 for run in snap.runs.values())
    worker.play()
    assert worker.wait_idle(60)
    same_numbers(worker.snapshot().runs["A"], reference["A"])


def test_a_new_learning_rate_and_new_settings_mid_run(pool, tiny_cfg):
    cfg = cfg_of(tiny_cfg, steps=60)
    worker = remote(pool, {"A": cfg})
    worker.step()
    worker.step()
    worker.set_lr("A", 0.05)
    snap = worker.snapshot()
    assert snap.lr_changes["A"][0].text == "lr 0.1 → 0.05" and snap.runs["A"].chosen_lr == 0.05
    deeper = with_changes(cfg, model=dict(depth=3), optim=dict(lr=0.05))
    assert worker.sync({"A": deeper}, BUILD) == {}
    snap = worker.snapshot()
    assert snap.runs["A"].step == 0 and snap.befores["A"].change == "depth 2 → 3"
    assert snap.befores["A"].step == 2 and len(snap.befores["A"].records) == 2
    assert worker.sync({"A": deeper}, BUILD) == {}  # nothing new: not sent again
    errors = worker.sync({"A": with_changes(cfg, model=dict(depth=64))}, BUILD)  # one sentence, no run
    assert errors == {"A": "The depth must be between 1 and 50, not 64."}
    assert "A" not in worker.snapshot().runs


def test_sessions_on_shared_engines_keep_their_own_numbers(pool, tiny_cfg):
    configs = [{"A": cfg_of(tiny_cfg, steps=80, train=dict(seed=seed))} for seed in (1, 2, 3, 4)]
    workers = [remote(pool, c) for c in configs]
    assert {w._engine for w in workers} == set(pool.engines())  # placed on both engines
    for worker in workers:
        worker.play()
    for worker, c in zip(workers, configs, strict=True):
        assert worker.wait_idle(60)
        same_numbers(worker.snapshot().runs["A"], in_process(c)["A"])
    losses = {w.snapshot().runs["A"].records[-1].loss for w in workers}
    assert len(losses) == 4  # four seeds, four runs


def test_an_engine_that_dies_takes_only_its_own_sessions(pool, tiny_cfg):
    gc.collect()  # the sessions of the tests above are gone: each engine hosts none
    slow = cfg_of(tiny_cfg, steps=3000)
    mine, other = remote(pool, {"A": slow}), remote(pool, {"A": cfg_of(tiny_cfg, steps=300)})
    assert mine._engine is not other._engine
    dead = mine._engine
    mine.play()
    other.play()
    time.sleep(0.3)
    os.kill(dead.process.pid, signal.SIGKILL)
    dead.process.join(10)
    snap = mine.snapshot()  # on a new engine, built again from its settings, paused at step 0
    assert "stopped (killed by signal 9)" in snap.note and "press Play" in snap.note
    assert snap.runs["A"].step == 0 and not snap.playing
    assert mine._engine is not dead and mine._engine.alive
    assert other.wait_idle(60) and other.snapshot().runs["A"].step == 300  # the other session never noticed
    assert other.snapshot().note is None
    mine.play()
    assert mine.snapshot().note is None
    mine.pause()


def test_an_engine_that_hangs_is_replaced(pool, tiny_cfg):
    gc.collect()
    worker = remote(pool, {"A": cfg_of(tiny_cfg, steps=50)})
    hung = worker._engine
    os.kill(hung.process.pid, signal.SIGSTOP)  # alive, and answering nothing
    with pytest.raises(EngineLost):
        hung.call("snapshot", worker._wid, True, {}, frozenset(), timeout=2.0)  # as a page would, after 2 min
    snap = worker.snapshot()
    assert "stopped (it did not answer for 2 s)" in snap.note and snap.runs["A"].step == 0
    assert worker._engine is not hung and not hung.process.is_alive()
    worker.play()
    assert worker.wait_idle(60) and worker.snapshot().runs["A"].step == 50


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def test_sessions_that_close_give_their_memory_back(tiny_cfg):
    engines = EnginePool(1)
    engines.start()
    try:
        engine = engines.engines()[0]
        assert engine.call("load", -1)[3] == 0  # warm and idle
        gc.collect()
        baseline = rss(engine.process.pid)
        spiral = dict(name="spiral", n_samples=2000)
        big = cfg_of(tiny_cfg, steps=40, model=dict(depth=6, width=512), data=spiral)
        workers = [remote(engines, {"A": big, "B": with_changes(big, train=dict(seed=7))}) for _ in range(10)]
        for worker in workers:
            worker.play()
        for worker in workers:
            assert worker.wait_idle(120)
        assert engine.call("load", -1)[3] == 10
        peak = rss(engine.process.pid)
        del workers, worker
        gc.collect()  # the sessions end: their workers go, and the engine drops their runs
        deadline = time.monotonic() + 10
        while engine.call("load", -1)[3] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.call("load", -1)[3] == 0
        time.sleep(1.0)  # the last close hands its memory back after it leaves the count
        after = rss(engine.process.pid)
        assert peak - baseline > 50 * 2**20, (baseline, peak)  # the runs did take memory
        assert after - baseline < 0.3 * (peak - baseline), (baseline, peak, after)
    finally:
        engines.stop()


@pytest.mark.parametrize(
    ("setting", "cores", "quota", "engines"),
    [
        (None, 2, None, 2),  # the default: one engine per core
        (None, 8, None, 4),  # at most MAX_AUTO
        (None, 64, "200000 100000", 2),  # a container limited to 2 CPUs on a big host
        (None, 4, "max 100000", 4),  # no limit
        (None, 1, None, 0),  # one core: the server alone
        ("0", 8, None, 0),  # off
        ("3", 1, None, 3),  # asked for
        ("many", 2, None, 0),  # not a number: off, not a crash
    ],
)
def test_the_server_runs_one_engine_per_usable_core_by_default(
    setting, cores, quota, engines, monkeypatch, tmp_path
):
    from core import engines as engines_module
    from core import processes

    if setting is None:
        monkeypatch.delenv("GP_LIVE_PROCESSES", raising=False)
    else:
        monkeypatch.setenv("GP_LIVE_PROCESSES", setting)
    monkeypatch.setattr(os, "process_cpu_count", lambda: cores, raising=False)
    quota_file = tmp_path / "cpu.max"
    if quota is not None:
        quota_file.write_text(quota + "\n")
    monkeypatch.setattr(processes, "CPU_QUOTA", quota_file)
    assert engines_module.processes() == engines


def test_an_engine_preloads_the_module_of_every_lab_it_trains():
    """A lab's first Play on a fresh engine must not wait for imports (torchmetrics: 1.3 s)."""
    import importlib

    from core.enginehost import PRELOAD
    from core.multitask.run import glyph_run
    from core.sequences.run import series_run

    built = {series_run.__module__, glyph_run.__module__}  # the builds the labs send to engines
    assert built <= set(PRELOAD)
    for name in PRELOAD:
        importlib.import_module(name)  # a renamed module would stop every engine at its start


def test_a_page_reading_a_run_a_click_removed_gets_run_gone(pool, tiny_cfg):
    """A redraw whose snapshot still shows a run that a click has since removed (a cell switched off
    mid-run): the engine's answer is RunGone, which the live view skips, not a KeyError in the log."""
    from core.snapshots import RunGone

    configs = {"A": cfg_of(tiny_cfg), "B": cfg_of(tiny_cfg, model=dict(depth=4))}
    worker = remote(pool, configs)
    snap = worker.snapshot()
    assert worker.sync({"A": configs["A"]}, BUILD) == {}  # the click, between the snapshot and the read
    with pytest.raises(RunGone):
        snap.runs["B"].predict_grid(resolution=8)
    assert snap.runs["A"].predict_grid(resolution=8) is not None
