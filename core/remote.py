"""A session's lab whose runs train in a live engine (core.engines): `RemoteWorker` has the commands and
the snapshot of core.live.LiveWorker, sent to the engine as plain data; `RemoteRun` is a run as the
page draws it, made from what the engine sent (core.enginehost.WireSnapshot).

The server keeps each run's records and evaluations and asks only for what came since; the methods a
page calls on a run (Run.VIEW_CALLS: a decision grid) are called in the engine, under the worker's
lock. When the engine dies, the session's runs are built again on another engine from the settings
the page last sent, paused at step 0, and the page says so in one sentence (LOST).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from core.enginehost import AS_IS
from core.engines import EngineLost, EnginePool
from core.snapshots import RunView, Snapshot

log = logging.getLogger(__name__)
LOST = (
    "The process that trained these runs stopped ({why}), so they start again from step 0 with your "
    "settings; press Play to go on."
)
_ids = itertools.count(1)
_workers: weakref.WeakSet = weakref.WeakSet()  # every session's RemoteWorker, for the redraw cadence


class RemoteRun(RunView):
    """A run trained in an engine, as a page reads it: RunView's surface, from what the server holds."""

    def __init__(self, worker: RemoteWorker, label: str, held: _Held):
        self._worker, self._label = worker, label
        self._copy(held)
        self.chosen_lr = held.chosen_lr
        self._attrs = held.attrs

    def reading(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # what a page reads of the model is called in the engine, locked

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._attrs:
            return self._attrs[name]
        calls = self._attrs.get("__calls__", ())
        if name in calls:
            return lambda *args, **kwargs: self._worker._call("call", self._label, name, args, kwargs)
        log.warning("a page read %s of a run in an engine: add it to the run's VIEW_ATTRS", name)
        return self._worker._call("call", self._label, "", (name,), {})


class _Held:
    """What the server holds of one run: its serial and generation, records, evaluations, attributes."""

    def __init__(self, wire: Any):
        self.serial, self.generation = wire.serial, wire.generation
        self.records: list = []
        self.evals: list = []
        self.attrs: dict = {}
        self.status, self.diverged_at, self.cfg, self.chosen_lr = None, None, None, 0.0

    def take(self, wire: Any) -> None:
        """What a snapshot sent: records and evaluations from where it says on, the rest as it is."""
        self.serial, self.generation = wire.serial, wire.generation
        del self.records[wire.start :]
        self.records.extend(wire.records)
        del self.evals[wire.evals_start :]
        self.evals.extend(wire.evals)
        if wire.attrs is not None:
            self.attrs = dict(wire.attrs)
        for name in ("status", "diverged_at", "cfg", "chosen_lr"):
            setattr(self, name, getattr(wire, name))


class RemoteWorker:
    """core.live.LiveWorker's commands and snapshot for a session's lab trained in an engine."""

    def __init__(
        self,
        pool: EnginePool,
        name: str = "lab",
        connected: Callable[[], bool] | None = None,
        beside: Callable[[], Mapping[str, float]] | None = None,
    ):
        self.name = name
        self.connected = connected
        self.beside = beside
        self.draw_seconds: float | None = None
        self._pool = pool
        self._wid = next(_ids)
        self._lock = threading.RLock()  # guards what the server holds of the runs
        self._held: dict[str, _Held] = {}
        self._befores: dict[int, Any] = {}
        self._last: Any = None  # the last WireSnapshot
        self._synced: tuple | None = None  # the last sync's arguments, sent again on a new engine
        self._told: bool | None = None  # the connection state the engine last heard
        self._lost: str | None = None  # LOST, until the student plays, steps or resets
        self._engine = None
        self._closer: weakref.finalize | None = None
        self._attach()
        _workers.add(self)
        pool.watch(self)

    # ---- the engine ---------------------------------------------------------------------------

    def _attach(self) -> None:
        """Place the session's lab on an engine; one that dies meanwhile is replaced once."""
        for attempt in range(2):
            engine = self._pool.place()
            try:
                engine.call("open", self._wid, self.name)
                break
            except EngineLost:
                if attempt:
                    raise
        self._engine = engine
        self._closer = weakref.finalize(self, _close, engine, self._wid)
        self._told = None

    def _call(self, command: str, *args, **kwargs):
        engine = self._engine
        try:
            return engine.call(command, self._wid, *args, **kwargs)
        except EngineLost as lost:
            self._recover(engine, str(lost))
            return self._engine.call(command, self._wid, *args, **kwargs)

    def _recover(self, engine, why: str) -> None:
        """The engine died: this session's runs go to another, built again from the last settings."""
        with self._lock:
            if self._engine is not engine:  # another thread of this session did it already
                return
            log.warning(
                "the engine of the %s worker %d stopped (%s): its runs start again", self.name, self._wid, why
            )
            self._closer.detach()
            self._held.clear()
            self._befores.clear()
            self._attach()
            self._lost = LOST.format(why=why)
            if self._synced is not None:
                configs, build, data_key, together = self._synced
                self._engine.call("sync", self._wid, configs, build, data_key, together, self._beside())

    def tell_connected(self) -> None:
        """The engine pool's watcher, each second: the session's connection, when it changed."""
        if self.connected is None:
            return
        now = bool(self.connected())
        if now != self._told:
            self._engine.cast("connected", self._wid, now)
            self._told = now

    def _beside(self) -> dict[str, float]:
        return dict(self.beside()) if self.beside else {}

    # ---- commands -------------------------------------------------------------------------

    def play(self) -> None:
        self._lost = None
        self._call("play")

    def pause(self, note: str | None = None) -> None:
        self._call("pause", note)

    def step(self, wait: float = 10.0) -> None:
        self._lost = None
        self._call("step", wait, timeout=wait + 30.0)

    def reset(self) -> None:
        self._lost = None
        self._call("reset")

    def set_speed(self, speed: str) -> None:
        if self._last is None or self._last.speed != speed:  # every page run sets it: send a change only
            self._call("set_speed", speed)

    def set_lr(self, label: str, lr: float) -> None:
        self._call("set_lr", label, lr)

    def clear(self) -> None:
        self._lost = None
        self._synced = None
        self._call("clear")

    def sync(
        self, configs: Mapping[str, Any], build: Callable, data_key: object = None, together: bool = False
    ) -> dict[str, str]:
        """LiveWorker.sync in the engine; `build` must pickle (core.enginehost.table_run). A page's rerun
        that changed nothing sends nothing."""
        args = (dict(configs), build, data_key, together)
        if args == self._synced:
            return {}
        errors = self._call("sync", *args, self._beside())
        self._synced = args
        return errors

    def drew(self, seconds: float, every: float, cpu: float | None = None) -> None:
        """After a redraw: its cost sets the pages' cadence (core.scheduler.Scheduler.redraw_seconds) and
        counts in the engine's admission. The CPU time, not the wall time: training runs in the engines,
        so what a redraw takes from the others is the server's CPU, not its waits for Python's lock
        (with 30 pages the wall time of each redraw grew with the number of pages, and the cadence with
        it, to 0.16 redraws a second while the server used a fifth of a core)."""
        spent = seconds if cpu is None else cpu
        old = self.draw_seconds
        self.draw_seconds = spent if old is None else 0.8 * old + 0.2 * spent
        self._engine.cast("drew", self._wid, spent, every)

    # ---- reading ------------------------------------------------------------------------------

    def snapshot(self, watching: bool = True) -> Snapshot:
        with self._lock:
            have = {
                label: (h.serial, h.generation, len(h.records), len(h.evals))
                for label, h in self._held.items()
            }
            befores_have = frozenset(self._befores)
        wire = self._call("snapshot", watching, have, befores_have)
        with self._lock:
            for label in list(self._held):
                if label not in wire.runs:
                    del self._held[label]
            runs = {}
            for label, wire_run in wire.runs.items():
                held = self._held.get(label)
                if held is None or (wire_run.start == 0 and wire_run.attrs is not None):
                    held = self._held[label] = _Held(wire_run)
                held.take(wire_run)
                runs[label] = RemoteRun(self, label, held)
            self._befores = {s: b for s, b in self._befores.items() if s in wire.befores.values()}
            self._befores.update(wire.new_befores)
            self._last = wire
            return Snapshot(
                **{name: getattr(wire, name) for name in AS_IS} | {"note": self._lost or wire.note},
                runs=runs,
                befores={label: self._befores[s] for label, s in wire.befores.items()},
            )

    def held(self) -> float:
        return self._last.held if self._last is not None else 0.0

    def _fresh(self) -> Any:
        """The engine's state now (not a sign that anyone watches)."""
        self.snapshot(watching=False)
        return self._last

    @property
    def runs(self) -> dict[str, RemoteRun]:
        return self.snapshot(watching=False).runs

    @property
    def busy(self) -> bool:
        return self._fresh().busy

    @property
    def queued(self) -> bool:
        return self._fresh().queued

    @property
    def rounds(self) -> int:
        return self._fresh().rounds

    @property
    def playing_or_waiting(self) -> bool:
        last = self._last
        return last is not None and (last.playing or last.queued)

    def wait_idle(self, timeout: float) -> bool:
        return self._call("wait_idle", timeout, timeout=timeout + 30.0)


def _close(engine, wid: int) -> None:
    """A session's worker went (its session ended): the engine drops its runs."""
    engine.cast("close", wid)
    engine.hosted = max(0, engine.hosted - 1)


def draw_seconds() -> float:
    """What one redraw of every page whose runs play or wait in an engine costs together (the pages'
    cadence: core.scheduler.Scheduler.redraw_seconds)."""
    return sum(w.draw_seconds or 0.0 for w in list(_workers) if w.playing_or_waiting)
