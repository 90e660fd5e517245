"""The Gradients lab in a real browser: presets, live training, isolated sessions, links.

Every test drives headless Chromium against one `streamlit run app.py` server (see
conftest.py). While a run plays, the page redraws its charts about every 0.5 s, so the
tests wait on text with Playwright's expect(...) instead of holding element handles.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

ROOT = Path(__file__).resolve().parents[2]
README_SHOT = ROOT / "assets" / "screenshots" / "gradients-lab.png"

LOAD_S = 120  # first page of a fresh server: torch warm-up, imports
TRAIN_S = 120  # a 400-step preset on a slow, shared 2-core machine
STACK_TRACE = re.compile(r"Traceback|\b\w*(Error|Exception): ")

pytestmark = pytest.mark.browser
# Every expect(...) waits up to a minute: on a busy 2-core machine Streamlit's frontend has been seen
# to draw the sidebar's sliders 8 s after the rest of the page.
expect.set_options(timeout=60_000)


# ---- helpers ---------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000


def open_page(page: Page, url: str) -> None:
    """Open url and wait until the lab's Play button and its first sidebar slider are on screen."""
    page.goto(url, wait_until="domcontentloaded", timeout=ms(LOAD_S))
    expect(page.get_by_role("button", name="Play")).to_be_visible(timeout=ms(LOAD_S))
    expect(sidebar_widget(page, "stSlider", "Hidden layers")).to_be_visible(timeout=ms(LOAD_S))


CHARTS = '[data-testid="stPlotlyChart"], .gp-chart'  # Streamlit's chart, or a live one (ui.charts.in_place)


def charts(page: Page) -> Locator:
    """Every chart on the page: Streamlit's Plotly element, or a live view's chart that changes in place."""
    return page.locator(CHARTS)


def settle(page: Page, pause_s: float = 0.5) -> None:
    """Wait until no script runs, nothing is faded as stale and every chart has drawn its plot, then
    give plotly a moment to finish its layout."""
    page.wait_for_function(
        """() => !document.querySelector('[data-stale="true"]')
                 && !document.querySelector('[data-testid="stStatusWidget"]')
                 && [...document.querySelectorAll('.js-plotly-plot')]
                        .every(plot => plot.querySelector('.main-svg'))""",
        timeout=ms(60),
    )
    page.wait_for_timeout(ms(pause_s))


def snapshot(page: Page, path: Path) -> None:
    """Screenshot down to just below the last chart (the tall viewport leaves empty space)."""
    viewport = page.viewport_size
    boxes = [box for chart in charts(page).all() if (box := chart.bounding_box())]
    bottom = max((box["y"] + box["height"] for box in boxes), default=viewport["height"]) + 40
    height = min(viewport["height"], round(bottom))
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": viewport["width"], "height": height})


def choose_preset(page: Page, button: str, title: str) -> None:
    """Click a preset button and wait for its lesson box, so the next click lands after it."""
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_test_id("stAlert").filter(has_text=title)).to_be_visible()
    expect(page.get_by_role("button", name="Play")).to_be_enabled()


def step_metric(page: Page):
    return page.get_by_test_id("stMetric").filter(has_text="Step").get_by_test_id("stMetricValue")


def assert_no_stack_trace(page: Page) -> None:
    text = page.locator("body").inner_text()
    found = STACK_TRACE.search(text)
    assert found is None, f"stack-trace-like text on the page: {text[max(0, found.start() - 200) :][:600]}"
    assert page.get_by_test_id("stException").count() == 0, "Streamlit shows an exception box"


def sidebar_widget(page: Page, testid: str, label: str):
    """The sidebar widget (by data-testid) whose label is exactly `label`."""
    label_box = page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
    return page.get_by_test_id("stSidebar").get_by_test_id(testid).filter(has=label_box)


@pytest.fixture(autouse=True)
def server_log_clean(browser, app_server):
    """The app shows one sentence for an error and logs the trace: no trace may appear during a test."""
    log = app_server.log
    start = log.stat().st_size
    yield
    with open(log, "rb") as f:
        f.seek(start)
        new = f.read().decode(errors="replace")
    assert "Traceback" not in new, f"the server logged a stack trace during this test:\n{new[-4000:]}"


# ---- tests -----------------------------------------------------------------------------


@pytest.mark.slow
def test_vanishing_preset_shows_heatmap(page: Page, app_url: str, artifacts: Path) -> None:
    open_page(page, f"{app_url}/gradients")
    choose_preset(page, "Vanishing", "Vanishing: deep sigmoid, default init")
    page.get_by_role("button", name="Play").click()

    expect(page.get_by_text("Finished. Press")).to_be_visible(timeout=ms(TRAIN_S))
    settle(page)  # the final rerun replaces every chart: wait until one copy of each is left
    expect(step_metric(page)).to_have_text("400 / 400")
    heat_title = page.locator(".gtitle").filter(has_text="Gradient norm per layer over steps")
    expect(heat_title).to_be_visible()
    expect(page.get_by_test_id("stAlert").filter(has_text="vanishes")).to_be_visible()
    expect(charts(page)).to_have_count(5)

    settle(page)
    shot = artifacts / "gradients-lab.png"
    snapshot(page, shot)
    if os.environ.get("GP_UPDATE_SCREENSHOTS") == "1":  # refresh the README's picture on purpose only
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SHOT)
    assert_no_stack_trace(page)


