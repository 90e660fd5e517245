"""The live engine: each session's lab has one worker that owns its runs; the process's scheduler
(core.scheduler) trains every worker's runs a piece at a time; the page sends commands and draws
snapshots (core.snapshots).

Why a worker: Streamlit may start a page's next script run while the last one is still running,
so runs stepped inside script runs were stepped by two threads at once (autograd then fails on
weights changed in place), and Pause had to wait for a training slice to end. Here the page never
trains: Play, Pause, Step, Reset, a new learning rate and a speed are method calls with plain
arguments that take the worker's lock, which the worker holds only for one piece of work: a round of
steps (one step of every playing run, so A and B stay in step), or one piece of the evaluations that
round made due (a slice of a test set; see core.training). Between two pieces a waiting command gets
the lock, so it lands before the next step and does not wait for a whole evaluation. An evaluation
that a pause interrupts goes on where it was when the runs move again (Play or Step), before any
run takes its next step.

What the page reads is a `Snapshot`: every run's records copied at one instant, plus the
events of the session (learning-rate changes, the runs a change replaced). Code that must touch a
model (a decision grid, feature maps, a forecast) goes through `RunView`, which takes the same
lock, so a model is never read half-updated.

Nobody watching, nothing training: the page tells the worker how to ask whether its session is still
connected (`connected`, checked between rounds; a connection that drops has `reconnect_seconds` to come
back before the runs pause), the router pauses a lab when its page is left, and,
should both miss, every snapshot is a sign of life: a worker that has not been asked for one in
`stale_seconds` (a frozen or long-hidden tab) pauses too. A worker with nothing to do then leaves
the scheduler, and dropping the worker frees its runs.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.budget import held_beside
from core.errors import ConfigError
from core.pace import (
    AWAY,
    DEFAULT_SPEED,
    RECONNECT_SECONDS,
    SCHEDULER,
    SPEED_LABELS,
    SPEEDS,
    STALE_SECONDS,
    TRAINING_FAILED,
    Paced,
)
from core.snapshots import Before, LrChange, RunView, Snapshot, describe_change, only_lr_differs
from core.training import Status, Trainer

LEFT = "Paused when you left this page; press Play to go on."
__all__ = [
    "AWAY",
    "LEFT",
    "SCHEDULER",
    "SPEEDS",
    "SPEED_LABELS",
    "TRAINING_FAILED",
    "LiveWorker",
    "describe_change",
]


def held_bytes(runs: list[Trainer]) -> float:
    """What the runs hold, as estimated before each was built (core.budget)."""
    return sum(run.cost.bytes for run in runs if run.cost is not None)


class LiveWorker(Paced):
    """A session's runs of one lab, stepped by the scheduler (core.pace.Paced); its public methods are
    the commands."""

    def __init__(
        self,
        name: str = "lab",
        stale_seconds: float = STALE_SECONDS,
        connected: Callable[[], bool] | None = None,
        beside: Callable[[], Mapping[str, float]] | None = None,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ):
        self.name = name
        self.stale_seconds = stale_seconds
        self.connected = connected  # thread-safe: is the session that shows these runs still connected?
        self.reconnect_seconds = reconnect_seconds
        self._away_since: float | None = None  # when `connected` last turned False
        self.beside = beside  # the bytes the session's other workers hold, by where: the session's budget
        self.lock = threading.RLock()  # held for one round of steps, and by every command and read
        self._runs: dict[str, Trainer] = {}
        self._lr_changes: dict[str, list[LrChange]] = {}
        self._befores: dict[str, Before] = {}
        self._data_key: object = None
        self._speed = DEFAULT_SPEED if DEFAULT_SPEED in SPEEDS else "normal"
        self._error: str | None = None
        self._note: str | None = None
        self._pending_steps = 0
        self._stepped = False  # the round under way has taken its steps (its evaluations may go on)
        self._active = False  # the scheduler has this worker's next piece of work in hand
        self._idle = threading.Event()  # set while not active
        self._idle.set()
        self._queued = False  # Play waits for a place on a saturated server (see Scheduler)
        self._next_at = 0.0  # when the next round is due at this speed
        self.round_seconds: float | None = None  # a round's cost, evaluations included (moving average)
        self._round_cost = 0.0  # seconds the round under way has taken so far
        self._draw_load: float | None = None  # the share of a thread the page's redraws take (moving average)
        self.draw_seconds: float | None = None  # what one redraw of its page costs (moving average)
        self._waiting = 0  # page threads waiting for the lock: the worker yields to them between rounds
        self._turn = threading.Condition()  # guards _waiting; a page thread that got the lock notifies
        self._tickets = itertools.count(1)  # sync calls in the order they began
        self._installed = 0  # the ticket of the sync whose runs are installed
        self._seen = time.monotonic()
        self.rounds = 0  # rounds trained since the worker was made (for benchmarks)
        self._recent: collections.deque[float] = collections.deque(maxlen=64)  # when the last rounds ended

    # ---- commands -----------------------------------------------------------------------

    def play(self) -> None:
        with self.hold():
            self._error = self._note = None
            self._seen = time.monotonic()
            for run in self._runs.values():
                run.play()
            if self._playing() and not self._active and not self._queued:
                if SCHEDULER.must_wait(self):
                    self._queued = True
                    SCHEDULER.enqueue(self)
                else:
                    self._schedule()

    def pause(self, note: str | None = None) -> None:
        """Lands before the next step: the worker checks the runs' status at every round. `note`: one
        sentence for the page when the pause was not the student's own (they left the page)."""
        with self.hold():
            self._pending_steps = 0
            if note and self._playing():
                self._note = note
            for run in self._runs.values():
                run.pause()
            self._leave_queue()
            self._wake()

    def pause_unwatched(self) -> None:
        """Pause because nobody watches: the page says so when it comes back."""
        self.pause(note=AWAY)

    def step(self, wait: float = 10.0) -> None:
        """Pause, then one step of every unfinished run with its evaluation, trained by the worker (after
        the rest of an evaluation a pause interrupted); waits for it."""
        with self.hold():
            for run in self._runs.values():
                run.pause()
            self._error = self._note = None
            self._seen = time.monotonic()
            self._pending_steps += 1
            self._stepped = False  # the evaluations of a round under way are not this step's
            self._leave_queue()
            self._schedule()
        self._idle.wait(None if math.isinf(wait) else wait)

    def reset(self) -> None:
        """Every run back to step 0, same weights and batches; its learning-rate marks go too."""
        with self.hold():
            self._pending_steps = 0
            self._error = self._note = None
            for run in self._runs.values():
                run.reset()
            self._lr_changes.clear()
            self._leave_queue()
            self._wake()

    def set_speed(self, speed: str) -> None:
        if speed not in SPEEDS:
            raise ValueError(f"unknown speed {speed!r}; choose from {', '.join(SPEEDS)}")
        with self.hold():
            if speed != self._speed:
                self._speed = speed
                self._next_at = 0.0  # the new pace starts now
                self._wake()

    def set_lr(self, label: str, lr: float) -> None:
        """A new learning rate from the next step on, marked at the step where it changed."""
        with self.hold():
            run = self._runs[label]
            if lr == run.chosen_lr:
                return
            if run.step:
                self._lr_changes.setdefault(label, []).append(LrChange(run.step, run.chosen_lr, lr))
            run.set_lr(lr)

    def clear(self) -> None:
        """Forget every run and event (a preset starts fresh)."""
        with self.hold():
            self._runs = {}  # a new dict: the scheduler may be reading the old one's speeds
            self._lr_changes.clear()
            self._befores.clear()
            self._error = self._note = None
            self._pending_steps = 0
            self._leave_queue()
            self._wake()

    def sync(
        self,
        configs: Mapping[str, Any],
        build: Callable[[Any], Trainer],
        data_key: object = None,
        together: bool = False,
    ) -> dict[str, str]:
        """Make the runs match label -> config; returns label -> sentence for configs that cannot run.

        A new learning rate goes on from the current step (an lr mark). Any other change builds a new
        run that keeps playing if the old one was, and keeps the old one as a `Before`. A new
        `data_key` (another uploaded file) rebuilds every run. `together` (a race): when any run is
        rebuilt, every other one starts again from step 0 too, so all stay in step.
        """
        ticket = next(self._tickets)
        with self.hold():
            current = dict(self._runs)
            new_data = data_key != self._data_key
        wanted = {}  # label -> config of a run to build
        for label, cfg in configs.items():
            run = current.get(label)
            if new_data or run is None or not only_lr_differs(run.cfg, cfg):
                wanted[label] = cfg
        kept = [run for label, run in current.items() if label in configs and label not in wanted]
        built, errors = self._make(wanted, kept, build)  # outside the lock: training goes on
        with self.hold():
            if ticket < self._installed:  # a later script run of this page already installed its runs
                return errors
            self._installed = ticket
            self._data_key = data_key
            runs = {}
            restart = together and bool(wanted.keys() | (self._runs.keys() - configs.keys()))
            for label, cfg in configs.items():
                old = self._runs.get(label)
                if label in built:
                    runs[label] = self._replace(label, old, built[label])
                elif label in errors:
                    self._lr_changes.pop(label, None)
                else:
                    self.set_lr(label, cfg.optim.lr)
                    if restart and old.step:
                        self._befores[label] = Before(
                            label, old.step, "", tuple(old.records), tuple(old.evals)
                        )
                        self._lr_changes.pop(label, None)
                        playing = old.status is Status.PLAYING
                        old.reset()
                        if playing:
                            old.play()
                    runs[label] = old
            for label in self._befores.keys() - configs.keys():
                del self._befores[label]
            self._runs = runs
            if self._playing() and not self._queued:
                self._schedule()
        return errors

    def _make(
        self, wanted: Mapping[str, Any], kept: list[Trainer], build: Callable[[Any], Trainer]
    ) -> tuple[dict[str, Trainer], dict[str, str]]:
        """(label -> run built, label -> the sentence of a config that cannot run). Each is checked
        beside the session's other runs: those of its other labs, and this one's that it keeps or has
        just built, not those it replaces (core.budget.held_beside)."""
        built: dict[str, Trainer] = {}
        errors: dict[str, str] = {}
        if not wanted:  # a rerun with nothing changed: the other labs need not be asked
            return built, errors
        elsewhere = dict(self.beside()) if self.beside else {}
        for label, cfg in wanted.items():
            try:
                with held_beside(elsewhere | {"this lab": held_bytes(kept + list(built.values()))}):
                    built[label] = build(cfg)
            except ConfigError as err:
                errors[label] = str(err)
        return built, errors

    def _replace(self, label: str, old: Trainer | None, new: Trainer) -> Trainer:
        """Install a newly built run in place of old (called under the lock). The old run becomes the
        faded Before, unless it was a fleeting one: quick presses on a slider replace a run after a few
        steps, and the Before that had trained ten times longer stays, its change now the whole way to
        the new settings ("depth 20 → 16", not "depth 17 → 16" at step 3). Back at the faded run's own
        settings, there is no change to name: the fleeting run is the Before, as any other."""
        self._lr_changes.pop(label, None)
        if old is None:
            return new
        prior = self._befores.get(label)
        if prior is not None and prior.cfg not in (None, new.cfg) and old.step * 10 < prior.step:
            self._befores[label] = dataclasses.replace(prior, change=describe_change(prior.cfg, new.cfg))
        elif old.step:
            change = describe_change(old.cfg, new.cfg)
            self._befores[label] = Before(
                label, old.step, change, tuple(old.records), tuple(old.evals), old.cfg
            )
        if old.status is Status.PLAYING:
            new.play()
        return new

    # ---- reading ------------------------------------------------------------------------

    def held(self) -> float:
        """The bytes its runs hold, as estimated when they were built (any thread; no lock)."""
        return held_bytes(list(self._runs.values()))

    def snapshot(self, watching: bool = True) -> Snapshot:
        """The runs and events at one instant; asked by the page that shows them, a sign of life."""
        if watching:
            self._seen = time.monotonic()  # before waiting for the lock: a slow round is no sign of absence
        with self.hold():
            return Snapshot(
                runs={label: RunView(run, self) for label, run in self._runs.items()},
                playing=self._playing(),
                speed=self._speed,
                rate=self._rate(),
                achieved=self._achieved(),
                lr_changes={label: tuple(c) for label, c in self._lr_changes.items() if c},
                befores=dict(self._befores),
                error=self._error,
                note=self._note,
                waiting=SCHEDULER.place(self) if self._queued else None,
            )

    @property
    def runs(self) -> dict[str, Trainer]:
        """The runs themselves, for tests and benchmarks: read them only while the worker is idle."""
        with self.hold():
            return dict(self._runs)

    @property
    def busy(self) -> bool:
        """True while the scheduler trains this worker's runs (playing, or a step under way)."""
        return self._active

    @property
    def queued(self) -> bool:
        """True while Play waits for a place on a saturated server."""
        return self._queued

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing plays (finished, paused or diverged) nor waits in line; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queued and time.monotonic() < deadline:
            time.sleep(0.01)
        left = deadline - time.monotonic()
        return self._idle.wait(None if math.isinf(left) else max(0.0, left)) and not self._queued
