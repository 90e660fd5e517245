"""Guided lessons and exercises on the lab pages, through Streamlit's AppTest: a link opens a step, the
class answers, Play trains it, and the reveal quotes the run's numbers; an exercise's check follows the
run and shows ✔ once the goal is met."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core.lessons import LESSONS, exercises_of, reveal
from tests.apptest import click, open_page, runs

PAGES = {  # link name -> (page, the lab's session-state prefix)
    "gradients": ("pages/gradients.py", "grad"),
    "optimizers": ("pages/optimizers.py", "opt"),
    "images": ("pages/images.py", "img"),
    "multitask": ("pages/multitask.py", "mt"),
    "sequences": ("pages/sequences.py", "seq"),
    "overfitting": ("pages/overfitting.py", "fit"),
}


def unescaped(text: str) -> str:
    """An element's text as a person reads it (ui.lessons.plain escapes Markdown's special characters)."""
    return re.sub(r"\\(.)", r"\1", text)


def param(at: AppTest, key: str) -> str | None:
    """A link parameter as the page last wrote it (AppTest keeps a list or a string)."""
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def panel_label(at: AppTest) -> str:
    return next(e.label for e in at.expander if e.label.startswith(("Guided lesson", "Exercise")))


def open_lab(lab: str, query: dict[str, str] | None = None) -> AppTest:
    return open_page(PAGES[lab][0], query)


def answer(at: AppTest, question: str, choice: int) -> AppTest:
    next(r for r in at.radio if question in r.label).set_value(choice)
    at.run()
    assert not at.exception, at.exception
    return at


def step_runs(at: AppTest, lab: str) -> dict:
    return runs(at, PAGES[lab][1])


# one number per lab's step 2, read from the run itself, that its reveal must quote
QUOTED = {
    "gradients": lambda r: f"{r['A'].evals[-1].test_accuracy:.0%}",
    "optimizers": lambda r: f"{min(run.evals[-1].train_loss for run in r.values()):.3f}",
    "images": lambda r: f"{r['B'].report.accuracy:.1%}",
    "multitask": lambda r: f"{r['B'].evals[-1].score['char']:.1%}",
    "sequences": lambda r: f"{r['RNN'].evals[-1].test_mse:.3f}",
    "overfitting": lambda r: f"{r['B'].best.val_loss:.2f}",
}


@pytest.mark.slow
@pytest.mark.parametrize("lab", list(PAGES))
def test_a_link_opens_step_2_and_its_reveal_quotes_the_run(lab):
    at = open_lab(lab, {"lesson": lab, "step": "2"})
    step = LESSONS.get(lab).steps[1]
    assert f"step 2 of {len(LESSONS.get(lab).steps)}: {step.title}" in panel_label(at)
    assert not any("You changed" in c.value for c in at.caption)  # the loaded setup is the step's own
    assert param(at, "lesson") == lab and param(at, "step") == "2"
    answer(at, step.question, step.answer)
    assert any("Now press **Play**" in c.value for c in at.caption)
    click(at, "Play")
    trained = step_runs(at, lab)
    assert trained and all(run.done for run in trained.values())
    shown = reveal(step, trained)
    box = next(s for s in at.success if "**Measured:**" in s.value)
    text = unescaped(box.value)
    assert box.icon == "✔" and step.choices[step.answer].lower() in text
    assert shown.measured in text and QUOTED[lab](trained) in text
    assert not any("You changed" in c.value for c in at.caption)


def activation(at: AppTest) -> str:
    return at.session_state["grad:values"]["a.model.activation"]


def test_a_lesson_goes_forward_and_back_and_keeps_its_step_in_the_link():
    at = open_lab("gradients")
    assert panel_label(at) == "Guided lesson and exercises"
    click(at, "Start the lesson")
    assert panel_label(at).startswith("Guided lesson · step 1 of 4")
    assert param(at, "step") == "1" and activation(at) == "sigmoid"
    assert not any(i.value.startswith("**Vanishing") for i in at.info)  # its preset's box tells the answer
    click(at, "Next")
    assert panel_label(at).startswith("Guided lesson · step 2 of 4: The same depth, cured")
    assert param(at, "step") == "2" and activation(at) == "elu"
    click(at, "Back")
    assert param(at, "step") == "1" and activation(at) == "sigmoid"
    for _ in range(3):
        click(at, "Next")
    click(at, "Finish")
    assert panel_label(at) == "Guided lesson and exercises"
    assert "lesson" not in at.query_params and "step" not in at.query_params


def test_a_changed_setup_is_said_and_can_be_loaded_again():
    at = open_lab("gradients", {"lesson": "gradients", "step": "1"})
    at.slider(key="grad:w:a.model.depth").set_value(6)
    at.run()
    assert any("You changed this step's setup" in c.value for c in at.caption)
    click(at, "Load the step's setup again")
    assert at.slider(key="grad:w:a.model.depth").value == 10
    assert not any("You changed" in c.value for c in at.caption)


def test_runs_changed_too_far_for_the_question_say_so_instead_of_a_reveal():
    at = open_lab("gradients", {"lesson": "gradients", "step": "4"})
    at.select_slider(key="grad:w:a.train.clip_norm").set_value(0.0)  # the clipping step without clipping
    at.run()
    step = LESSONS.get("gradients").steps[3]
    answer(at, step.question, step.answer)
    click(at, "Play")
    assert any("no longer answer this step's question" in c.value for c in at.caption)
    assert not any("**Measured:**" in box.value for box in [*at.success, *at.warning])


def test_a_wrong_prediction_is_told_with_what_the_run_showed():
    at = open_lab("gradients", {"lesson": "gradients", "step": "3"})
    step = LESSONS.get("gradients").steps[2]
    answer(at, step.question, 0)
    click(at, "Play")
    box = next(w for w in at.warning if "**Measured:**" in w.value)
    assert "Not this time: the loss blows up and the run stops" in box.value
    assert f"diverged at step {step_runs(at, 'gradients')['A'].diverged_at}" in box.value


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"lesson": "gradients", "step": "9"}, "This lesson has steps 1 to 4, so the link opens step 4."),
        ({"lesson": "gradients", "step": "two"}, "not a number"),
        ({"lesson": "chemistry"}, "another lab's lesson"),
        ({"exercise": "nope"}, "sigmoid-85, tame-exploding"),
    ],
)
def test_a_bad_lesson_link_gets_one_sentence_and_no_trace(query, says):
    at = open_lab("gradients", query)
    assert any(says in unescaped(w.value) for w in at.warning), [w.value for w in at.warning]
    assert not at.exception


@pytest.mark.parametrize("lab", list(PAGES))
def test_every_exercise_starts_from_a_setup_that_keeps_its_rules(lab):
    exercises = exercises_of(lab)
    at = open_lab(lab, {"exercise": exercises[0].id})
    for exercise in exercises:
        if exercise is not exercises[0]:
            at.selectbox(key=f"lessons:{PAGES[lab][1]}:exercise").set_value(exercise.id)
            at.run()
        assert panel_label(at) == f"Exercise: {exercise.title}"
        assert param(at, "exercise") == exercise.id
        check = next(i for i in at.info if i.value.startswith(f"**{exercise.title}**"))
        assert "keep " not in check.value, check.value  # every rule holds at the start
        assert not at.exception


SOLUTIONS = {  # exercise -> widget settings that meet it (see tests/test_lessons_guided.py)
    "gradients": ("sigmoid-85", [("toggle", "grad:w:a.model.batchnorm", True),
                                 ("select_slider", "grad:w:train.batch_size", 128)]),
    "optimizers": ("sgd-largest-lr", [("select_slider", "opt:w:r0.optim.lr", 3.0)]),
    "images": ("sgd-90", [("toggle", "img:w:a.model.batchnorm", True)]),
    "multitask": ("alphabet-with-angle", [("selectbox", "mt:w:a.loss.normalise", "start"),
                                          ("select_slider", "mt:w:train.steps", 200)]),
    "sequences": ("small-forecaster", [("toggle", "seq:w:cells.gru", False),
                                       ("select_slider", "seq:w:model.hidden", 8)]),
    "overfitting": ("lower-val-loss", [("select_slider", "fit:w:a.optim.weight_decay", 0.01)]),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("lab", list(PAGES))
def test_an_exercise_reaches_its_check_mark_as_the_run_plays(lab):
    exercise_id, widgets = SOLUTIONS[lab]
    title = next(e.title for e in exercises_of(lab) if e.id == exercise_id)
    at = open_lab(lab, {"exercise": exercise_id})
    assert not any(s.icon == "✔" for s in at.success)
    for kind, key, value in widgets:
        getattr(at, kind)(key=key).set_value(value)
        at.run()
    click(at, "Play")
    met = next(s for s in at.success if s.value.startswith(f"**{title}** · goal met"))
    assert met.icon == "✔" and not at.exception
