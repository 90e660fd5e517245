"""Live engines: child processes that train the sessions' runs of the labs in ui.runs.IN_ENGINES,
so that a class's training uses every core of the machine instead of the one the server's Python
holds (core.enginehost is an engine's own side; core.remote a session's handle on it).

`GP_LIVE_PROCESSES` sets how many: "auto" (the default: one per core, up to MAX_AUTO, and none on a
single core), a number, or 0 (every run trains in the server process, as core.live alone does). On a
2-core machine a class of 30 playing the Gradients lab's "Vanishing vs cured" got 0.75 of its speed
alone on two engines against 0.26 in the server alone, the Optimizers lab's "SGD vs Adam" 0.98; see
BENCHMARKS.md.

Each engine trains on one torch thread; a session's lab is placed on the engine that hosts the
fewest, and stays there. An engine that dies takes with it only the runs placed on it: the sessions
it hosted are placed on a new one and their pages say so in one sentence (core.remote.LOST).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import itertools
import multiprocessing
import os
import pickle
import threading
import time
import weakref
from collections.abc import Callable

from core.enginehost import engine_main
from core.processes import PROCESS_PREFIX, start_child, usable_cores

ENGINE_NAME = f"{PROCESS_PREFIX}engine-"
ANSWER_SECONDS = 120.0  # an engine that answers nothing for this long is taken as hung
LOAD_SECONDS = 1.0  # how long the engines' load is kept before it is asked again
WATCH_SECONDS = 1.0  # how often each session's connection is looked at and told to its engine
# engines that "auto" starts at most: past 3 or 4 the server's own core (every page's redraws) is the
# limit, and each engine holds ~0.4 GB of its own (plus the torch pages it shares with the server)
MAX_AUTO = 4


class EngineLost(RuntimeError):
    """The engine that trained a session's runs stopped; `why` in words (e.g. "killed by signal 9")."""


class Engine:
    """One engine process, its end of the pipe, and the answers it owes."""

    def __init__(self, context, number: int):
        self.process, self.conn = start_child(context, engine_main, f"{ENGINE_NAME}{number}")
        self.hosted = 0  # session labs placed on it
        self.lost: str | None = None
        self._send = threading.Lock()
        self._owed: dict[int, concurrent.futures.Future] = {}
        self._owed_lock = threading.Lock()
        self._ids = itertools.count()
        threading.Thread(target=self._read, name=f"{ENGINE_NAME}{number}-reader", daemon=True).start()

    def call(self, command: str, wid: int, *args, timeout: float | None = None, quick: bool = False):
        """Send a command and wait for its answer; an error raised in the engine is raised here. No
        answer in `timeout` s: the engine is hung and killed (EngineLost), or, for a `quick` question
        that may go unanswered for a while (the load), TimeoutError."""
        timeout = ANSWER_SECONDS if timeout is None else timeout
        future: concurrent.futures.Future = concurrent.futures.Future()
        request = next(self._ids)
        with self._owed_lock:
            if self.lost is not None:
                raise EngineLost(self.lost)
            self._owed[request] = future
        self._post((request, command, wid, args))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            with self._owed_lock:
                self._owed.pop(request, None)
                if quick:
                    raise TimeoutError(f"no answer to {command} in {timeout:g} s") from None
                # hung: its sessions are stuck either way, so it goes and they are placed on a new one
                self.lost = self.lost or f"it did not answer for {timeout:g} s"
            self.process.kill()
            raise EngineLost(self.lost) from None

    def cast(self, command: str, wid: int, *args) -> None:
        """Send a command that needs no answer (a redraw's cost, a connection's state, a close)."""
        if self.lost is None:
            self._post((None, command, wid, args))

    def _post(self, message: tuple) -> None:
        data = pickle.dumps(message)
        try:
            with self._send:
                self.conn.send_bytes(data)
        except (OSError, ValueError):  # the pipe is closed: the reader says why
            self.process.join(1.0)
            self._lose()

    def _read(self) -> None:
        while True:
            try:
                request, kind, value = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                break
            with self._owed_lock:
                future = self._owed.pop(request, None)
            if future is None:
                continue
            if kind == "ok":
                future.set_result(value)
            else:
                future.set_exception(value)
        self.process.join(2.0)
        self._lose()

    def _lose(self) -> None:
        code = self.process.exitcode
        deadline = time.monotonic() + 1.0
        while code is None and time.monotonic() < deadline:  # another thread may be reaping it right now
            time.sleep(0.02)
            code = self.process.exitcode
        if code is None:
            why = "it stopped answering"
        elif code < 0:
            why = f"killed by signal {-code}"
        else:
            why = f"exit code {code}"
        with self._owed_lock:
            if self.lost is None:
                self.lost = why
            owed, self._owed = self._owed, {}
        for future in owed.values():
            future.set_exception(EngineLost(self.lost))

    @property
    def alive(self) -> bool:
        return self.lost is None and self.process.is_alive()

    def stop(self) -> None:
        """Close the pipe: the engine ends by itself (kill it if it has not within a second)."""
        self.conn.close()
        self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)


