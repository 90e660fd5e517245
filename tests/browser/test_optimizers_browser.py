"""The Optimizers lab in Chromium: a race of three optimizers draws three curves."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import ROOT, assert_no_stack_trace, charts, ms, settle, snapshot

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)


@pytest.mark.slow
def test_a_race_of_three_optimizers_draws_three_curves(page: Page, app_url: str, artifacts: Path) -> None:
    page.goto(f"{app_url}/optimizers", wait_until="domcontentloaded", timeout=ms(120))
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=ms(120))
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_text("Finished. Press")).to_be_visible(timeout=ms(120))
    settle(page)  # the last redraw and the final rerun replace every chart: wait until one copy is left

    loss_chart = charts(page).filter(has_text="Cross-entropy loss: train (solid) and test (dotted)")
    expect(loss_chart).to_have_count(1)
    expect(loss_chart.locator(".legendtext")).to_have_count(3)  # the three default racers, once each
    for racer in ("SGD", "momentum", "Adam"):
        expect(loss_chart.locator(".legendtext").filter(has_text=racer).first).to_be_visible()
    assert loss_chart.locator(".scatterlayer .trace").count() == 6  # train and test curve per racer
    expect(page.get_by_role("button", name="Download the table (CSV)")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()  # the results table (Race tab)

    shot = artifacts / "optimizers-race.png"
    snapshot(page, shot)
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        shutil.copyfile(shot, ROOT / "assets" / "screenshots" / "optimizers-race.png")
    assert_no_stack_trace(page)
