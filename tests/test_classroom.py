"""A class on one server: many sessions' runs trained by the one scheduler (core.scheduler.Scheduler) at once.

Each session's numbers are its own, a failure stays in its session, a Play on a saturated server waits
in line and starts when a place frees up, and a session's runs are freed when it goes."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from core.config import with_changes
from core.live import SCHEDULER, TRAINING_FAILED, LiveWorker
from core.scheduler import Scheduler
from core.training import Run
from ui.live import status_line


def worker_of(cfg, data, speed="max", name="student") -> LiveWorker:
    worker = LiveWorker(name, stale_seconds=600.0)
    worker.set_speed(speed)
    assert worker.sync({"A": cfg}, lambda c: Run(c, data)) == {}
    return worker


def lone_losses(cfg, data) -> list[float]:
    run = Run(cfg, data)
    run.play()
    while run.advance(1000, max_seconds=float("inf")):
        pass
    return [r.loss for r in run.records]


def test_sessions_playing_at_once_each_get_their_own_numbers(tiny_cfg, xor_data):
    configs = [with_changes(tiny_cfg, train=dict(seed=seed, steps=60)) for seed in range(6)]
    workers = [worker_of(cfg, xor_data) for cfg in configs]
    starts = [threading.Thread(target=w.play) for w in workers]  # six students press Play together
    for thread in starts:
        thread.start()
    for thread in starts:
        thread.join()
    for worker in workers:
        assert worker.wait_idle(60)
    losses = [[r.loss for r in w.runs["A"].records] for w in workers]
    for cfg, got in zip(configs, losses, strict=True):
        assert got == lone_losses(cfg, xor_data)  # exactly the run this student would get alone
    assert len({tuple(x) for x in losses}) == len(configs)  # and not anyone else's


def test_a_run_that_fails_stops_its_own_session_only(tiny_cfg, xor_data):
    cfg = with_changes(tiny_cfg, train=dict(steps=200))
    workers = [worker_of(cfg, xor_data) for _ in range(3)]

    def broken():
        raise RuntimeError("a kernel failed")

    workers[1].runs["A"]._step = broken
    for worker in workers:
        worker.play()
    for worker in workers:
        assert worker.wait_idle(60)
    snaps = [w.snapshot() for w in workers]
    assert snaps[1].error == TRAINING_FAILED and not snaps[1].finished
    for snap in (snaps[0], snaps[2]):
        assert snap.error is None and snap.finished and snap.runs["A"].step == 200


def test_play_on_a_saturated_server_waits_in_line_and_starts_when_a_place_frees(
    tiny_cfg, xor_data, monkeypatch
):
    monkeypatch.setattr(Scheduler, "SATURATED", 1e-9)  # any measured demand fills the server
    slow = with_changes(tiny_cfg, train=dict(steps=3000, probe_every=10, eval_every=50))
    first = worker_of(slow, xor_data, speed="slow", name="first")
    second = worker_of(slow, xor_data, speed="slow", name="second")
    first.play()
    deadline = time.monotonic() + 30
    while first.demand() == 0.0:  # its first round measured
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second.play()
    snap = second.snapshot()
    assert second.queued and snap.playing and snap.waiting == 1
    assert "waiting for a place" in status_line(snap) and "1st in line" in status_line(snap)
    active, waiting, _ = SCHEDULER.load()
    assert active >= 1 and waiting >= 1
    time.sleep(0.3)
    assert second.runs["A"].step == 0  # it waits: no step taken
    first.pause()  # a place frees up: the head of the line goes in
    deadline = time.monotonic() + 30
    while second.queued or second.runs["A"].step == 0:
        assert time.monotonic() < deadline, "the waiting run never started"
        time.sleep(0.01)
    assert second.snapshot().waiting is None
    second.pause()
    assert first.wait_idle(10) and second.wait_idle(10)


def test_pause_while_waiting_leaves_the_line(tiny_cfg, xor_data, monkeypatch):
    monkeypatch.setattr(Scheduler, "SATURATED", 1e-9)
    slow = with_changes(tiny_cfg, train=dict(steps=3000, probe_every=10, eval_every=50))
    first = worker_of(slow, xor_data, speed="slow")
    second = worker_of(slow, xor_data, speed="slow")
    first.play()
    while first.demand() == 0.0:
        time.sleep(0.01)
    second.play()
    assert second.queued
    second.pause()
    assert not second.queued and SCHEDULER.place(second) is None and not second.snapshot().playing
    first.pause()
    assert first.wait_idle(10)


@pytest.mark.parametrize("speed", ["max", "slow"])
def test_a_session_that_goes_frees_its_runs(tiny_cfg, xor_data, speed):
    """Neither the scheduler nor its line keeps a worker whose page has gone (stale: it pauses itself)."""
    worker = LiveWorker("gone", stale_seconds=0.2)
    worker.set_speed(speed)
    worker.sync({"A": with_changes(tiny_cfg, train=dict(steps=3000))}, lambda c: Run(c, xor_data))
    run = weakref.ref(worker.runs["A"])
    worker.play()
    assert worker.wait_idle(10)
    del worker
    gc.collect()
    assert run() is None


@pytest.mark.parametrize(
    ("active", "waiting", "share", "every"),
    [
        (1, 0, 0.9, 0.5),  # alone, however much its own runs ask: its pictures take time from no one
        (2, 0, 0.4, 0.5),  # a quiet class
        (2, 0, 0.6, 1.0),  # several labs asking for over half the server: once a second
        (1, 1, 0.3, 1.0),  # someone waits for a place
    ],
)
def test_the_live_view_redraws_twice_a_second_unless_the_class_needs_the_time(
    active, waiting, share, every, monkeypatch
):
    from ui import live as ui_live

    monkeypatch.setattr(SCHEDULER, "load", lambda: (active, waiting, share))
    monkeypatch.setattr(SCHEDULER, "redraw_seconds", lambda extra=0.0: 0.5)
    assert ui_live.redraw_every() == every
    monkeypatch.setattr(
        SCHEDULER, "redraw_seconds", lambda extra=0.0: 2.5
    )  # the pages' redraws alone are too many
    assert ui_live.redraw_every() == 2.5


def test_live_pages_draw_in_turns_and_a_long_wait_draws_anyway(monkeypatch):
    """At most DRAWING_AT_ONCE pages draw at the same moment; the others wait their turn, and one that
    waited DRAW_WAIT_SECONDS draws anyway (a redraw stuck on a slow engine holds no one up for longer)."""
    from ui import live as ui_live

    drawing, most, lock = 0, 0, threading.Lock()
    waits: list[float] = []

    def page() -> None:
        nonlocal drawing, most
        with ui_live.turn_to_draw() as waited:
            with lock:
                drawing += 1
                most = max(most, drawing)
                waits.append(waited)
            time.sleep(0.05)
            with lock:
                drawing -= 1

    pages = [threading.Thread(target=page) for _ in range(8)]
    for p in pages:
        p.start()
    for p in pages:
        p.join()
    assert most == ui_live.DRAWING_AT_ONCE  # in turns, and every place used
    assert sorted(waits)[-1] >= 0.05 * (8 / ui_live.DRAWING_AT_ONCE - 1) * 0.9  # the last waited for the rest

    monkeypatch.setattr(ui_live, "DRAW_WAIT_SECONDS", 0.2)
    for _ in range(ui_live.DRAWING_AT_ONCE):  # every place held (by redraws stuck on a slow engine)
        assert ui_live._DRAWING.acquire(timeout=1)
    try:
        with ui_live.turn_to_draw() as waited:
            assert 0.15 <= waited < 1.0  # drew anyway
    finally:
        for _ in range(ui_live.DRAWING_AT_ONCE):
            ui_live._DRAWING.release()
    with ui_live.turn_to_draw() as waited:  # and every place is free again
        assert waited < 0.1
