"""The threads that train every session's runs in one process, and the line a Play waits in when the
server is full (core.live's workers are what they schedule)."""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import math
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.live import LiveWorker


class Scheduler:
    """The threads that train every session's runs in this process, one piece of work at a time.

    One worker thread per session was how it began, and a class of 30 brought the server down: 30
    threads stepping tiny models, each torch op letting go of the GIL and waiting to get it back,
    spent more time handing the GIL around than training (a 2-core server trained fewer steps a
    second with 8 students than with 1). Here `threads` threads (GP_TRAIN_THREADS, default 1) take
    the worker whose next piece is due soonest, train that piece, and put the worker back at the time
    its speed sets for the next one: every playing run in the process advances in turn, fairly, and
    a flat-out run takes only what the paced ones leave.

    Admission: Play on a saturated server waits in line (the page shows its place) instead of slowing
    everyone. A worker's demand is the share of a thread its speed asks for (rounds a second x the
    measured cost of a round) plus the share its page's redraws take (LiveWorker.drew); a new Play
    waits while the demand of the labs already playing exceeds SATURATED of the threads (or NEW_AT_ONCE
    newcomers are not measured yet), and the head of the line is let in when a place frees up. The
    pages' redraw interval grows with what their redraws cost together (redraw_seconds).
    """

    SATURATED = 0.9
    NEW_AT_ONCE = 2  # workers per thread let in before their demand is known
    DRAW_SHARE = 0.6  # of one core, for the live pages' redraws together
    MAX_REDRAW_SECONDS = 5.0

    def __init__(self, threads: int = 1):
        self.threads = max(1, threads)
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, LiveWorker]] = []  # (due, ticket, worker); stale entries skipped
        self._due: dict[int, int] = {}  # id(worker) -> the ticket of its one live entry
        self._tickets = itertools.count()
        self._line: collections.deque[LiveWorker] = collections.deque()  # waiting for a place, in order
        self._active: dict[int, LiveWorker] = {}  # id -> worker, in the scheduler's hands
        self._started: list[threading.Thread] = []
        self._stopping = False

    # ---- the workers' side --------------------------------------------------------------

    def add(self, worker: LiveWorker, due: float) -> None:
        """(Re)schedule `worker` for `due` (its earlier entry, if any, no longer counts)."""
        with self._cv:
            ticket = next(self._tickets)
            self._due[id(worker)] = ticket
            self._active[id(worker)] = worker
            heapq.heappush(self._heap, (due, ticket, worker))
            self._start_threads()
            self._cv.notify()

    def must_wait(self, worker: LiveWorker) -> bool:
        """True when Play should wait in line: others wait already, or the playing runs' demand leaves
        no room."""
        with self._cv:
            if self._line:
                return True
            others = [w for w in self._active.values() if w is not worker]
            return bool(others) and not self._room(others)

    def enqueue(self, worker: LiveWorker) -> None:
        with self._cv:
            if worker not in self._line:
                self._line.append(worker)
            self._cv.notify()

    def dequeue(self, worker: LiveWorker) -> None:
        with self._cv, contextlib.suppress(ValueError):
            self._line.remove(worker)

    def place(self, worker: LiveWorker) -> int | None:
        """1 for the head of the line, 2 for the next, ...; None when not waiting."""
        with self._cv:
            for i, queued in enumerate(self._line, 1):
                if queued is worker:
                    return i
            return None

    def redraw_seconds(self, extra: float = 0.0) -> float:
        """Every live page's redraw interval now: each page twice a second while the redraws of all the
        pages that play or wait together take under DRAW_SHARE of one core, and less often as they
        take more (a class of 30 redrawing twice a second at 60-100 ms a redraw would need 4-6
        cores; the pages' clicks then waited minutes), in steps of 0.5 s, at most MAX_REDRAW_SECONDS.
        `extra`: what one redraw of the pages whose runs train elsewhere (core.remote) costs together."""
        with self._cv:
            pages = list(self._active.values()) + list(self._line)
        seconds = (sum(w.draw_seconds or 0.0 for w in pages) + extra) / self.DRAW_SHARE
        return min(self.MAX_REDRAW_SECONDS, max(0.5, math.ceil(seconds * 2) / 2))

    def load(self) -> tuple[int, int, float]:
        """(workers training, workers waiting in line, their demand as a share of the threads)."""
        with self._cv:
            active = list(self._active.values())
            return len(active), len(self._line), self._demand(active) / self.threads

    # ---- the threads ----------------------------------------------------------------------

    @staticmethod
    def _demand(workers) -> float:
        return sum(w.demand() for w in workers)

    def _room(self, workers: list[LiveWorker]) -> bool:
        """Whether one more worker may train beside `workers`: their demand leaves room, and few of them
        are too new to have one (a class pressing Play at once would otherwise all get in before the
        first round of any of them was measured)."""
        unknown = sum(w.round_seconds is None and w.demand_unknown() for w in workers)
        return (
            unknown < self.NEW_AT_ONCE * self.threads
            and self._demand(workers) < self.SATURATED * self.threads
        )

    def _start_threads(self) -> None:
        while len(self._started) < self.threads:
            thread = threading.Thread(target=self._run, name=f"gp-live-{len(self._started)}", daemon=True)
            self._started.append(thread)
            thread.start()

    def _next(self) -> LiveWorker | None:
        """The worker whose piece is due first, once it is due (under the condition)."""
        while not self._stopping:
            self._admit()
            while self._heap and self._due.get(id(self._heap[0][2])) != self._heap[0][1]:
                heapq.heappop(self._heap)  # superseded by a later add
            if not self._heap:
                self._cv.wait(0.5 if self._line else None)
                continue
            due, _, worker = self._heap[0]
            wait = due - time.monotonic()
            if wait > 0:
                self._cv.wait(min(wait, 0.5))
                continue
            heapq.heappop(self._heap)
            del self._due[id(worker)]
            return worker
        return None

    def _admit(self) -> None:
        """Let the head of the line in while there is room (under the condition); a worker whose page
        has gone leaves the line, paused."""
        gone = [w for w in self._line if not w.watched()]
        if gone:
            for worker in gone:
                self._line.remove(worker)
            self._cv.release()
            try:
                for worker in gone:
                    worker.pause_unwatched()
            finally:
                self._cv.acquire()
        while self._line:
            if self._active and not self._room(list(self._active.values())):
                return
            worker = self._line.popleft()
            self._cv.release()
            try:
                worker.admit()  # takes the worker's lock, then add() takes the condition again
            finally:
                self._cv.acquire()

    def _run(self) -> None:
        while True:
            with self._cv:
                worker = self._next()
            if worker is None:
                return
            due = worker.work()
            with self._cv:
                if due is None:
                    if id(worker) not in self._due:  # done: keep nothing of it (a closed tab frees its runs)
                        self._active.pop(id(worker), None)
                        self._heap = [entry for entry in self._heap if entry[2] is not worker]
                        heapq.heapify(self._heap)
                elif id(worker) not in self._due:  # a command may have rescheduled it meanwhile
                    self._due[id(worker)] = ticket = next(self._tickets)
                    heapq.heappush(self._heap, (due, ticket, worker))
            worker.yield_to_pages()
            del worker  # not kept alive while this thread waits for the next one

    def stop(self, timeout: float = 5.0) -> None:
        """Let the threads end after the piece under way (at exit: a daemon thread still inside a torch
        kernel when Python shuts down aborts the process)."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        for thread in self._started:
            thread.join(timeout)
