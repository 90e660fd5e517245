"""Start, watch and stop `streamlit run app.py` processes: the one way `make serve`, the benchmarks and
the tests that need a real server (browser, websocket and nginx tests) start one.

Each server binds 127.0.0.1, never watches files, sends no usage statistics, and leads its own
process group, so stop() takes everything it started with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    """True when Streamlit's health endpoint (".../_stcore/health") answers "ok"."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError):
        return False


def start(
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> subprocess.Popen:
    """`streamlit run app.py` on 127.0.0.1:port, its output in `log`. `env`: variables set on top of
    this process's (less `drop`); `options`: more `--name value` options of streamlit's."""
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    cmd += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    for name, value in (options or {}).items():
        cmd += [f"--{name}", value]
    base = {k: v for k, v in os.environ.items() if k not in drop}
    with open(log, "wb") as out:  # the child holds its own copy of the descriptor
        return subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=base | {"PYTHONUNBUFFERED": "1"} | dict(env or {}), start_new_session=True,
        )  # fmt: skip


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    """Wait until `url` (a health endpoint) answers; RuntimeError with the log's tail if the process
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            why = (
                f"exited with code {proc.returncode}"
                if proc.poll() is not None
                else f"no answer in {timeout:.0f} s"
            )
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{url}: {why}; the end of {log}:\n{tail}")
        time.sleep(0.3)


def stop(*procs: subprocess.Popen) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after 15 s."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
