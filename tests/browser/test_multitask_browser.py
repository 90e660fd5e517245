"""The Two inputs, two outputs lab in Chromium: one click sweeps the loss weights and draws the trade-off."""

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
    ms,
    server_log_clean,
    settle,
)

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)
SWEEP_S = 180  # 5 x 80 steps: about 5 s alone on 2 cores, far more beside a browser on a shared machine
README_SHOT = ROOT / "assets" / "screenshots" / "multitask-tradeoff.png"


@pytest.mark.slow
def test_the_weight_sweep_draws_the_trade_off(page: Page, app_url: str, artifacts: Path) -> None:
    page.goto(f"{app_url}/multitask", wait_until="domcontentloaded", timeout=ms(LOAD_S))
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=ms(LOAD_S))
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_text("Step 1: total =")).to_be_visible()

    page.get_by_role("tab", name="Trade-off").click()
    page.get_by_role("button", name="Sweep the weights").click()
    chart = charts(page).filter(has_text="Trade-off: final test scores")
    expect(chart).to_have_count(1, timeout=ms(SWEEP_S))
    settle(page)
    for name in ("character (accuracy)", "alphabet (accuracy)", "chance: character", "chance: alphabet"):
        expect(chart.locator(".legendtext").filter(has_text=name)).to_have_count(1)
    assert chart.locator(".scatterlayer .trace").first.locator(".point").count() == 5  # one per weighting
    expect(page.get_by_text("Every sweep of this session (1)")).to_be_visible()
    assert_no_stack_trace(page)

    tabs = page.get_by_role("tablist").first.bounding_box()  # the lab's tabs: the main column's top left
    box = chart.bounding_box()
    left, top = tabs["x"] - 20, tabs["y"] - 6
    shot = artifacts / "multitask-tradeoff.png"
    page.screenshot(
        path=str(shot),
        clip={"x": left, "y": top, "width": box["x"] + box["width"] + 20 - left,
              "height": box["y"] + box["height"] + 70 - top},
    )  # fmt: skip
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        shutil.copyfile(shot, README_SHOT)
