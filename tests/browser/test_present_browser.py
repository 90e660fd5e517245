"""Presenter mode on a projector (1366 x 768): every lab shows its Play button and its key chart on the
first screen, with no chart text under 16 px, and a shared lesson link opens on its lesson and tab."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_gradients_browser import assert_no_stack_trace, charts, settle

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)

PROJECTOR = {"width": 1366, "height": 768}
KEY_CHARTS = {  # lab page -> the element keys of the charts a teacher narrates over
    "gradients": ("loss-single", "heat-single"),
    "optimizers": ("race-loss",),
    "images": ("img-loss", "img-acc"),
    "multitask": ("mt-parts",),
    "sequences": ("seq-multi",),
    "overfitting": ("fit-loss",),
}
SMALLEST_TEXT = """el => Math.min(...[...el.querySelectorAll('svg text')]
    .filter(t => t.textContent.trim() && t.getBBox().width > 0)
    .map(t => parseFloat(getComputedStyle(t).fontSize)))"""


def inside(page: Page, box: dict | None) -> bool:
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 1


@pytest.mark.parametrize(
    ("lab", "query"),
    [(lab, "") for lab in KEY_CHARTS] + [(lab, f"&lesson={lab}&step=1") for lab in KEY_CHARTS],
)  # then each with its guided lesson's first step open above the charts
def test_presenter_mode_fits_the_first_screen(lab: str, query: str, new_page, app_url: str, artifacts: Path):
    page = new_page()
    page.set_viewport_size(PROJECTOR)
    page.goto(f"{app_url}/{lab}?present=1{query}", wait_until="domcontentloaded", timeout=120_000)
    play = page.get_by_role("button", name="Play")
    expect(play).to_be_visible(timeout=120_000)
    key_charts = [  # a live chart's element key is "chart-" + its key (ui.charts.in_place)
        page.locator(f".st-key-{key} .js-plotly-plot, .st-key-chart-{key} .js-plotly-plot")
        for key in KEY_CHARTS[lab]
    ]
    for chart in key_charts:
        expect(chart).to_have_count(1, timeout=120_000)
    settle(page)
    page.screenshot(path=str(artifacts / f"present-{lab}{'-lesson' if query else ''}.png"))
    main = page.get_by_test_id("stMain")
    assert main.evaluate("el => el.scrollTop") == 0, "the page opened scrolled"
    assert inside(page, play.bounding_box()), f"Play is below the fold: {play.bounding_box()}"
    for key, chart in zip(KEY_CHARTS[lab], key_charts, strict=True):
        assert inside(page, chart.bounding_box()), f"{key} is not on the first screen: {chart.bounding_box()}"
    for chart in page.locator(".js-plotly-plot").all():
        smallest = chart.evaluate(SMALLEST_TEXT)
        assert smallest >= 16, f"chart text of {smallest} px in presenter mode"
    assert page.get_by_role("switch", name="Presenter mode").is_checked()
    assert_no_stack_trace(page)


def test_a_shared_lesson_link_opens_its_lesson_and_its_tab(new_page, app_url: str):
    """A student opens the teacher's link in a fresh browser: the Momentum lesson box, the Loss surface
    tab, the settings."""
    page = new_page()
    page.goto(f"{app_url}/optimizers?preset=Momentum", wait_until="domcontentloaded", timeout=120_000)
    expect(page.get_by_test_id("stAlert").filter(has_text="Momentum")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("tab", name="Loss surface", selected=True)).to_be_visible()
    expect(charts(page).filter(has_text="Loss along each path")).to_be_visible()
    assert_no_stack_trace(page)
    fresh = new_page()  # a link to the tab alone opens it too
    fresh.goto(f"{app_url}/optimizers?tab=Loss+surface", wait_until="domcontentloaded", timeout=120_000)
    expect(fresh.get_by_role("tab", name="Loss surface", selected=True)).to_be_visible(timeout=120_000)
    settle(fresh)
    expect(fresh.get_by_role("tab", name="Loss surface", selected=True)).to_be_visible()


PHONE = {"width": 390, "height": 844}


def test_a_phone_shows_play_early_and_opens_the_controls_below_the_chart(
    new_page, app_url: str, artifacts: Path
):
    page = new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"{app_url}/gradients", wait_until="domcontentloaded", timeout=120_000)
    play = page.get_by_role("button", name="Play")
    expect(play).to_be_visible(timeout=120_000)
    settle(page)
    presets = page.locator(".st-key-presets button")
    boxes = [presets.nth(i).bounding_box() for i in range(presets.count())]
    rows = {round(box["y"]) for box in boxes if box}
    assert len([box for box in boxes if box]) == 5
    assert len(rows) <= 2, f"5 preset buttons on {len(rows)} rows: a stack, not a strip"
    transport = [page.get_by_role("button", name=n).bounding_box()["y"] for n in ("Play", "Pause", "Step")]
    assert max(transport) - min(transport) < 5, "Play, Pause and Step share one row"
    assert play.bounding_box()["y"] < 0.7 * PHONE["height"], "Play on the first screen"
    loss = page.locator(".st-key-chart-loss-single")  # a live chart (ui.charts.in_place)
    loss.scroll_into_view_if_needed()
    page.get_by_test_id("stExpandSidebarButton").click()
    sheet = page.get_by_test_id("stSidebar")
    expect(sheet.get_by_text("Hidden layers", exact=True)).to_be_visible()
    page.wait_for_timeout(800)
    top = sheet.bounding_box()["y"]
    assert top >= 0.4 * PHONE["height"], f"the controls cover the page from y={top}"
    chart = loss.bounding_box()
    assert chart["y"] < top, "some of the loss chart shows above the open controls"
    page.screenshot(path=str(artifacts / "phone-gradients-controls.png"))
    assert page.locator(".modebar-container").first.is_hidden(), "no chart toolbar over the titles"
    assert_no_stack_trace(page)
