"""The Sequences lab in Chromium: the GRU-vs-LSTM preset trains and draws its day-ahead forecast."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import (  # noqa: F401 (server_log_clean is an autouse fixture)
    LOAD_S,
    ROOT,
    assert_no_stack_trace,
    charts,
    choose_preset,
    ms,
    server_log_clean,
    settle,
)

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)
TRAIN_S = 300  # two cells x 150 steps of a day-long window on a slow, shared 2-core machine
README_SHOT = ROOT / "assets" / "screenshots" / "sequences-forecast.png"


def shoot_down_to(page: Page, chart, path: Path) -> None:
    """Screenshot from the top of the page to just below `chart`."""
    box = chart.bounding_box()
    width = page.viewport_size["width"]
    page.screenshot(
        path=str(path), clip={"x": 0, "y": 0, "width": width, "height": round(box["y"] + box["height"] + 20)}
    )


@pytest.mark.slow
def test_gru_vs_lstm_trains_and_forecasts_a_day(page: Page, app_url: str, artifacts: Path) -> None:
    page.goto(f"{app_url}/sequences", wait_until="domcontentloaded", timeout=ms(LOAD_S))
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=ms(LOAD_S))
    choose_preset(page, "GRU vs LSTM", "GRU vs LSTM on a day of electricity")
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_text("Finished. Press")).to_be_visible(timeout=ms(TRAIN_S))
    settle(page)  # the final rerun replaces every chart: wait until one copy of each is left

    day_ahead = charts(page).filter(has_text="96 steps ahead")
    expect(day_ahead).to_have_count(1)
    for name in ("truth", "same time the day before", "LSTM", "GRU"):
        expect(day_ahead.locator(".legendtext").filter(has_text=name).first).to_be_visible()
    assert day_ahead.locator(".scatterlayer .trace").count() == 4
    table = page.get_by_test_id("stDataFrame")
    expect(table).to_have_count(1)
    expect(page.get_by_text("below 'same time the day before'").first).to_be_visible()

    shot = artifacts / "sequences-forecast.png"
    shoot_down_to(page, day_ahead, shot)
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        shutil.copyfile(shot, README_SHOT)
    assert_no_stack_trace(page)
