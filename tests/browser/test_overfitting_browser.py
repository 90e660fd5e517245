"""The Overfitting lab in Chromium: a preset plays to its end with its gap and best epoch, the test set opens
on request, and the search and the transfer comparison run on the server's worker processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import (
    ROOT,
    assert_no_stack_trace,
    charts,
    ms,
    server_log_clean,  # noqa: F401  (autouse: no trace in the server's log during these tests)
    settle,
    snapshot,
)

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)


def chart(page: Page, title: str):
    return charts(page).filter(has_text=title)


def keep(shot: Path, name: str) -> None:
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        shutil.copyfile(shot, ROOT / "assets" / "screenshots" / name)


@pytest.mark.slow
def test_a_preset_plays_then_a_search_and_a_transfer_comparison_run(
    page: Page, app_url: str, artifacts: Path
):
    page.goto(f"{app_url}/overfitting?preset=Dropout", wait_until="domcontentloaded", timeout=ms(120))
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=ms(120))
    expect(page.get_by_test_id("stAlert").filter(has_text="Dropout: the same network")).to_be_visible()
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_text("Finished. Press")).to_be_visible(timeout=ms(180))
    settle(page)
    loss = chart(page, "Loss per epoch")
    expect(loss).to_have_count(1)
    expect(loss).to_contain_text("A: gap")  # the gap named on the chart, for each run
    expect(loss).to_contain_text("B: best epoch")
    expect(chart(page, "Dropout at step")).to_have_count(1)
    expect(chart(page, "eval vs train mode")).to_have_count(1)
    assert_no_stack_trace(page)
    shot = artifacts / "overfitting-lab.png"
    snapshot(page, shot)
    keep(shot, "overfitting-lab.png")

    page.get_by_role("button", name="Evaluate on the test set").click()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    settle(page)

    page.get_by_role("tab", name="Search").click()
    page.get_by_role("button", name="Run both searches").click()
    expect(chart(page, "Random search: 9 trials, 9 learning rates")).to_be_visible(timeout=ms(240))
    expect(chart(page, "Grid search: 9 trials, 3 learning rates")).to_be_visible()
    expect(page.get_by_role("button", name="Download the trials (CSV)")).to_be_visible()
    settle(page)
    assert_no_stack_trace(page)
    shot = artifacts / "overfitting-search.png"
    snapshot(page, shot)
    keep(shot, "overfitting-search.png")

    page.get_by_role("tab", name="Transfer").click()
    page.get_by_role("button", name="Compare the three ways").click()
    expect(chart(page, "New characters recognised")).to_be_visible(timeout=ms(300))
    expect(page.get_by_text("Which layers trained")).to_be_visible()
    settle(page)
    assert_no_stack_trace(page)
    snapshot(page, artifacts / "overfitting-transfer.png")
