"""A server whose Gradients and Optimizers runs train in two live engines (GP_LIVE_PROCESSES=2), in a
real browser: two students play at once and both see their runs to the end; the engines are killed
mid-run and the page says so in one sentence, keeps the student's settings, and plays again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from deploy import appserver
from tests.browser.conftest import HEALTH_TIMEOUT_S, VIEWPORT
from tests.browser.test_gradients_browser import assert_no_stack_trace, choose_preset, ms, open_page
from tests.browser.test_live_browser import choose_speed, wait_step_above

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)
LOST = "The process that trained these runs stopped"


@pytest.fixture
def engine_server(artifacts: Path):
    port = appserver.free_port()
    log = artifacts / "streamlit-engines.log"
    env = {"GP_SPEED": "max", "GP_LIVE_PROCESSES": "2"}
    proc = appserver.start(port, log, env, drop=("GP_STALE_SECONDS",))
    url = f"http://127.0.0.1:{port}"
    try:
        appserver.wait_healthy(f"{url}/_stcore/health", proc, log, timeout=HEALTH_TIMEOUT_S)
        yield url, proc, log
    finally:
        appserver.stop(proc)


def engine_pids(server_pid: int) -> list[int]:
    """The server's engine processes: its children that multiprocessing spawned (not its tracker)."""
    out = []
    for child in Path(f"/proc/{server_pid}/task").glob("*/children"):
        for pid in child.read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                out.append(int(pid))
    return out


def finished(page: Page) -> None:
    expect(page.get_by_text("Finished. Press").first).to_be_visible(timeout=ms(120))


def test_two_students_train_in_engines_and_a_killed_engine_is_one_sentence(
    engine_server, browser, artifacts: Path
) -> None:
    url, proc, log = engine_server
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        pages.append(context.new_page())
    gradients, optimizers = pages
    open_page(gradients, url + "/gradients")
    gradients_before = len(engine_pids(proc.pid))
    optimizers.goto(url + "/optimizers", wait_until="domcontentloaded", timeout=ms(120))
    expect(optimizers.get_by_role("button", name="Play")).to_be_visible(timeout=ms(120))  # its race of three
    choose_preset(gradients, "Vanishing vs cured", "Compare: vanishing vs cured")
    for page in pages:
        page.get_by_role("button", name="Play").click()
    for page in pages:
        finished(page)
        assert_no_stack_trace(page)
    assert gradients_before == 2 and len(engine_pids(proc.pid)) == 2
    gradients.screenshot(path=str(artifacts / "engines-gradients.png"))

    open_page(gradients, url + "/gradients?train.steps=3000&a.model.depth=3&a.model.width=16")
    choose_speed(gradients, "Slow")
    gradients.get_by_role("button", name="Play").click()
    wait_step_above(gradients, 10)
    for pid in engine_pids(proc.pid):  # every engine dies mid-run (the kernel's OOM killer, say)
        os.kill(pid, signal.SIGKILL)
    expect(gradients.get_by_text(LOST)).to_be_visible(timeout=ms(30))
    expect(gradients.get_by_role("button", name="Play")).to_be_enabled()
    gradients.screenshot(path=str(artifacts / "engines-lost.png"))
    gradients.get_by_role("button", name="Play").click()  # the same settings train again on new engines
    wait_step_above(gradients, 5)
    expect(gradients.get_by_text(LOST)).to_have_count(0)
    assert_no_stack_trace(gradients)
    time.sleep(1)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, f"the server logged a stack trace:\n{text[-4000:]}"
    assert "its runs start again" in text  # the log names the loss, without a trace
    for page in pages:
        page.context.close()
