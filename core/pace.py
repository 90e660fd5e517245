"""The worker's side that the scheduler drives (core.scheduler): how a session's runs are paced and
trained a piece at a time, and the lock that lets a page's command in between two pieces.

`Paced` is the half of core.live.LiveWorker that the scheduler's threads call (`admit`, `work`,
`demand`, `drew`, `yield_to_pages`); the other half, the page's commands and snapshots, is in
core/live.py. A piece is a round of steps (one step of every run that plays, so A and B stay in
step) or one piece of the evaluations that round made due. A paced worker asks for its next piece at
its speed's rate (`work` returns when); flat out ("max") it asks again at once, and the scheduler
shares the threads between the workers that want them.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from core.scheduler import Scheduler
from core.training import Status, Trainer

log = logging.getLogger(__name__)

# speed -> seconds a whole run takes at that pace (None: as fast as the machine trains). Each lab's
# presets are 100-800 steps long, so "normal" tells a preset's story in about 20 s whatever its
# length, at 5-40 steps a second, and the page redraws ~2.5 times a second meanwhile.
SPEEDS: dict[str, float | None] = {"slow": 60.0, "normal": 20.0, "fast": 6.0, "max": None}
SPEED_LABELS = {"slow": "Slow", "normal": "Normal", "fast": "Fast", "max": "Flat out"}
DEFAULT_SPEED = os.environ.get("GP_SPEED", "normal")  # tests and benchmarks use "max"
STALE_SECONDS = float(os.environ.get("GP_STALE_SECONDS", "20"))  # a playing page asks twice a second
# A session whose websocket dropped (a classroom's Wi-Fi, a server too busy to answer for a while) is
# not active until its browser reconnects, most often within a second or two: its runs play on for
# this long before they pause as a closed tab's do.
RECONNECT_SECONDS = float(os.environ.get("GP_RECONNECT_SECONDS", "10"))
TRAINING_FAILED = (
    "Something went wrong while training, so the runs are paused. Try smaller settings or Reset."
)
AWAY = "Paused while nobody was watching this page; press Play to go on."


class Paced:
    """Pacing and pieces of work for the scheduler (see the module's docstring). The state it reads is
    made by LiveWorker.__init__."""

    name: str
    lock: threading.RLock
    connected: Callable[[], bool] | None
    stale_seconds: float
    reconnect_seconds: float
    _away_since: float | None
    round_seconds: float | None
    draw_seconds: float | None
    rounds: int
    _runs: dict[str, Trainer]
    _speed: str
    _note: str | None
    _error: str | None
    _pending_steps: int
    _stepped: bool
    _active: bool
    _idle: threading.Event
    _queued: bool
    _next_at: float
    _round_cost: float
    _draw_load: float | None
    _waiting: int
    _turn: threading.Condition
    _seen: float
    _recent: collections.deque[float]

    @contextlib.contextmanager
    def hold(self):
        """The worker's lock, taken by a page thread: the worker sees it waiting and, between two
        rounds, waits until it has the lock (Python's locks are not fair: a worker flat out would
        take it straight back, and a short sleep did not always let the page in on a loaded machine)."""
        with self._turn:
            self._waiting += 1
        self.lock.acquire()
        with self._turn:
            self._waiting -= 1
            self._turn.notify_all()
        try:
            yield self
        finally:
            self.lock.release()

    def _playing(self) -> bool:
        return any(run.status is Status.PLAYING for run in self._runs.values())

    def _rate(self) -> float | None:
        seconds = SPEEDS[self._speed]
        if seconds is None or not self._runs:
            return None
        return max(run.cfg.train.steps for run in self._runs.values()) / seconds

    def watched(self) -> bool:
        """False once the page's session has been disconnected for reconnect_seconds (a closed tab; a
        dropped connection that comes back sooner loses nothing), or it has asked for no snapshot in
        stale_seconds."""
        now = time.monotonic()
        if now - self._seen > self.stale_seconds:
            return False
        if self.connected is None or self.connected():
            self._away_since = None
            return True
        if self._away_since is None:
            self._away_since = now
        return now - self._away_since < self.reconnect_seconds

    def _achieved(self) -> float | None:
        now = time.monotonic()
        recent = [t for t in self._recent if now - t < 2.0]
        if len(recent) < 3 or not self._playing():
            return None
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def _schedule(self) -> None:
        """Hand the worker to the scheduler if it has work and is not in its hands yet (under the lock)."""
        if not self._active and (self._playing() or self._pending_steps):
            self._active = True
            self._idle.clear()
            self._next_at = time.monotonic()
            SCHEDULER.add(self, self._next_at)

    def _wake(self) -> None:
        """A command changed what is due: the scheduler looks at this worker again now (under the lock)."""
        if self._active:
            SCHEDULER.add(self, time.monotonic())

    def _leave_queue(self) -> None:
        if self._queued:
            self._queued = False
            SCHEDULER.dequeue(self)

    def admit(self) -> bool:
        """The scheduler's call: a place is free; False if this worker no longer wants one."""
        with self.hold():
            if not self._queued:
                return False
            self._queued = False
            if not self._playing():
                return False
            self._next_at = 0.0
            self._schedule()
            return True

    def yield_to_pages(self) -> None:
        """Between two pieces: let the page threads waiting for the lock have it first (Python's locks are
        not fair: a scheduler flat out would take it straight back)."""
        if self._waiting:
            with self._turn:
                self._turn.wait_for(lambda: not self._waiting, timeout=0.05)

    def demand_unknown(self) -> bool:
        """Paced, and not one round measured yet."""
        return self._rate() is not None and self.round_seconds is None

    def drew(self, seconds: float, every: float, cpu: float | None = None) -> None:
        """The page's call after a redraw that took `seconds` (wall time: on a busy server its waits for
        the interpreter's lock count, which keeps the estimate on the safe side; CPU time alone let 30
        pages redraw so often that none of them finished a run in 150 s), one every `every` s. `cpu`,
        the redraw's CPU time, is for a worker whose training runs in another process (core.remote)."""
        load = seconds / every
        self._draw_load = load if self._draw_load is None else 0.8 * self._draw_load + 0.2 * load
        old = self.draw_seconds
        self.draw_seconds = seconds if old is None else 0.8 * old + 0.2 * seconds

    def demand(self) -> float:
        """Seconds of the server's time a second of play takes at this speed: rounds of steps and the
        page's redraws (0 for the steps when flat out, which take what is left; unknown before the
        first round)."""
        rate = self._rate()
        steps = 0.0 if rate is None or self.round_seconds is None else rate * self.round_seconds
        return steps + (self._draw_load or 0.0)

    def _piece(self) -> tuple[bool, bool, bool]:
        """One piece of work, under the lock: the rest of an evaluation under way, one piece of it at a
        time, else a round (one step of every run that should move). Returns (worked, the round's
        evaluations are all done, stepping: the runs move for Step, not Play)."""
        if self._playing() and not self.watched():
            for run in self._runs.values():
                run.pause()
            self._note = AWAY
        stepping = not self._playing() and self._pending_steps > 0
        live = [
            run
            for run in self._runs.values()
            if (run.status is Status.PLAYING) or (stepping and not run.done)
        ]
        if not live:
            return False, True, stepping
        behind = next((run for run in live if run.evaluating), None)
        if behind is not None:
            behind.work()
        else:
            for run in live:
                run.train_step()
            self._stepped = True
            self.rounds += 1
            self._recent.append(time.monotonic())
        complete = not any(run.evaluating for run in live)
        if complete:
            if stepping and self._stepped:
                self._pending_steps -= 1
            self._stepped = False
        return True, complete, stepping

    def work(self) -> float | None:
        """The scheduler's call: one piece of work (see _piece); returns when the next one is due, or None
        when there is nothing left to do (the worker leaves the scheduler)."""
        with self.lock:
            started = time.monotonic()
            try:
                worked, complete, stepping = self._piece()
            except Exception:  # the trace goes to the log; the page shows one sentence
                log.exception("training failed in the %s worker", self.name)
                for run in self._runs.values():
                    run.pause()
                self._error = TRAINING_FAILED
                worked = False
            if not worked:
                self._active = False
                self._pending_steps = 0
                self._stepped = False
                self._idle.set()
                return None
            now = time.monotonic()
            self._round_cost += now - started
            if complete:
                cost, self._round_cost = self._round_cost, 0.0
                old = self.round_seconds
                self.round_seconds = cost if old is None else 0.9 * old + 0.1 * cost
            rate = None if stepping or not complete else self._rate()
            if rate:
                self._next_at = max(self._next_at + 1.0 / rate, now - 0.25)  # late: no burst to catch up
                return self._next_at
            return now


SCHEDULER = Scheduler(int(os.environ.get("GP_TRAIN_THREADS", "1")))
atexit.register(SCHEDULER.stop)