@pytest.mark.slow
def test_two_sessions_see_only_their_own_runs(new_page, app_url: str, artifacts: Path) -> None:
    exploding, cured = new_page(), new_page()  # two browser contexts: two Streamlit sessions
    for page in (exploding, cured):
        open_page(page, f"{app_url}/gradients")
    choose_preset(exploding, "Exploding", "Exploding: large normal init")
    choose_preset(cured, "Cured", "Cured: ELU + Kaiming + BatchNorm")

    # start both, then wait for both: the two sessions train at the same time
    exploding.get_by_role("button", name="Play").click()
    cured.get_by_role("button", name="Play").click()

    # the diagnosis box says "... at step N: the run diverged."; the loss chart marks "diverged at step N"
    diverged_box = exploding.get_by_test_id("stAlert").filter(has_text="the run diverged")
    expect(diverged_box).to_be_visible(timeout=ms(TRAIN_S))
    expect(diverged_box).to_contain_text("NaN or infinite at step")
    expect(charts(exploding).get_by_text("diverged at step").first).to_be_visible()
    expect(exploding.get_by_text("Stopped: a run diverged. Press")).to_be_visible(timeout=ms(TRAIN_S))
    expect(cured.get_by_text("Finished. Press")).to_be_visible(timeout=ms(TRAIN_S))
    settle(cured)
    expect(step_metric(cured)).to_have_text("400 / 400")
    expect(cured.get_by_test_id("stAlert").filter(has_text="healthy")).to_be_visible()

    settle(exploding)
    settle(cured)
    snapshot(exploding, artifacts / "session-exploding.png")
    snapshot(cured, artifacts / "session-cured.png")

    exploding_text = exploding.locator("body").inner_text()
    cured_text = cured.locator("body").inner_text()
    assert "diverged at step" in exploding_text
    assert "400 / 400" not in exploding_text, "the exploding session shows a finished 400-step run"
    assert "healthy" not in exploding_text
    assert "400 / 400" in cured_text
    assert "diverged" not in cured_text.lower(), "the cured session shows the other session's divergence"
    assert "Exploding: large normal init" not in cured_text
    assert "Cured: ELU + Kaiming + BatchNorm" not in exploding_text
    assert_no_stack_trace(exploding)
    assert_no_stack_trace(cured)


def test_link_restores_settings(new_page, app_url: str) -> None:
    page = new_page()
    open_page(page, f"{app_url}/gradients?a.model.depth=7&a.model.activation=tanh&a.optim.lr=0.003")
    depth = sidebar_widget(page, "stSlider", "Hidden layers").get_by_test_id("stSliderThumbValue")
    expect(depth).to_have_text("7")
    # a Streamlit 1.5x+ selectbox is a combobox <input> whose value is the chosen label
    activation = sidebar_widget(page, "stSelectbox", "Activation").get_by_role("combobox")
    expect(activation).to_have_value("Tanh")
    lr = sidebar_widget(page, "stSlider", "Learning rate").get_by_test_id("stSliderThumbValue")
    expect(lr).to_have_text("0.003")
    expect(page.get_by_text("could not be used")).to_have_count(0)

    settle(page)  # the page has rewritten its link from its settings by now
    assert "a.model.depth=7" in page.url
    assert "a.model.activation=tanh" in page.url
    assert "a.optim.lr=0.003" in page.url
    expect(depth).to_have_text("7")
    assert_no_stack_trace(page)

    page = new_page()  # a new session reads its link again
    open_page(page, f"{app_url}/gradients?a.model.depth=abc")
    warning = page.get_by_test_id("stAlert").filter(has_text="could not be used")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("abc")
    expect(warning).to_contain_text("keeps its default")
    expect(page.get_by_role("button", name="Play")).to_be_enabled()
    expect(sidebar_widget(page, "stSlider", "Hidden layers")).to_be_visible()
    settle(page)
    assert_no_stack_trace(page)


def test_home_lists_labs(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/", wait_until="domcontentloaded", timeout=ms(LOAD_S))
    expect(page.get_by_role("heading", name="Gradient Playground")).to_be_visible(timeout=ms(LOAD_S))
    expect(page).to_have_title(re.compile("Gradient Playground"))
    link = page.get_by_test_id("stMain").get_by_role("link", name="Gradients lab")
    expect(link).to_be_visible()
    settle(page)
    assert_no_stack_trace(page)

    link.click()
    expect(page.get_by_role("heading", name="Gradients lab")).to_be_visible()
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    assert re.search(r"/gradients(\?|$)", page.url), page.url
    settle(page)
    assert_no_stack_trace(page)


def test_compare_mode_numbers_are_whole_at_projector_width(page: Page, app_url: str, artifacts: Path) -> None:
    """A and B side by side at 1366 px: every number and its label read whole ("400 / 400" was cut to
    "400 …", "Test accuracy" to "Test accur…")."""
    page.set_viewport_size({"width": 1366, "height": 1400})
    open_page(page, f"{app_url}/gradients")
    choose_preset(page, "Vanishing vs cured", "Vanishing vs cured")
    page.get_by_role("button", name="Play").click()
    expect(page.get_by_text("Finished. Press")).to_be_visible(timeout=ms(TRAIN_S))
    settle(page)
    expect(step_metric(page)).to_have_text(["400 / 400", "400 / 400"])
    metrics = page.get_by_test_id("stMetric")
    assert metrics.count() == 8  # step, train loss, test loss, test accuracy for A and for B
    cut = metrics.evaluate_all(  # Streamlit ends a text too long for its box with an ellipsis
        "els => els.flatMap(m => [...m.querySelectorAll('[data-testid=stMarkdownContainer]')])"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)"
    )
    page.screenshot(path=str(artifacts / "gradients-compare-1366.png"))
    assert cut == [], f"cut short: {cut}"
    assert_no_stack_trace(page)
