"""A worker process of the pool (core.overfitting.pool): how it is spawned, without the server's
`__main__`, and what it runs, one task at a time from its pipe, on one torch thread, below the server in
the CPU's queue."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

WORKER_NICENESS = 5  # added to a worker's niceness (see worker_main)
WORKER_NAME = "gp-pool-"  # a worker process's name: this prefix and its number
_patch_lock = threading.Lock()


def without_main(get_preparation_data: Callable) -> Callable:
    """multiprocessing.spawn.get_preparation_data, less the main module for this pool's workers.

    A spawned child runs the parent's `__main__` again (as `__mp_main__`) before its target. In a
    Streamlit server `__main__` is whichever page script ran last (Streamlit installs each script as a
    fake `__main__` with its path), so every worker would run app.py or a page: widgets, warm-ups and
    all. A task is a top-level function of an importable module, so a worker needs no main module."""

    def prepared(name: str) -> dict:
        data = get_preparation_data(name)
        if name.startswith(WORKER_NAME):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    prepared.skips_main = True
    return prepared


def never_import_main_in_workers() -> None:
    """Install without_main once per process (popen_spawn_posix looks the function up on every start)."""
    from multiprocessing import spawn

    with _patch_lock:
        if not getattr(spawn.get_preparation_data, "skips_main", False):
            spawn.get_preparation_data = without_main(spawn.get_preparation_data)


class WorkerProcess:
    """One worker process, its end of the pipe, and the task it runs (job and index) if any."""

    def __init__(self, context, number: int):
        never_import_main_in_workers()
        ours, theirs = context.Pipe()
        # daemon: multiprocessing's exit handler terminates a daemon instead of waiting for it
        self.process = context.Process(
            target=worker_main, args=(theirs,), name=f"{WORKER_NAME}{number}", daemon=True
        )
        self.process.start()
        theirs.close()  # only the child's copy stays open, so its death reads as EOF here
        self.conn = ours
        self.job: Any = None  # the pool's Job whose task it runs
        self.index = -1

    def close(self) -> None:
        self.conn.close()


def worker_main(conn) -> None:
    """A worker: tasks from the pipe, one at a time, until the pool closes its end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the server: the server stops its workers
    # One thread per worker: set before torch can be imported (it reads these once), and again through
    # torch's own setters before the first task that uses it (see one_thread).
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
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


_threads_set = False


def one_thread() -> None:
    """torch.set_num_threads(1) (and one inter-op thread) once torch is loaded, before it computes.

    Done lazily rather than at start-up so that a worker whose tasks never use torch starts in a fraction
    of a second instead of the seconds a torch import takes; every task of this lab imports torch on
    unpickling, so it runs before the first of them computes anything."""
    global _threads_set
    if _threads_set or "torch" not in sys.modules:
        return
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set, or inter-op work already started
        torch.set_num_interop_threads(1)
    _threads_set = True


def preload(*modules: str) -> None:
    """A task that imports modules (default torch): submitted once per worker by `warm`."""
    import importlib

    for name in modules or ("torch",):
        importlib.import_module(name)
    one_thread()
