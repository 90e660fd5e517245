"""Fixtures for the browser tests: one `streamlit run` server per test session (per xdist worker), and
Chromium.

The server starts exactly as a student would start it (from the repo root, headless, on a
free port) and its output goes to tests/artifacts/streamlit-server.log. Chromium is the
Debian package at /usr/bin/chromium; Playwright's own browser download is not used.

With GP_REQUIRE_BROWSER=1 (CI sets it) a missing Chromium fails instead of skipping, and
any test here that would be reported as skipped is reported as failed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import appserver

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 2600}  # Streamlit scrolls an inner box: the viewport is the picture
HEALTH_TIMEOUT_S = 60.0


def browser_required() -> bool:
    return os.environ.get("GP_REQUIRE_BROWSER", "").strip() == "1"


def _under_here(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _under_here(item):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """With GP_REQUIRE_BROWSER=1, a browser test may not skip: report it as failed."""
    report = yield
    if report.failed:
        item.gp_failed = True  # new_page's teardown saves a screenshot of each page
    if report.skipped and browser_required() and _under_here(item) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"GP_REQUIRE_BROWSER=1: browser tests must run, but this one was skipped: {reason}"
    return report


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclasses.dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path  # its output: tests/artifacts/streamlit-server[-<xdist worker>].log

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="session")
def app_server(artifacts: Path) -> Iterator[Server]:
    """`streamlit run app.py` on a free port; the server stops after the session.

    Runs train flat out unless a test picks a speed (GP_SPEED=max), and a page that stops asking
    for redraws, or whose tab closed, pauses, as in production (tests/conftest.py's GP_STALE_SECONDS is not
    passed on).
    """
    port = appserver.free_port()
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # two workers may each run a share of these tests
    log_path = artifacts / (f"streamlit-server-{worker}.log" if worker else "streamlit-server.log")
    # the app's own defaults, not the page tests' (GP_LIVE_PROCESSES)
    proc = appserver.start(
        port, log_path, {"GP_SPEED": "max"}, drop=("GP_STALE_SECONDS", "GP_LIVE_PROCESSES")
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            appserver.wait_healthy(f"{base}/_stcore/health", proc, log_path, timeout=HEALTH_TIMEOUT_S)
        except RuntimeError as err:
            pytest.fail(str(err))
        yield Server(base, proc.pid, log_path)
    finally:
        appserver.stop(proc)


@pytest.fixture(scope="session")
def app_url(app_server: Server) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (sync API)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (install the Debian 'chromium' package)"
        if browser_required():
            pytest.fail(f"GP_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:  # pragma: no cover - requirements-dev installs it
        if browser_required():
            pytest.fail(f"GP_REQUIRE_BROWSER=1 but playwright is not importable: {err}")
        pytest.skip(f"playwright is not importable: {err}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=120_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(request, browser, app_url, artifacts: Path):
    """Factory: a page in its own browser context, so each call is a separate Streamlit session.

    When the test fails, each page's screenshot goes to tests/artifacts/failed-<test>-<n>.png.
    """
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for n, context in enumerate(contexts, 1):
        if getattr(request.node, "gp_failed", False):
            shot = artifacts / f"failed-{request.node.name}-{n}.png"
            for page in context.pages:
                try:
                    page.screenshot(path=str(shot), timeout=30_000)
                except Exception as err:  # a screenshot must not hide the test's own failure
                    print(f"could not save a screenshot of page {n}: {err}")
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()
