"""Helpers for page tests: open a lab through app.py's router, click a button by its label."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # training runs inside a script run; AppTest's default of 3 s is far too short


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


def click(at: AppTest, label: str) -> AppTest:
    """Click the button with this label, rerun, and check nothing raised."""
    next(b for b in at.button if b.label == label).click()
    at.run()
    assert not at.exception, at.exception
    return at
