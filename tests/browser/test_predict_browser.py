"""The Predict page in Chromium: a photographed digit is recognised and its heatmap shown; a drawn one too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import ROOT, assert_no_stack_trace, charts, ms, settle
from tests.test_predict import digit_photo

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)
README_SHOT = ROOT / "assets" / "screenshots" / "predict.png"


def open_predict(page: Page, url: str) -> None:
    page.goto(f"{url}/predict", wait_until="domcontentloaded", timeout=ms(120))
    expect(page.get_by_text("Upload an image, take a photo or draw a digit")).to_be_visible(timeout=ms(120))


def loaded(image) -> bool:
    """Whether the <img> inside a stImage element has been fetched and decoded."""
    return image.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")


def expect_top_bars(page: Page) -> None:
    """The top-5 chart, drawn: plotly draws a moment after Streamlit has placed the element."""
    bars = charts(page).filter(has_text="Top 5 classes")
    expect(bars).to_have_count(1)
    expect(bars.locator(".bars .point")).to_have_count(5)


def test_a_photographed_digit_shows_its_class_steps_and_heatmap(
    page: Page, app_url: str, artifacts: Path
) -> None:
    open_predict(page, app_url)
    expect(page.get_by_text("Test accuracy")).to_be_visible()
    uploader = page.get_by_test_id("stFileUploader").first.locator("input[type=file]")
    uploader.set_input_files([{"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": digit_photo(3)}])

    expect(page.get_by_role("heading", name="'IMG_2041.jpg': the model says 3")).to_be_visible(
        timeout=ms(120)
    )
    settle(page)
    heat = page.get_by_test_id("stImage").filter(has_text="Grad-CAM over your image")
    expect(heat).to_have_count(1)
    assert loaded(heat)
    expect_top_bars(page)
    expect(page.get_by_text("centre of mass → middle of 28×28")).to_be_visible()
    expect(page.get_by_test_id("stImage").filter(has_text="maps of")).to_have_count(4)
    assert_no_stack_trace(page)

    shot = artifacts / "predict.png"
    bottom = page.get_by_test_id("stImage").filter(has_text="over what the model saw").bounding_box()
    caption = page.get_by_text("Yellow and red: the pixels").bounding_box()
    end = max(bottom["y"] + bottom["height"], caption["y"] + caption["height"]) + 30
    page.screenshot(
        path=str(shot), clip={"x": 0, "y": 0, "width": page.viewport_size["width"], "height": end}
    )
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOT)


def test_a_digit_drawn_on_the_canvas_is_predicted(page: Page, app_url: str, artifacts: Path) -> None:
    open_predict(page, app_url)
    page.get_by_role("tab", name="Draw").click()
    canvas = page.locator("canvas").last
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.5 * w, y + 0.15 * h)  # a "1": one stroke from the top to the bottom
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + 0.5 * w, y + (0.15 + 0.7 * i / 20) * h)
    page.mouse.up()
    expect(page.get_by_role("heading", name="'drawing.png': the model says 1")).to_be_visible(timeout=ms(120))
    settle(page)
    expect_top_bars(page)
    page.screenshot(path=str(artifacts / "predict-drawing.png"))
    assert_no_stack_trace(page)
