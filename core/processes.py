"""Child processes of the app server (the Overfitting lab's search pool, the live engines): how they
are spawned without the server's `__main__`, and the one torch thread each computes on."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

PROCESS_PREFIX = "gp-"  # every child process's name starts so: it is spawned without the main module
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# How long a thread may keep the GIL while another waits for it (Python's default: 5 ms). The training
# thread lets go of the GIL in each of the ~100 torch ops of a small step, and with page threads busy
# drawing it waited up to the whole interval for each one back: a class of 8 trained 1.5 steps a second
# each instead of 20 (the convoy effect). A shorter interval hands it back sooner.
SWITCH_SECONDS = float(os.environ.get("GP_SWITCH_SECONDS", "0.0005"))
_patch_lock = threading.Lock()
_threads_set = False
CPU_QUOTA = Path("/sys/fs/cgroup/cpu.max")  # a container's CPU limit (cgroup v2): "200000 100000" or "max"


def usable_cores() -> int:
    """The cores this process may compute on: its affinity mask, and a container's CPU quota when that
    is lower (a container limited to 2 CPUs on a 64-core host sees 64 in its mask)."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+: honours the affinity mask
    if counter is not None:
        cores = counter() or 1
    else:
        try:
            cores = len(os.sched_getaffinity(0)) or 1
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
    try:
        quota, period = CPU_QUOTA.read_text().split()[:2]
        limit = math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2 here, or "max": no limit
        return cores
    return max(1, min(cores, limit))


def without_main(get_preparation_data: Callable) -> Callable:
    """multiprocessing.spawn.get_preparation_data, less the main module for our child processes.

    A spawned child runs the parent's `__main__` again (as `__mp_main__`) before its target. In a
    Streamlit server `__main__` is whichever page script ran last (Streamlit installs each script as a
    fake `__main__` with its path), so every child would run app.py or a page: widgets, warm-ups and
    all. A child's target is a top-level function of an importable module: it needs no main module."""

    def prepared(name: str) -> dict:
        data = get_preparation_data(name)
        if name.startswith(PROCESS_PREFIX):
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


def child_start() -> None:
    """First thing in a child: one thread for torch's math (set before torch can be imported: it reads
    these once), and Ctrl-C left to the server, which stops its children."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def one_thread() -> None:
    """torch.set_num_threads(1) (and one inter-op thread) once torch is loaded, before it computes.

    Done lazily rather than at start-up so that a child whose tasks never use torch starts in a fraction
    of a second instead of the seconds a torch import takes."""
    global _threads_set
    if _threads_set or "torch" not in sys.modules:
        return
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # already set, or inter-op work already started
        torch.set_num_interop_threads(1)
    _threads_set = True


def start_child(context, target: Callable, name: str):
    """A child process running target(conn), and the server's end of its pipe: (process, conn).

    daemon: multiprocessing's exit handler ends a daemon instead of waiting for it. Only the child's copy
    of its end stays open, so the child's death reads as EOF on ours."""
    never_import_main_in_workers()
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs,), name=name, daemon=True)
    process.start()
    theirs.close()
    return process, ours
