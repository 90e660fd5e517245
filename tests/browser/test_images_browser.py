"""The Images lab in Chromium: the default CNN trains, its feature maps show, a confusion cell opens."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import ROOT, assert_no_stack_trace, ms, settle

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)


@pytest.mark.slow
def test_the_default_cnn_trains_shows_feature_maps_and_opens_a_confusion_cell(
    page: Page, app_url: str, artifacts: Path
) -> None:
    page.goto(f"{app_url}/images", wait_until="domcontentloaded", timeout=ms(120))
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=ms(120))
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_text("Finished. Press")).to_be_visible(timeout=ms(180))
    settle(page)

    expect(page.get_by_text("Feature maps of test image 0")).to_be_visible()
    maps = page.get_by_test_id("stImage").filter(has_text="maps of")
    expect(maps).to_have_count(4)  # conv 1 and conv 2, each after activation and after pooling
    expect(page.get_by_test_id("stImage").filter(has_text="learned filters of conv 1")).to_have_count(1)
    recall = page.get_by_test_id("stPlotlyChart").filter(has_text="Share of each class found (recall)")
    expect(recall).to_have_count(1)
    assert recall.locator(".bars .point").count() == 10  # one bar per digit
    assert_no_stack_trace(page)

    heading = page.get_by_text("Feature maps of test image 0").bounding_box()
    top, left = heading["y"] - 20, heading["x"] - 20  # the main column, without the sidebar
    last = maps.last.bounding_box()
    shot = artifacts / "images-feature-maps.png"
    page.screenshot(
        path=str(shot),
        clip={"x": left, "y": top, "width": 1400 - left, "height": last["y"] + last["height"] - top},
    )
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        shutil.copyfile(shot, ROOT / "assets" / "screenshots" / "images-lab.png")

    page.get_by_role("tab", name="Evaluation").click()
    matrix = page.get_by_test_id("stPlotlyChart").filter(has_text="Confusion matrix")
    expect(matrix).to_be_visible()
    expect(page.get_by_text("Click a cell of the confusion matrix")).to_be_visible()
    plot = matrix.locator(".nsewdrag").first.bounding_box()  # the plotting area: 10 x 10 cells
    cell = plot["width"] / 10, plot["height"] / 10
    page.mouse.click(plot["x"] + 3.5 * cell[0], plot["y"] + 3.5 * cell[1])  # row 3 (true 3), column 3
    expect(page.get_by_text("True '3', correctly classified")).to_be_visible()
    settle(page)
    page.screenshot(path=str(artifacts / "images-confusion-cell.png"))
    assert_no_stack_trace(page)
