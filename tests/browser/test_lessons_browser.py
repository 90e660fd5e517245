"""A guided lesson and an exercise in a real browser, as a class meets them: a link opens the lesson,
the class predicts, Play trains, the reveal quotes what the run measured; an exercise's check turns to
✔ while the student's run plays."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.lessons import LESSONS
from tests.browser.test_gradients_browser import (  # noqa: F401 (server_log_clean: an autouse fixture)
    TRAIN_S,
    assert_no_stack_trace,
    ms,
    open_page,
    server_log_clean,
    settle,
    sidebar_widget,
)

pytestmark = pytest.mark.browser
expect.set_options(timeout=60_000)

LESSON = LESSONS.get("gradients")
PREDICTIONS = (2, 1, 0, 1)  # the class's answer at each step: right, right, wrong (step 3), right


def panel(page: Page):
    """The lesson and exercise panel at the top of the page (an expander)."""
    return page.get_by_test_id("stMain").get_by_test_id("stExpander").first


def reveal(page: Page):
    return page.get_by_test_id("stAlert").filter(has_text="Measured:")


def test_a_guided_lesson_from_its_link_to_its_last_step(page: Page, app_url: str, artifacts: Path):
    open_page(page, f"{app_url}/gradients?lesson=gradients&step=1")
    for n, (step, choice) in enumerate(zip(LESSON.steps, PREDICTIONS, strict=True), 1):
        expect(panel(page)).to_contain_text(f"step {n} of {len(LESSON.steps)}: {step.title}")
        expect(page.get_by_text(step.question)).to_be_visible()
        expect(reveal(page)).to_have_count(0)  # nothing is revealed before the class has predicted and run
        page.get_by_test_id("stRadio").get_by_text(step.choices[choice], exact=True).click()
        expect(page.get_by_text("Your prediction is in")).to_be_visible()
        page.get_by_role("button", name="Play").click()
        expect(reveal(page)).to_be_visible(timeout=ms(TRAIN_S))
        text = reveal(page).inner_text()
        verdict = "Right" if choice == step.answer else "Not this time"
        assert verdict in text and re.search(r"\d", text), text
        if n <= 2:  # the accuracy it quotes is the one the page's metric shows, once the page has settled
            settle(page)  # (read at once, the metric was once still the last redraw's: 96% against 90%)
            metric = page.get_by_test_id("stMetric").filter(has_text="Test accuracy")
            accuracy = metric.get_by_test_id("stMetricValue")
            deadline = time.monotonic() + 30
            while accuracy.inner_text() not in reveal(page).inner_text():
                assert time.monotonic() < deadline, (accuracy.inner_text(), reveal(page).inner_text())
                page.wait_for_timeout(250)
        if n == 2:
            settle(page)
            page.screenshot(path=str(artifacts / "lesson-reveal.png"))
        if n < len(LESSON.steps):
            page.get_by_role("button", name="Next").click()
            expect(page).to_have_url(re.compile(rf"step={n + 1}"))
    expect(reveal(page)).to_contain_text("scaled down to 0.5")
    page.get_by_role("button", name="Finish").click()
    expect(panel(page)).to_contain_text("Guided lesson and exercises")
    expect(page).not_to_have_url(re.compile(r"lesson="))
    assert_no_stack_trace(page)


def test_an_exercise_turns_to_a_check_mark_while_the_run_plays(page: Page, app_url: str, artifacts: Path):
    open_page(page, f"{app_url}/gradients?exercise=sigmoid-85")
    check = page.get_by_test_id("stAlert").filter(has_text="Make ten sigmoid layers learn")
    expect(check).to_contain_text("goal 85%")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_test_id("stCheckbox").filter(has_text="BatchNorm").get_by_text("BatchNorm").click()
    expect(sidebar.get_by_role("switch", name="BatchNorm")).to_be_checked()
    settle(page)
    sidebar.get_by_test_id("stExpander").filter(has_text="Data and training").locator("summary").click()
    batch = sidebar_widget(page, "stSlider", "Batch size")
    batch.get_by_role("slider").focus()
    for _ in range(2):  # 32 -> 64 -> 128
        batch.get_by_role("slider").press("ArrowRight")
        page.wait_for_timeout(300)
    expect(batch.get_by_test_id("stSliderThumbValue")).to_have_text("128")
    settle(page)
    expect(check).not_to_contain_text("keep ")  # ten sigmoid layers still
    page.get_by_role("button", name="Play").click()
    expect(check).to_contain_text("goal met", timeout=ms(TRAIN_S))
    assert "✔" in check.inner_text()
    assert "exercise=sigmoid-85" in page.url
    settle(page)
    page.screenshot(path=str(artifacts / "exercise-met.png"))
    assert_no_stack_trace(page)
