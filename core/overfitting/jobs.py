"""What the pool (core.overfitting.pool) runs: a Task (one call a worker makes), a Job (a student's list
of tasks, its progress, results and error, and how it is cancelled or waited for), and the sentence a
failed task gives."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import ConfigError, shorten


@dataclass(frozen=True)
class Task:
    """One call a worker makes: fn(*args). fn must be a module's top-level function (workers import it)."""

    fn: Callable
    args: tuple = ()


class Job:
    """A list of tasks submitted together; its methods may be called from any thread."""

    def __init__(self, payloads: Sequence, what: str, lock: threading.Lock):
        self.what = what  # what a task is called in a message: "trial"
        self.total = len(payloads)
        self._lock = lock  # the pool's: the dispatcher writes a job's state under it
        self._payloads = collections.deque(enumerate(payloads))  # (index, pickled task) still waiting
        self._results: list = [None] * self.total
        self._done = 0
        self._running = 0
        self._cancelled = False
        self._error: str | None = None
        self._started = time.perf_counter()
        self._ended: float | None = None
        self._finished = threading.Event()
        if not payloads:
            self._end()

    def progress(self) -> tuple[int, int]:
        """(tasks finished, tasks in the job)."""
        with self._lock:
            return self._done, self.total

    def results(self) -> list:
        """Each task's result in task order; None where it has not finished (or never will)."""
        with self._lock:
            return list(self._results)

    @property
    def finished(self) -> bool:
        """True once no task of the job is running or waiting: all done, cancelled or failed."""
        return self._finished.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def error(self) -> str | None:
        """One sentence if a task raised or its worker died (the job then stopped), else None."""
        return self._error

    @property
    def running(self) -> int:
        """Tasks of this job on a worker now."""
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        """Tasks of this job not started yet."""
        with self._lock:
            return len(self._payloads)

    @property
    def seconds(self) -> float:
        """Wall time from submission until the job finished (or until now)."""
        end = self._ended if self._ended is not None else time.perf_counter()
        return end - self._started

    def cancel(self) -> None:
        """Drop the waiting tasks; the running ones finish and their results are kept."""
        with self._lock:
            if self.finished:
                return
            self._cancelled = True
            self._payloads.clear()
            self._end_if_idle()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job finished (True) or `timeout` seconds passed (False)."""
        return self._finished.wait(timeout)

    # ---- called by the pool, under its lock --------------------------------------------------

    def _fail(self, sentence: str) -> None:
        """The first error stops the job: its waiting tasks never start."""
        if self._error is None:
            self._error = sentence
        self._payloads.clear()
        self._end_if_idle()

    def _end_if_idle(self) -> None:
        if not self._payloads and not self._running:
            self._end()

    def _end(self) -> None:
        if self._ended is None:
            self._ended = time.perf_counter()
        self._finished.set()


def failure(job: Job, index: int, kind: str, text: str) -> str:
    """The sentence a page shows for a task that raised: a ConfigError's own, else what and where."""
    if kind == ConfigError.__name__:
        return text
    return (
        f"{job.what.capitalize()} {index + 1} of {job.total} failed ({kind}: {shorten(text, 80)}), so the "
        "rest of this job was stopped; the details are in the server's log."
    )
