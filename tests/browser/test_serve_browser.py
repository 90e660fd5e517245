"""Two app servers behind nginx on 127.0.0.1 (`make serve`, deploy/serve.py): two students, each
pinned to its own server by the gp_server cookie, both train to the end, and every request each one
made, its websocket included, reached that one server (nginx's access log says which)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from deploy import appserver
from deploy.appserver import free_port, healthy
from tests.browser.conftest import ROOT, VIEWPORT, browser_required
from tests.browser.test_gradients_browser import assert_no_stack_trace, open_page

pytestmark = pytest.mark.browser
expect.set_options(timeout=90_000)


def nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        message = "nginx is missing (install the Debian 'nginx' package; .ci/run does)"
        if browser_required():
            pytest.fail(f"GP_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    return found


def two_free_ports() -> int:
    """A port p such that p and p + 1 are free (deploy.serve numbers its servers from p)."""
    for _ in range(100):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free ports in a row")


@pytest.fixture
def two_servers(artifacts: Path, tmp_path: Path):
    """deploy.serve with two app servers behind nginx; yields (address, prefix folder)."""
    nginx()
    listen, first = free_port(), two_free_ports()
    prefix = tmp_path / "serve"
    cmd = [sys.executable, "-m", "deploy.serve", "--servers", "2", "--listen", f"127.0.0.1:{listen}"]
    cmd += ["--first-port", str(first), "--prefix", str(prefix)]
    log = artifacts / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=os.environ | {"GP_SPEED": "max", "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin"},
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 120
        while not healthy(f"{base}/_stcore/health"):
            assert proc.poll() is None, f"deploy.serve stopped: {log.read_text(errors='replace')[-2000:]}"
            assert time.monotonic() < deadline, "nginx and the two servers did not answer in 120 s"
            time.sleep(0.5)
        yield base, prefix, [first, first + 1]
    finally:
        appserver.stop(proc)
        for name in ("app-*.log", "error.log", "access.log"):
            for path in prefix.glob(name):
                shutil.copy(path, artifacts / f"serve-{path.name}")


def server_of(base: str, key: str) -> str:
    """The app server nginx sends requests with gp_server=key to (its X-GP-Server header)."""
    request = urllib.request.Request(f"{base}/_stcore/health", headers={"Cookie": f"gp_server={key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["X-GP-Server"]


def test_two_students_each_stay_on_their_server_and_train(browser, two_servers) -> None:
    base, prefix, ports = two_servers
    keys: dict[str, str] = {}  # server -> a cookie key that nginx sends to it
    for n in range(200):
        keys.setdefault(server_of(base, f"student{n}"), f"student{n}")
        if len(keys) == 2:
            break
    assert sorted(keys) == [f"127.0.0.1:{port}" for port in ports], keys
    pages = {}
    for server, key in keys.items():
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(90_000)
        context.add_cookies([{"name": "gp_server", "value": key, "url": base}])
        pages[server] = context.new_page()
    try:
        for page in pages.values():
            open_page(page, f"{base}/gradients")
            page.get_by_role("button", name="Vanishing", exact=True).click()
            expect(page.get_by_text("Step 0 of 400").first).to_be_visible()  # a rerun can show two
        for page in pages.values():  # both play at once, each on its own server
            page.get_by_role("button", name="Play").click()
        for page in pages.values():
            expect(page.get_by_text(re.compile(r"^Finished\."))).to_be_visible()
            assert_no_stack_trace(page)
    finally:
        for page in pages.values():
            page.context.close()
    time.sleep(1.0)  # nginx logs a websocket when it closes
    seen: dict[str, set[str]] = {}
    for line in (prefix / "access.log").read_text().splitlines():
        key, upstream = line.split()[:2]
        if key.startswith("student"):
            seen.setdefault(key, set()).add(upstream)
    assert {key: seen.get(key) for key in keys.values()} == {key: {server} for server, key in keys.items()}
    streams = [line for line in (prefix / "access.log").read_text().splitlines() if "/_stcore/stream" in line]
    assert len(streams) >= 2, "both pages' websockets went through nginx"
    for port in ports:
        text = (prefix / f"app-{port}.log").read_text(errors="replace")
        assert "Traceback" not in text, f"server {port} logged a trace:\n{text[-3000:]}"
