"""Links carry the lesson: the preset (its settings and its lesson box), the open tab, hidden controls,
and presenter mode."""

from __future__ import annotations

import pytest

from core.gradients.presets import GRADIENT_PRESETS
from tests.apptest import click, open_page
from ui.labs import optimizers

VANISHING = next(p for p in GRADIENT_PRESETS.values() if p.short == "Vanishing")
MOMENTUM = next(p for p in optimizers.PRESETS.values() if p.tab == optimizers.SURFACE_TAB)


def lesson_boxes(at) -> list[str]:
    return [box.value for box in at.info]


def test_a_preset_click_puts_the_lesson_in_the_link_and_the_link_opens_it():
    at = open_page("pages/gradients.py")
    click(at, VANISHING.short)
    assert at.query_params["preset"] == VANISHING.short
    link = dict(at.query_params.items())
    fresh = open_page("pages/gradients.py", link)  # a new session: a student opening the shared link
    assert any(VANISHING.name in box for box in lesson_boxes(fresh))
    assert fresh.session_state["grad:values"]["a.model.depth"] == VANISHING.a.model.depth


def test_the_links_own_settings_win_over_its_presets():
    at = open_page("pages/gradients.py", {"preset": "vanishing", "a.model.depth": "4"})
    assert any(VANISHING.name in box for box in lesson_boxes(at))
    assert at.session_state["grad:values"]["a.model.depth"] == 4
    assert at.session_state["grad:values"]["a.model.activation"] == VANISHING.a.model.activation


def test_an_unknown_lesson_in_a_link_is_one_sentence():
    at = open_page("pages/gradients.py", {"preset": "no such lesson"})
    assert [w.value for w in at.warning if "does not have" in w.value]
    assert "preset" not in at.query_params


def test_a_surface_lesson_opens_its_tab_from_a_click_and_from_a_link():
    at = open_page("pages/optimizers.py")
    click(at, MOMENTUM.short)
    assert at.session_state["tab"] == optimizers.SURFACE_TAB
    fresh = open_page("pages/optimizers.py", {"preset": MOMENTUM.short})
    assert fresh.session_state["tab"] == optimizers.SURFACE_TAB
    assert any(MOMENTUM.name in box for box in lesson_boxes(fresh))


@pytest.mark.parametrize(
    ("hide", "gone", "kept"),
    [
        ("model.depth,learning rate", {"Hidden layers", "Learning rate"}, {"Activation", "Initializer"}),
        ("others", {"Weight decay", "Learning rate"}, {"Hidden layers", "Activation"}),
    ],
)
def test_hide_leaves_only_the_controls_a_teacher_wants(hide, gone, kept):
    at = open_page("pages/gradients.py", {"preset": "vanishing", "hide": hide})
    shown = {w.label for w in [*at.sidebar.slider, *at.sidebar.select_slider, *at.sidebar.selectbox]}
    assert not gone & shown and kept <= shown, shown
    assert at.session_state["grad:values"]["a.model.depth"] == VANISHING.a.model.depth  # hidden, still used
    assert "hide" in at.query_params  # the link keeps it when the page rewrites its settings


def test_presenter_mode_from_the_link_is_kept_in_it():
    at = open_page("pages/gradients.py", {"present": "1"})
    assert at.session_state["present"] is True
    click(at, VANISHING.short)
    assert at.query_params["present"] == "1" and at.query_params["preset"] == VANISHING.short
    assert not [m for m in at.markdown if "one click sets up a lesson" in m.value]  # a compact top


def test_presenter_mode_can_be_turned_off_again():
    at = open_page("pages/gradients.py", {"present": "1"})
    next(t for t in at.sidebar.toggle if t.label == "Presenter mode").set_value(False).run()
    assert at.session_state["present"] is False and "present" not in at.query_params
    at.run()
    assert at.session_state["present"] is False
