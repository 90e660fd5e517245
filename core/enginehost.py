"""A live engine's own side: a child process of the app server that trains the runs of the sessions
placed on it (core.engines starts them; core.remote is a session's handle on its runs there).

Inside, an engine is the live engine of core.live as it runs in the server: one LiveWorker per
session and lab, trained by this process's scheduler on one torch thread. What crosses the pipe is
plain data: a request (id, command, worker id, arguments) and its answer (id, "ok", value) or
(id, "error", exception). Requests are answered by a pool of threads, so a Step that waits for its
round, or a sync that builds runs, holds up no other session. A snapshot sends only what the server
lacks: the records and evaluations since the last one it has (by run and generation), a run's
VIEW_ATTRS once, and each faded Before once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import functools
import gc
import importlib
import logging
import os
import pickle
import signal
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.data.catalog import DATASETS
from core.live import LiveWorker
from core.pace import SCHEDULER
from core.processes import SWITCH_SECONDS, child_start, one_thread
from core.registry import OPTIMIZERS
from core.snapshots import RunGone
from core.training import Run

log = logging.getLogger(__name__)
ANSWER_THREADS = 64  # a script run and a redraw of each of a class's sessions, with room to spare


@dataclasses.dataclass(frozen=True)
class WireRun:
    """One run in a WireSnapshot: its records from index `start` on (0: all of them), its evaluations
    from `evals_start` on, and its VIEW_ATTRS when the server has not seen this run (serial) yet."""

    serial: int
    generation: int
    start: int
    records: list
    evals_start: int
    evals: list
    status: Any
    diverged_at: int | None
    cfg: Any
    chosen_lr: float
    attrs: dict | None


# the fields of a Snapshot that cross the pipe as they are (runs and befores are sent as what is new)
AS_IS = ("playing", "speed", "rate", "achieved", "lr_changes", "error", "note", "waiting")


@dataclasses.dataclass(frozen=True)
class WireSnapshot:
    """core.snapshots.Snapshot as it crosses the pipe, with the worker's state the server reads."""

    runs: dict[str, WireRun]
    playing: bool
    speed: str
    rate: float | None
    achieved: float | None
    lr_changes: dict
    befores: dict[str, int]  # label -> serial of its Before
    new_befores: dict[int, Any]  # serial -> Before, for those the server lacks
    error: str | None
    note: str | None
    waiting: int | None
    held: float
    busy: bool
    queued: bool
    rounds: int


@functools.lru_cache(maxsize=16)
def builtin_table(data: Any):
    """A built-in data set of the Gradients and Optimizers labs, made once per engine (data: DataConfig)."""
    return DATASETS.get(data.name).load(data)


def table_run(dataset: Any, cfg: Any):
    """An MLP run of cfg on an uploaded table, or None for the built-in one (picklable with
    functools.partial: the build a session sends with its configs)."""
    return Run(cfg, dataset if dataset is not None else builtin_table(cfg.data))


def warm_training(dataset: Any = None) -> Run:
    """A tiny MLP trained 3 steps with every optimizer (what a live engine pays before its first
    student); returns the last run."""
    base = RunConfig(
        data=DataConfig(name="xor", n_samples=64),
        model=ModelConfig(depth=2, width=4, batchnorm=True),
        train=TrainConfig(steps=3, batch_size=8, probe_every=1, eval_every=3),
    )
    data = dataset or DATASETS.get("xor").load(base.data)
    for name, spec in OPTIMIZERS.items():
        cfg = dataclasses.replace(base, optim=dataclasses.replace(base.optim, name=name, lr=spec.default_lr))
        run = Run(cfg, data)
        run.advance(3)
    return run


def give_back_memory() -> None:
    """After a session's runs go: collect them, and hand glibc's free pages back to the system."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Serials:
    """A number for each object the engine has sent (a run, a Before), kept while it lives (id() alone
    could name a newer object at the same address)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._known: dict[int, tuple[weakref.ref, int]] = {}
        self._next = 0

    def of(self, obj: object) -> int:
        with self._lock:
            known = self._known.get(id(obj))
            if known is not None and known[0]() is obj:
                return known[1]
            self._next += 1
            key = id(obj)
            self._known[key] = (weakref.ref(obj, lambda _, key=key: self._forget(key)), self._next)
            return self._next

    def _forget(self, key: int) -> None:
        with self._lock:
            known = self._known.get(key)
            if known is not None and known[0]() is None:
                del self._known[key]


