"""Helpers for page tests: open a lab through app.py's router, click a button by its label."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.live import LiveWorker

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # AppTest's default of 3 s is far too short for a page that builds a CNN
LABS = ("grad", "opt", "img", "mt", "mt-sweep", "seq", "fit")  # each worker's session-state prefix


def open_page(page: str, query: dict[str, str] | None = None) -> AppTest:
    """Run app.py, switch to page (e.g. "pages/gradients.py") with the given URL query."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def chart_texts(at: AppTest) -> list[str]:
    """The JSON of every chart on the page, in page order: Streamlit's Plotly element, or the live
    view's chart that changes in place (ui.charts.in_place; its figure travels as bytes)."""
    out = []
    for element in at.main:
        if element.type == "plotly_chart":
            out.append(element.proto.spec)
        elif element.type == "bidi_component" and element.proto.component_name == "gp_chart":
            out.append(element.proto.bytes.decode())
    return out


def workers(at: AppTest) -> list[LiveWorker]:
    return [at.session_state[f"{lab}:worker"] for lab in LABS if f"{lab}:worker" in at.session_state]


def settle(at: AppTest, rounds: dict[str, int] | None = None, timeout: float = TIMEOUT) -> AppTest:
    """Wait until the session's workers stop training (Play trains in the background), then rerun the
    page if any of them trained since `rounds` (worker name -> its rounds before a click), as the
    browser's last redraw would."""
    rounds = rounds or {}
    for worker in workers(at):
        assert worker.wait_idle(timeout), f"{worker.name} still training after {timeout} s"
    if any(worker.rounds != rounds.get(worker.name, 0) for worker in workers(at)):
        at.run()
        assert not at.exception, at.exception
    return at


def runs(at: AppTest, lab: str) -> dict:
    """The lab's runs in this session (the worker's own objects; read them once it is idle)."""
    key = f"{lab}:worker"
    return at.session_state[key].runs if key in at.session_state else {}


def click(at: AppTest, label: str) -> AppTest:
    """Click the button with this label, rerun, let any training it started end, and check nothing raised."""
    rounds = {worker.name: worker.rounds for worker in workers(at)}
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, at.exception
    return settle(at, rounds)


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    """Put one file in the page's first file uploader (its type guessed from its name), rerun, and check
    that nothing raised."""
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    at.file_uploader[0].set_value((name, data, kind)).run()
    assert not at.exception, at.exception
    return at


def refused(at: AppTest, name: str, data: bytes, *words: str) -> None:
    """Upload a bad file: the page's error names what is wrong (every one of `words`), never a trace."""
    errors = " ".join(str(e.value) for e in upload(at, name, data).error)
    assert all(w in errors for w in words), errors
    assert "Traceback" not in errors