class EnginePool:
    """`size` engines; a session's lab is placed on the one that hosts the fewest, a dead one replaced."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._context = multiprocessing.get_context("spawn")  # fork would copy the server's threads' locks
        self._lock = threading.Lock()
        self._engines: list[Engine | None] = [None] * self.size
        self._numbers = itertools.count()
        self._load: tuple[float, tuple[int, int, float]] | None = None
        self._watched: weakref.WeakSet = weakref.WeakSet()  # objects with tell_connected(), each second
        self._stopping = False
        threading.Thread(target=self._watch, name=f"{ENGINE_NAME}watcher", daemon=True).start()

    def start(self) -> None:
        """Start every engine now (each takes a few seconds to import and warm up torch)."""
        with self._lock:
            for i in range(self.size):
                self._engine(i)

    def _engine(self, i: int) -> Engine:
        engine = self._engines[i]
        if engine is None or not engine.alive:
            engine = self._engines[i] = Engine(self._context, next(self._numbers))
        return engine

    def place(self) -> Engine:
        """The engine for a new session's lab (dead ones replaced first)."""
        with self._lock:
            engines = [self._engine(i) for i in range(self.size)]
            engine = min(engines, key=lambda e: e.hosted)
            engine.hosted += 1
            return engine

    def engines(self) -> list[Engine]:
        with self._lock:
            return [e for e in self._engines if e is not None]

    def watch(self, session: object) -> None:
        self._watched.add(session)

    def _watch(self) -> None:
        while not self._stopping:
            time.sleep(WATCH_SECONDS)
            self._tell_all()

    def _tell_all(self) -> None:
        """Each session's connection to its engine (a function: no session stays referenced between two
        rounds, so a session that ends is collected)."""
        for session in list(self._watched):
            # a session half made or half gone, an engine just lost: the next round sees it whole
            with contextlib.suppress(Exception):
                session.tell_connected()

    def load(self) -> tuple[int, int, float]:
        """(workers training, waiting in line, their demand as a share of the engines' threads), over every
        engine, kept for LOAD_SECONDS (a redraw asks it)."""
        now = time.monotonic()
        kept = self._load
        if kept is not None and now - kept[0] < LOAD_SECONDS:
            return kept[1]
        active = waiting = 0
        share = 0.0
        for engine in self.engines():
            try:
                a, w, s, _ = engine.call("load", -1, timeout=5.0, quick=True)
            except (EngineLost, TimeoutError):
                continue
            active, waiting, share = active + a, waiting + w, share + s / self.size
        self._load = (now, (active, waiting, share))
        return self._load[1]

    def stop(self) -> None:
        self._stopping = True
        for engine in self.engines():
            engine.stop()


def processes() -> int:
    """How many engines this server runs: GP_LIVE_PROCESSES, "auto" (the default: one per core the
    server may use, up to MAX_AUTO, and none on a single core, where an engine would only add its
    memory) or a number (0: every run trains in the server process)."""
    value = os.environ.get("GP_LIVE_PROCESSES", "auto").strip().lower()
    if value == "auto":
        cores = usable_cores()
        return min(cores, MAX_AUTO) if cores >= 2 else 0
    try:
        return max(0, int(value))
    except ValueError:
        return 0


_shared: EnginePool | None = None
_shared_lock = threading.Lock()


def shared_engines() -> EnginePool | None:
    """The server's engines (started on first use), or None when runs train in the server process."""
    global _shared
    if not processes():
        return None
    with _shared_lock:
        if _shared is None:
            _shared = EnginePool(processes())
            _shared.start()
            atexit.register(_shared.stop)
        return _shared


def stop_shared_engines() -> None:
    """Stop the server's engines (tests that change GP_LIVE_PROCESSES)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None:
        pool.stop()


def training_load(scheduler_load: Callable[[], tuple[int, int, float]]) -> tuple[int, int, float]:
    """The load a page's cadence and the teacher's count read: the engines' when runs train in them,
    and the server's own scheduler's too (the labs that train in the server)."""
    active, waiting, share = scheduler_load()
    pool = shared_engines()
    if pool is None:
        return active, waiting, share
    a, w, s = pool.load()
    return active + a, waiting + w, max(share, s)
