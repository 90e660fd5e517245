"""What every lab page shares through ui.page: the same top, and one sentence when runs cannot be built."""

from __future__ import annotations

import pytest

from core.live import LEFT
from tests.apptest import click, open_page, runs
from ui.labs import images, multitask

LABS = {
    "pages/gradients.py": ("Gradients lab", "a network"),
    "pages/optimizers.py": ("Optimizers lab", "a network"),
    "pages/images.py": ("Images lab", "a CNN"),
    "pages/multitask.py": ("Two inputs, two outputs", "a model"),
    "pages/sequences.py": ("Sequences lab", "a network"),
    "pages/overfitting.py": ("Overfitting and tuning", "a network"),
}


@pytest.mark.parametrize("page", LABS)
def test_every_lab_has_a_title_a_caption_and_its_presets(page):
    at = open_page(page)
    title, _ = LABS[page]
    assert title in at.title[0].value
    assert at.caption and len(at.caption[0].value) > 40
    assert any(md.value.startswith("**Presets:**") for md in at.markdown)
    assert len(at.button) >= 3  # the presets, then Play, Pause, Step and Reset


@pytest.mark.parametrize("page", LABS)
def test_runs_that_cannot_be_built_give_one_sentence_and_no_trace(page, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")  # what a too-large model does to a small server

    monkeypatch.setattr("ui.page.sync_runs", broken)
    at = open_page(page)
    _, what = LABS[page]
    assert [e.value for e in at.error] == [
        f"These settings could not be built into {what}; try a smaller one."
    ]
    assert not at.exception


LAB_KEYS = {"pages/gradients.py": "grad", "pages/optimizers.py": "opt", "pages/images.py": "img",
            "pages/multitask.py": "mt", "pages/sequences.py": "seq",
            "pages/overfitting.py": "fit"}  # fmt: skip


@pytest.mark.parametrize("page", LABS)
def test_every_lab_plays_through_its_worker_and_pauses_when_left(page):
    """Play starts the session's worker (the script run returns at once); leaving the page pauses it."""
    at = open_page(page)
    worker = at.session_state[f"{LAB_KEYS[page]}:worker"]
    at.session_state[f"{LAB_KEYS[page]}:speed"] = "slow"  # the speed control: long enough to leave mid-run
    next(b for b in at.button if b.label == "Play").click()
    at.run()
    assert worker.busy and worker.snapshot().playing
    assert any("playing at Slow speed" in c.value for c in at.caption)
    at.switch_page("pages/home.py")
    at.run()
    assert not worker.snapshot().playing and worker.wait_idle(30)
    at.switch_page(page)
    at.run()
    assert any(i.value == LEFT for i in at.info) and not at.exception
    assert any("· paused" in c.value for c in at.caption)


def _setting_widgets(at) -> list:
    """Every widget drawn for a lab setting (ui.controls.ControlStore keys them "<lab>:w:<setting>")."""
    kinds = (at.selectbox, at.select_slider, at.slider, at.toggle, at.number_input)
    return [w for kind in kinds for w in kind if ":w:" in (w.key or "")]


def _default_is_value(widget) -> bool:
    """Whether the widget's own default, what a browser shows when it builds the widget without its
    state, is the value it has now."""
    default = widget.proto.default
    match type(widget).__name__:
        case "SelectSlider":
            return widget.options[int(default[0])] == str(widget.format_func(widget.value))
        case "Selectbox":
            return default == widget.index
        case "Slider":
            return list(default) == [widget.value]
    return default == widget.value  # a toggle, a number


@pytest.mark.parametrize("page", LABS)
def test_a_widget_rebuilt_without_its_state_shows_the_setting_not_its_first_option(page):
    """A browser that builds a widget anew without its state (a rerun that cuts across a redraw) falls
    back on the widget's own default and sends it as a change. That default is the setting: a CI run
    once saw every control of a page drop to its first option and lowest value after a preset played,
    and an optimizer race's third racer turn into a copy of the second."""
    at = open_page(page)
    presets = [b for b in at.button if b.help and b.label not in ("Play", "Pause", "Step", "Reset")]
    presets[-1].click()
    at.run()
    assert not at.exception
    widgets = _setting_widgets(at)
    assert len(widgets) >= 5
    assert [w.key for w in widgets if not _default_is_value(w)] == []


def test_a_new_optimizer_and_a_new_learning_rate_in_one_rerun_keep_the_optimizers_default():
    """Two changes in one rerun, the optimizer's first: its callback sets its default learning rate, which
    drops the learning rate's widget before that widget's own callback runs (it raised a KeyError)."""
    at = open_page("pages/gradients.py")
    at.selectbox(key="grad:w:a.optim.name").set_value("sgd")
    at.select_slider(key="grad:w:a.optim.lr").set_value(0.3)
    at.run()
    assert not at.exception
    assert at.session_state["grad:values"]["a.optim.lr"] == 0.1  # SGD's default, as one change alone gives
    assert at.select_slider(key="grad:w:a.optim.lr").value == 0.1


AB_PRESETS = [  # the labs whose every preset sets up A and B (each preset's lesson: tests/test_lessons_*)
    pytest.param(page, key, preset, id=f"{key}-{preset.short}")
    for page, key, module in (("pages/images.py", "img", images), ("pages/multitask.py", "mt", multitask))
    for preset in module.PAGE.presets.values()
]


@pytest.mark.parametrize(("page", "key", "preset"), AB_PRESETS)
def test_each_preset_sets_up_a_and_b_and_both_take_a_step(page, key, preset):
    """Training each preset to its end is its lesson test's job; here the page wiring."""
    at = click(open_page(page), preset.short)
    assert any(preset.name in i.value for i in at.info)
    assert {label: run.cfg for label, run in runs(at, key).items()} == {"A": preset.a, "B": preset.b}
    click(at, "Step")
    assert all(run.step == 1 for run in runs(at, key).values()) and not at.error
    assert any("A fair comparison" in c.value for c in at.caption)


def test_the_speed_and_the_lesson_mode_always_keep_a_choice_and_default_to_it():
    """Segmented buttons (ui.controls.kept_choice): a click on the chosen one, which Streamlit reads as
    none, keeps it; the buttons' own default, what a browser that rebuilds them shows, is the choice."""
    at = open_page("pages/gradients.py")
    for key, other in (("grad:speed", "slow"), ("lessons:grad:mode", "exercise")):
        at.button_group(key=key).set_value(other).run()
        assert at.button_group(key=key).value == other
        at.button_group(key=key).set_value(None).run()  # the chosen button clicked again
        buttons = at.button_group(key=key)
        assert buttons.value == other and not at.exception
        assert list(buttons.proto.default) == [buttons.options.index(buttons.format_func(other))]
    assert at.session_state["grad:worker"].snapshot().speed == "slow"