class Host:
    """The engine's workers, by the id the server gave each, and the commands the server sends."""

    FORWARDED = ("play", "pause", "step", "reset", "set_speed", "set_lr", "clear", "wait_idle", "drew")

    def __init__(self, conn):
        self.conn = conn
        self.workers: dict[int, Any] = {}
        self.connected: dict[int, bool] = {}
        self.beside: dict[int, dict[str, float]] = {}
        self.serials = Serials()
        self._send = threading.Lock()
        self._answers = concurrent.futures.ThreadPoolExecutor(ANSWER_THREADS, thread_name_prefix="answer")

    def serve(self) -> None:
        """Answer requests until the server closes its end of the pipe."""
        while True:
            try:
                payload = self.conn.recv_bytes()
            except (EOFError, OSError):
                return
            request_id, command, wid, args = pickle.loads(payload)
            self._answers.submit(self.answer, request_id, command, wid, args)

    def answer(self, request_id: int | None, command: str, wid: int, args: tuple) -> None:
        try:
            if command in self.FORWARDED:
                value = getattr(self.workers[wid], command)(*args)
            else:
                value = getattr(self, f"do_{command}")(wid, *args)
            message = ("ok", value)
        except Exception as e:  # the server raises it again where it asked
            if not isinstance(e, (LookupError, ValueError)):  # a run or session gone meanwhile, a bad value
                log.exception("engine command %s failed", command)
            message = ("error", e)
        if request_id is None:  # a cast: nobody waits for the answer
            return
        try:
            data = pickle.dumps((request_id, *message))
        except Exception as e:  # an exception that does not pickle
            data = pickle.dumps((request_id, "error", RuntimeError(f"{type(e).__name__}: {e}")))
        with self._send, contextlib.suppress(OSError):
            self.conn.send_bytes(data)

    # ---- commands ---------------------------------------------------------------------------

    def do_open(self, wid: int, name: str) -> None:
        self.connected[wid] = True
        self.workers[wid] = LiveWorker(
            name,
            connected=lambda: self.connected.get(wid, False),
            beside=lambda: self.beside.get(wid, {}),
        )

    def do_close(self, wid: int) -> None:
        worker = self.workers.pop(wid, None)
        self.connected.pop(wid, None)
        self.beside.pop(wid, None)
        if worker is not None:
            worker.clear()
            del worker
            give_back_memory()

    def do_connected(self, wid: int, value: bool) -> None:
        self.connected[wid] = value

    def do_sync(self, wid: int, configs: Mapping, build, data_key, together: bool, beside: dict) -> dict:
        self.beside[wid] = beside
        return self.workers[wid].sync(configs, build, data_key, together)

    def do_call(self, wid: int, label: str, name: str, args: tuple, kwargs: dict) -> Any:
        """A run's method (name in VIEW_CALLS) under the worker's lock; name "" with args (attribute,):
        an attribute the run does not declare in VIEW_ATTRS."""
        worker = self.workers[wid]
        with worker.hold():
            run = worker._runs.get(label)
            if run is None:  # a click removed it since the page's snapshot
                raise RunGone(label)
            if not name:
                return getattr(run, args[0])
            if name not in run.VIEW_CALLS:
                raise AttributeError(f"{type(run).__name__}.{name} is not called from a page")
            return getattr(run, name)(*args, **kwargs)

    def do_snapshot(self, wid: int, watching: bool, have: dict, befores_have: frozenset) -> WireSnapshot:
        """The worker's snapshot, less what the server has: `have` is label -> (serial, generation,
        records, evaluations) of the runs it holds, `befores_have` the serials of its Befores."""
        worker = self.workers[wid]
        snap = worker.snapshot(watching)
        runs = {label: self._wire_run(view, have.get(label)) for label, view in snap.runs.items()}
        befores = {label: self.serials.of(before) for label, before in snap.befores.items()}
        return WireSnapshot(
            **{name: getattr(snap, name) for name in AS_IS},
            runs=runs,
            befores=befores,
            new_befores={s: snap.befores[label] for label, s in befores.items() if s not in befores_have},
            held=worker.held(),
            busy=worker.busy,
            queued=worker.queued,
            rounds=worker.rounds,
        )

    def _wire_run(self, view, had: tuple | None) -> WireRun:
        run = view._run
        serial, generation = self.serials.of(run), run.generation
        same = had is not None and had[:2] == (serial, generation)
        start = had[2] if same and had[2] <= len(view.records) else 0
        evals_start = had[3] if same and had[3] <= len(view.evals) else 0
        return WireRun(
            serial=serial,
            generation=generation,
            start=start,
            records=view.records[start:],
            evals_start=evals_start,
            evals=view.evals[evals_start:],
            status=view.status,
            diverged_at=view.diverged_at,
            cfg=view.cfg,
            chosen_lr=run.chosen_lr,
            attrs=None if had and had[0] == serial else self._attrs(run),
        )

    @staticmethod
    def _attrs(run) -> dict[str, Any]:
        """What a page reads of a run beside its records: VIEW_ATTRS, and the names of VIEW_CALLS."""
        return {name: getattr(run, name) for name in run.VIEW_ATTRS} | {"__calls__": tuple(run.VIEW_CALLS)}

    def do_load(self, wid: int) -> tuple[int, int, float, int]:
        """(workers training, waiting in line, their demand as a share of the threads, workers hosted)."""
        return (*SCHEDULER.load(), len(self.workers))


# the labs' modules whose runs an engine builds beside core.training's (ui.runs.IN_ENGINES): imported before
# the first student comes, not at their first Play (core.sequences.run brings torchmetrics: 1.3 s)
PRELOAD = ("core.sequences.run", "core.multitask.run")


def engine_main(conn) -> None:
    """An engine: torch on one thread, warmed up, then the server's requests until it closes the pipe."""
    child_start()
    # the server stops its engines by closing their pipes: a TERM sent to the whole process group (a
    # terminal, a container stopping) must not take them before the server has stopped using them
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.setswitchinterval(SWITCH_SECONDS)
    logging.basicConfig(
        level=logging.INFO, format=f"engine {os.getpid()}: %(levelname)s %(name)s: %(message)s"
    )
    one_thread()  # torch is loaded: this module's imports brought it
    warm_training()
    for name in PRELOAD:
        importlib.import_module(name)
    try:
        Host(conn).serve()
    finally:
        os._exit(0)  # the scheduler's and the answers' threads stop with the process
