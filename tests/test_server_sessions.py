"""Sessions come and go on a real server: what they leave behind.

A `streamlit run` server (XSRF off for the websocket client of bench.wsclient, disconnected sessions
dropped after 2 s instead of Streamlit's 120) receives two classes of 10 students, one after the
other: each opens the Gradients lab from a link of 100 steps, plays it to its end and closes its tab. The
first class pays the server's one-time costs (imports, data, the first figures); after the second has
gone, the server's resident memory must be back near where the first class left it (measured: 923
then 928 MB; with the Vanishing preset's 400 steps 956, 966, then 972 MB after a third class). Before
the shared scheduler each session held 6-11 MB while it lived; a leak of that size per session would
show as 60-110 MB a class. Memory only: these machines are shared and noisy, so no timing is asserted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from pathlib import Path

import pytest

from bench.wsclient import Session, page_hashes
from deploy import appserver

CLASS = 10
SLACK_MB = 40.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture
def server(tmp_path):
    port = appserver.free_port()
    log = tmp_path / "server.log"
    options = {"server.enableXsrfProtection": "false", "server.disconnectedSessionTTL": "2"}
    proc = appserver.start(port, log, {"GP_SPEED": "max"}, options, drop=("GP_STALE_SECONDS",))
    try:
        appserver.wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield f"ws://127.0.0.1:{port}/_stcore/stream", proc.pid, log
    finally:
        appserver.stop(proc)


async def student(url: str, page: str) -> Session:
    # a link as a teacher hands out: 40 steps. Flat out, each student's runs take a whole training thread,
    # so the class goes through the admission line a few at a time: the time grows with the class
    s = Session(url, page, query="train.steps=40")
    await s.open()
    await s.click("Play")
    deadline = time.monotonic() + 400
    while not s.finished:
        assert time.monotonic() < deadline, f"still at {s.status!r}"
        await asyncio.sleep(0.1)
    await s.close()
    return s


async def one_class(url: str) -> list[Session]:
    pages = await page_hashes(url)
    return await asyncio.gather(*(student(url, pages["gradients"]) for _ in range(CLASS)))


def in_a_thread(coroutine):
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps a loop running in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.timeout(900)  # two classes through the admission line on a shared (busy) 2-core machine
def test_sessions_that_close_give_their_memory_back(server):
    url, pid, log = server
    after = []
    for _ in range(2):
        sessions = in_a_thread(one_class(url))
        assert all(s.finished and not s.errors for s in sessions)
        time.sleep(5.0)  # the disconnected sessions' time to live (2 s), and the runs' pause
        after.append(rss_mb(pid))
    print(f"resident memory after each class of {CLASS}: {', '.join(f'{m:.0f} MB' for m in after)}")
    assert after[1] <= after[0] + SLACK_MB, after
    assert "Traceback" not in log.read_text(errors="replace")
