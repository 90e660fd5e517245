"""One pool of worker processes that every session of the server shares, fair between their jobs.

A job is a list of tasks, each a top-level function and its picklable arguments (a hyperparameter
search's trials, a transfer comparison's runs). The pool runs at most one task per worker at a time and
takes the next task from the waiting jobs in turn (round-robin), so one student's 25-trial search does
not make another student's search wait for all 25.

- Workers are separate processes because one process trains on one core at a time (the interpreter lock);
  each uses one torch thread, so N workers fill N cores without oversubscribing them.
- They are started with **spawn**, never fork: the server is multi-threaded and has torch loaded, and a
  forked copy of such a process can deadlock on a lock another thread held at the fork. Unlike other
  spawned processes they do not run the parent's `__main__` again: in Streamlit that is a page script.
- Nothing starts on import. The shared pool is made on the first `submit`, and a worker is started only
  when a task waits for one (a spawned worker imports torch again: seconds, once per worker).
- A task that raises ends its job with `Job.error`, one sentence; the trace goes to the log. A worker that
  dies (a crash, the kernel's out-of-memory killer) ends only the job whose task it was running; it is
  replaced when a task next needs a worker, and every other job goes on.
- Cancelling a job drops its waiting tasks; the ones already running finish and their results are KEPT
  (a cancelled search still shows and downloads the trials it finished).

The pool's own thread (the dispatcher) hands tasks to idle workers and collects their results; every
public method is safe to call from any thread (Streamlit runs each session's script in its own). What it
runs (Task, Job) is in core/overfitting/jobs.py; a worker process's side in core/overfitting/poolworker.py.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Sequence
from multiprocessing import connection

from core.overfitting.jobs import Job, Task, failure
from core.overfitting.poolworker import WorkerProcess, preload
from core.processes import usable_cores

log = logging.getLogger(__name__)

WORKERS_ENV = "GP_POOL_WORKERS"  # the pool's size; 0 runs every job in the caller's thread
# A worker holds ~0.8 GB (torch, scikit-learn, the data): workers idle this long with nothing waiting stop,
# and start again (seconds) when a task next needs one
IDLE_SECONDS = float(os.environ.get("GP_POOL_IDLE_SECONDS", "600"))
STOP_SECONDS = 2.0  # shutdown waits at most about this long for the dispatcher and the workers to end


def pool_size() -> int:
    """GP_POOL_WORKERS if set, else the cores this process may run on (core.processes.usable_cores)."""
    wanted = os.environ.get(WORKERS_ENV, "").strip()
    if wanted:
        return max(0, int(wanted))
    return usable_cores()


def run_sequential(tasks: Sequence[Task]) -> list:
    """Every task in this process, in order: the same functions as the pool, for tests and benchmarks."""
    return [task.fn(*task.args) for task in tasks]


class Pool:
    """`workers` processes (0: every job runs at once in the caller's thread); see the module's notes."""

    def __init__(
        self, workers: int | None = None, start_method: str = "spawn", idle_seconds: float | None = None
    ):
        self.size = pool_size() if workers is None else max(0, workers)
        self.idle_seconds = IDLE_SECONDS if idle_seconds is None else idle_seconds
        self._idle_since: float | None = None  # since when every worker has been idle with nothing waiting
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._turns: collections.deque[Job] = collections.deque()  # jobs with tasks waiting, in turn
        self._workers: list[WorkerProcess] = []
        self._started = 0  # workers ever started: their names
        self._closed = False
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe() if self.size else (-1, -1)  # a byte wakes the dispatcher

    # ---- what callers use --------------------------------------------------------------------

    def submit(self, tasks: Sequence[Task], what: str = "task") -> Job:
        """Queue a job; raises (before anything runs) if a task cannot be pickled."""
        tasks = list(tasks)
        payloads = [pickle.dumps((t.fn, tuple(t.args))) for t in tasks]  # a bad task fails here, at once
        if self.size == 0:
            return self._run_here(tasks, what)
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            job = Job(payloads, what, self._lock)
            if job.total:
                self._turns.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="gp-pool", daemon=True)
                self._thread.start()
        self._wake()
        return job

    def load(self) -> tuple[int, int]:
        """(tasks running, tasks waiting) over every job: for a teacher's view of the server."""
        with self._lock:
            running = sum(w.job is not None for w in self._workers)
            return running, sum(len(job._payloads) for job in self._turns)

    def shutdown(self) -> None:
        """Stop the dispatcher and terminate the workers at once (a task cut short would be dropped anyway:
        its job fails), waiting at most about STOP_SECONDS in all; the jobs not finished fail."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for job in self._turns:
                job._fail("The server is shutting down, so the job was stopped.")
            self._turns.clear()
        self._wake()
        if self._thread is not None:
            self._thread.join(STOP_SECONDS / 2)
        workers, self._workers = self._workers, []
        for w in workers:
            w.process.terminate()
            w.close()
        deadline = time.monotonic() + STOP_SECONDS / 2
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(0.1)
        for w in workers:  # jobs whose task was cut short at shutdown
            if w.job is not None:
                with self._lock:
                    w.job._running -= 1
                    w.job._fail("The server is shutting down, so the job was stopped.")
        if self._wake_w >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
        self._wake_w = -1  # a late _wake must not write into a descriptor number the OS has reused

    # ---- the dispatcher thread -------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # shut down meanwhile
            os.write(self._wake_w, b"x")

    def _dispatch(self) -> None:
        while True:
            try:
                if not self._dispatch_once():
                    return
            except Exception:  # never let the thread die: every job would then wait forever
                log.exception("the pool's dispatcher failed; it goes on")
                time.sleep(0.1)

    def _dispatch_once(self) -> bool:
        """Hand out tasks, then wait for a result, a worker's death or a wake-up; False once shut down."""
        with self._lock:
            if self._closed:
                return False
            sends = self._assign()
            waits = {w.conn: w for w in self._workers} | {w.process.sentinel: w for w in self._workers}
        for w, payload in sends:
            try:
                w.conn.send_bytes(payload)  # outside the lock: a worker still starting reads it later
            except OSError:
                self._lost(w)
        try:
            # with workers alive, wake up now and then to stop them once they have idled long enough
            ready = connection.wait([self._wake_r, *waits], timeout=self.idle_seconds / 2 if waits else None)
        except OSError:  # a pipe closed under us (shutdown): look again
            return True
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        for handle in ready:
            w = waits.get(handle)
            if w is not None and w in self._workers:
                self._collect(w)
        self._retire_idle()
        return True

    def _retire_idle(self) -> None:
        """Stop every worker once all have idled `idle_seconds` with no task waiting (each holds ~0.8 GB);
        the next task starts new ones."""
        with self._lock:
            if self._turns or any(w.job is not None for w in self._workers) or not self._workers:
                self._idle_since = None
                return
            now = time.monotonic()
            if self._idle_since is None or now - self._idle_since < self.idle_seconds:
                self._idle_since = self._idle_since or now
                return
            retired, self._workers, self._idle_since = self._workers, [], None
        for w in retired:
            w.close()  # the worker reads the end of its pipe and returns
        for w in retired:
            w.process.join(STOP_SECONDS)
            if w.process.is_alive():
                w.process.terminate()
                w.process.join(0.5)
        log.info("stopped %d pool workers idle for %.0f s", len(retired), self.idle_seconds)

    def _assign(self) -> list[tuple[WorkerProcess, bytes]]:
        """Give each idle worker (starting workers up to `size`) a task of the job with the fewest tasks
        running, the first in turn among equals; that job then goes to the back of the line."""
        sends = []
        idle = [w for w in self._workers if w.job is None]
        while self._turns:
            if not idle and len(self._workers) >= self.size:
                break
            job = min(self._turns, key=lambda j: j._running)
            self._turns.remove(job)
            if not job._payloads:  # cancelled or failed since it was queued
                continue
            if idle:
                w = idle.pop()
            else:
                try:
                    self._started += 1
                    w = WorkerProcess(self._context, self._started)
                except Exception:
                    log.exception("could not start a pool worker")
                    job._fail("A worker process could not be started, so the job was stopped.")
                    continue
                self._workers.append(w)
            w.index, payload = job._payloads.popleft()
            w.job = job
            job._running += 1
            sends.append((w, payload))
            if job._payloads:
                self._turns.append(job)  # its next task waits for every other job's turn
        return sends

    def _collect(self, w: WorkerProcess) -> None:
        """A worker's pipe or process handle is ready: its result (read first, even from a worker that
        ended after sending it), else its death."""
        try:
            if not w.conn.poll():
                raise EOFError
            data = w.conn.recv_bytes()
        except (EOFError, OSError):
            self._lost(w)
            return
        try:
            message = pickle.loads(data)
        except Exception as e:  # a result this process cannot rebuild is that task's failure
            message = ("error", type(e).__name__, str(e), traceback.format_exc())
        with self._lock:
            job, index = w.job, w.index
            w.job = None
            if job is None:
                return
            job._running -= 1
            if message[0] == "ok":
                job._results[index] = message[1]
                job._done += 1
            else:
                kind, text, trace = message[1:]
                log.error("%s %d of %d failed in a pool worker:\n%s", job.what, index + 1, job.total, trace)
                job._fail(failure(job, index, kind, text))
            job._end_if_idle()

    def _lost(self, w: WorkerProcess) -> None:
        """A worker died (or its pipe broke): only the job it was running fails; it is replaced on demand."""
        w.process.join(1.0)
        code = w.process.exitcode
        w.close()
        with self._lock:
            if w in self._workers:
                self._workers.remove(w)
            job, w.job = w.job, None
            if job is None:
                log.warning("an idle pool worker stopped (exit code %s)", code)
                return
            job._running -= 1
            log.error(
                "pool worker %s stopped (exit code %s) running %s %d of %d",
                w.process.name,
                code,
                job.what,
                w.index + 1,
                job.total,
            )
            why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            job._fail(
                f"The worker process running {job.what} {w.index + 1} of {job.total} stopped ({why}; "
                "perhaps it ran out of memory), so the rest of this job was stopped; other jobs go on."
            )

    # ---- no workers: in the caller's thread ---------------------------------------------------

    def _run_here(self, tasks: list[Task], what: str) -> Job:
        job = Job([None] * len(tasks), what, self._lock)
        for index, task in enumerate(tasks):
            try:
                result = task.fn(*task.args)
            except Exception as e:
                log.exception("%s %d of %d failed", what, index + 1, len(tasks))
                with self._lock:
                    job._fail(failure(job, index, type(e).__name__, str(e)))
                break
            with self._lock:
                job._payloads.popleft()
                job._results[index] = result
                job._done += 1
        with self._lock:
            job._payloads.clear()
            job._end_if_idle()
        return job


# ---- the pool the whole server shares -----------------------------------------------------------

_shared: Pool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> Pool:
    """The process-wide pool, made on first use (GP_POOL_WORKERS or one worker per core)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Pool()
            atexit.register(shutdown)
        return _shared


def submit(tasks: Sequence[Task], what: str = "task") -> Job:
    """A job on the shared pool."""
    return shared_pool().submit(tasks, what)


def warm(*modules: str) -> Job:
    """Start every worker of the shared pool now and import `modules` (default torch) in each."""
    pool = shared_pool()
    return pool.submit([Task(preload, modules)] * max(1, pool.size), "warm-up task")


def pool_load() -> tuple[int, int]:
    """(tasks running, tasks waiting) on the shared pool; (0, 0) before it exists."""
    pool = _shared
    return (0, 0) if pool is None else pool.load()


def shutdown() -> None:
    """Stop the shared pool (registered with atexit; a later submit makes a new one)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
    if pool is not None:
        pool.shutdown()
