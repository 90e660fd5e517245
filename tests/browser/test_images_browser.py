"""The Images lab in Chromium: the default CNN trains, its feature maps show, a confusion cell opens."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import ROOT, assert_no_stack_trace, charts, ms, settle

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
    recall = charts(page).filter(has_text="Share of each class found (recall)")
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
    matrix = charts(page).filter(has_text="Confusion matrix")
    expect(matrix).to_be_visible()
    expect(page.get_by_text("Click a cell of the confusion matrix")).to_be_visible()
    plot = matrix.locator(".nsewdrag").first.bounding_box()  # the plotting area: 10 x 10 cells
    cell = plot["width"] / 10, plot["height"] / 10
    page.mouse.click(plot["x"] + 3.5 * cell[0], plot["y"] + 3.5 * cell[1])  # row 3 (true 3), column 3
    expect(page.get_by_text("True '3', correctly classified")).to_be_visible()
    settle(page)
    page.screenshot(path=str(artifacts / "images-confusion-cell.png"))
    assert_no_stack_trace(page)


def test_the_open_tab_travels_in_the_link_and_between_labs(new_page, app_server, artifacts: Path) -> None:
    """A tab the student opens stays in the link while settings change (`?tab=Augmentation`), a link
    opens its tab in a fresh browser, and moving between two labs with tabs logs no error (writing
    the link once set the tabs' bound `tab` parameter from outside, which Streamlit refuses)."""
    log, app_url = app_server.log, app_server.url
    start = log.stat().st_size
    page = new_page()
    page.goto(f"{app_url}/images", wait_until="domcontentloaded", timeout=120_000)
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=120_000)
    settle(page)
    page.get_by_role("tab", name="Augmentation").click()
    expect(page).to_have_url(re.compile(r"tab=Augmentation"))
    slider = page.get_by_test_id("stSidebar").get_by_role("slider").first
    slider.focus()
    page.keyboard.press("ArrowRight")  # a setting changes: the link is written again
    settle(page)
    expect(page).to_have_url(re.compile(r"tab=Augmentation.*&|&.*tab=Augmentation"))
    expect(page.get_by_role("tab", name="Augmentation", selected=True)).to_be_visible()
    fresh = new_page()
    fresh.goto(page.url, wait_until="domcontentloaded", timeout=120_000)
    expect(fresh.get_by_role("tab", name="Augmentation", selected=True)).to_be_visible(timeout=120_000)
    for lab in ("Optimizers lab", "Images lab", "Two inputs, two outputs", "Images lab"):
        fresh.get_by_role("link", name=lab).click()
        expect(fresh.get_by_role("button", name="Play")).to_be_visible(timeout=120_000)
        settle(fresh)
    assert_no_stack_trace(fresh)
    with open(log, "rb") as f:
        f.seek(start)
        assert "Traceback" not in f.read().decode(errors="replace")
