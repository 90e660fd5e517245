"""A worker process of the pool (core.overfitting.pool): how it is spawned, without the server's
`__main__`, and what it runs, one task at a time from its pipe, on one torch thread, below the server in
the CPU's queue."""

from __future__ import annotations

import contextlib
import os
import pickle
import traceback
from typing import Any

from core.processes import PROCESS_PREFIX, child_start, one_thread, start_child

WORKER_NICENESS = 5  # added to a worker's niceness (see worker_main)
WORKER_NAME = f"{PROCESS_PREFIX}pool-"  # a worker process's name: this prefix and its number


class WorkerProcess:
    """One worker process, its end of the pipe, and the task it runs (job and index) if any."""

    def __init__(self, context, number: int):
        self.process, self.conn = start_child(context, worker_main, f"{WORKER_NAME}{number}")
        self.job: Any = None  # the pool's Job whose task it runs
        self.index = -1

    def close(self) -> None:
        self.conn.close()


def worker_main(conn) -> None:
    """A worker: tasks from the pipe, one at a time, until the pool closes its end."""
    child_start()  # one thread each, and again through torch's setters before the first task (one_thread)
    # Below the server in the CPU's queue: a search is a batch job, while the server's live runs and page
    # redraws are what a class watches; with spare cores the workers still get them whole.
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no nice() on this platform
        os.nice(WORKER_NICENESS)
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            fn, args = pickle.loads(payload)  # imports the task's module (torch with it) the first time
            one_thread()
            message = pickle.dumps(("ok", fn(*args)))
        except BaseException as e:  # any failure, SystemExit included, is the job's error
            message = pickle.dumps(("error", type(e).__name__, str(e), traceback.format_exc()))
        try:
            conn.send_bytes(message)
        except (EOFError, OSError):
            return


def preload(*modules: str) -> None:
    """A task that imports modules (default torch): submitted once per worker by `warm`."""
    import importlib

    for name in modules or ("torch",):
        importlib.import_module(name)
    one_thread()
