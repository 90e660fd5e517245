"""A lab's guided lesson and exercises: one compact panel near the top of its page, and the exercise's
check inside the live redraw.

The panel is an expander, collapsed unless a lesson step or an exercise is on (a link such as
`?lesson=gradients&step=2` or `?exercise=sigmoid-85` turns one on). A step loads its preset through the
lab's own `apply_preset`, asks its question, and once the runs have finished reveals what they measured
(core.lessons). An exercise's verdict is drawn at every redraw of the live view, from the snapshot
being drawn and the lab's settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import streamlit as st

from core.lessons import LESSONS, Exercise, Lesson, evaluate, exercises_of, reveal
from core.snapshots import Snapshot
from ui.charts import presenting
from ui.controls import PAGE_PARAMS, ControlStore, kept_choice, lab_key
from ui.lab import Lab
from ui.presets import PRESET, TAB
from ui.runs import session_worker

LINK_NAMES = {
    "grad": "gradients",
    "opt": "optimizers",
    "img": "images",
    "mt": "multitask",
    "seq": "sequences",
    "fit": "overfitting",
}
MODES = {"lesson": "Guided lesson", "exercise": "Exercises"}
LINK_KEYS = ("lesson", "step", "exercise")
MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~$:])")


def plain(text: str) -> str:
    """Text shown as it is: Markdown's and Streamlit's special characters escaped (class names come from
    uploads, settings from links)."""
    return MARKDOWN.sub(r"\\\1", text)


def _key(lab: str, name: str) -> str:
    return f"lessons:{lab}:{name}"


def _store(lab: Lab) -> ControlStore:
    return ControlStore(lab.key, lab.defaults)


# ---- loading setups --------------------------------------------------------------------------------


def _load(lab: Lab, name: str, values: Mapping | None = None) -> None:
    """Apply one of the lab's presets (and values on top), as its button would; remember the result."""
    preset = lab.presets.get(name)
    if preset is None:  # a renamed preset: one sentence on screen (a test checks every name)
        st.session_state[_key(lab.key, "problems")] = [f"This setup is missing from the lab: {name}."]
        return
    lab.apply_preset(preset)
    if values:
        _store(lab).set(values)
    st.session_state.pop(
        lab_key(lab.key, "preset"), None
    )  # the preset's lesson box would give the answer away
    if PRESET in st.query_params:  # nor may the link name another preset than the one loaded
        del st.query_params[PRESET]
    if tab := getattr(preset, "tab", None):  # the page tab the preset's story is on
        st.session_state[TAB] = tab
    st.session_state[_key(lab.key, "loaded")] = dict(_store(lab).values)


def _go(lab: Lab, lesson: Lesson, n: int) -> None:
    """Show step n (1-based) of the lesson: its preset loaded, its answer not yet given."""
    st.session_state[_key(lab.key, "mode")] = "lesson"
    st.session_state[_key(lab.key, "step")] = n
    st.session_state.pop(_key(lab.key, f"answer:{n}"), None)
    _load(lab, lesson.steps[n - 1].preset)


def _end(lab: Lab) -> None:
    st.session_state[_key(lab.key, "step")] = None


def _start_exercise(lab: Lab, exercise: Exercise) -> None:
    _load(lab, exercise.start, exercise.start_values)


def _chosen(lab: Lab, exercises: Mapping[str, Exercise]) -> None:
    """The exercise picker's callback: the chosen exercise starts from its own setup."""
    if (chosen := exercises.get(st.session_state[_key(lab.key, "exercise")])) is not None:
        _start_exercise(lab, chosen)


# ---- the link --------------------------------------------------------------------------------------


def _read_link(lab: Lab, lesson: Lesson, exercises: Mapping[str, Exercise]) -> None:
    """On the session's first visit, a lesson step or an exercise from the link. A link that carries
    settings of its own keeps them (a student's shared attempt); a bare one loads the setup."""
    flag = _key(lab.key, "linked")
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    params = st.query_params.to_dict()
    own_settings = any(key not in PAGE_PARAMS for key in params)
    problems = []
    if "lesson" in params:
        if params["lesson"] != lesson.lab:
            problems.append(f"This link asks for another lab's lesson; this lab's lesson is '{lesson.lab}'.")
        else:
            n, problem = _step_of(params.get("step", "1"), len(lesson.steps))
            problems += [problem] if problem else []
            st.session_state[_key(lab.key, "mode")] = "lesson"
            st.session_state[_key(lab.key, "step")] = n
            if not own_settings:
                _go(lab, lesson, n)
    elif "exercise" in params:
        exercise = exercises.get(params["exercise"])
        if exercise is None:
            names = ", ".join(exercises)
            problems.append(f"This link asks for an exercise this lab does not have; its exercises: {names}.")
        else:
            st.session_state[_key(lab.key, "mode")] = "exercise"
            st.session_state[_key(lab.key, "exercise")] = exercise.id
            if not own_settings:
                _start_exercise(lab, exercise)
    key = _key(lab.key, "problems")
    st.session_state[key] = st.session_state.get(key, []) + problems  # after any _load's own


def _step_of(text: str, steps: int) -> tuple[int, str | None]:
    """(step, problem): the link's step, or the nearest one there is."""
    try:
        n = int(text)
    except ValueError:
        return 1, "This link's lesson step is not a number, so the lesson starts at step 1."
    if 1 <= n <= steps:
        return n, None
    nearest = min(max(n, 1), steps)
    return nearest, f"This lesson has steps 1 to {steps}, so the link opens step {nearest}."


def _write_link(lab: Lab, lesson: Lesson) -> None:
    """Mirror the lesson's step or the exercise into the link (the lab's write_link keeps them)."""
    wanted: dict[str, str] = {}
    mode = st.session_state.get(_key(lab.key, "mode"))
    if mode == "lesson" and (n := st.session_state.get(_key(lab.key, "step"))):
        wanted = {"lesson": lesson.lab, "step": str(n)}
    elif mode == "exercise" and (exercise := st.session_state.get(_key(lab.key, "exercise"))):
        wanted = {"exercise": exercise}
    for key in LINK_KEYS:
        if key in wanted and st.query_params.get(key) != wanted[key]:
            st.query_params[key] = wanted[key]
        elif key not in wanted and key in st.query_params:
            del st.query_params[key]


# ---- the panel -------------------------------------------------------------------------------------


def active_exercise(lab: str) -> Exercise | None:
    """The exercise this lab's page checks now, if any."""
    if st.session_state.get(_key(lab, "mode")) != "exercise":
        return None
    chosen = st.session_state.get(_key(lab, "exercise"))
    return next((e for e in exercises_of(LINK_NAMES[lab]) if e.id == chosen), None)


def step_open(lab: Lab) -> bool:
    """Whether the page shows a guided lesson's step: one is open, or the link opens one on this
    first visit (read by panel(), which comes after the presets)."""
    if not st.session_state.get(_key(lab.key, "linked")):
        return st.query_params.get("lesson") == LESSONS.get(LINK_NAMES[lab.key]).lab
    lesson_mode = st.session_state.get(_key(lab.key, "mode")) == "lesson"
    return lesson_mode and bool(st.session_state.get(_key(lab.key, "step")))


def panel(lab: Lab, settings: ControlStore) -> None:
    """The guided lesson and the exercises of the lab, in one expander."""
    lesson = LESSONS.get(LINK_NAMES[lab.key])
    exercises = {e.id: e for e in exercises_of(lesson.lab)}
    _read_link(lab, lesson, exercises)
    mode_key = _key(lab.key, "mode")
    st.session_state.setdefault(mode_key, "lesson")  # read below, before its buttons are drawn
    n = st.session_state.get(_key(lab.key, "step"))
    exercise = active_exercise(lab.key)
    if st.session_state[mode_key] == "lesson" and n:
        label, on = f"Guided lesson · step {n} of {len(lesson.steps)}: {lesson.steps[n - 1].title}", True
    elif exercise is not None:
        label, on = f"Exercise: {exercise.title}", True
    else:
        label, on = "Guided lesson and exercises", False
    with st.expander(label, expanded=on, icon=":material/school:"):
        for problem in st.session_state.pop(_key(lab.key, "problems"), []):
            st.warning(plain(problem))
        # presenter mode, a step open: the step's question, Back and Next share one row (the expander's
        # label names the step; Finish, on the last step, brings back the switch to the exercises) and
        # the teacher says the hints, so that the lab's key chart stays on a projector's first screen
        compact = presenting() and st.session_state[mode_key] == "lesson" and bool(n)
        row = st.columns([6, 1, 1], vertical_alignment="center") if compact else None
        if not compact:
            kept_choice(st, "Mode", MODES, mode_key, "lesson")
        st.session_state[_key(lab.key, "waiting")] = False
        if st.session_state[mode_key] == "lesson":
            _lesson_view(lab, lesson, settings, nav=row if row else None)
        else:
            _exercise_view(lab, exercises, settings)
    _write_link(lab, lesson)


def _lesson_view(lab: Lab, lesson: Lesson, settings: ControlStore, nav: list | None = None) -> None:
    n = st.session_state.get(_key(lab.key, "step"))
    if not n:
        st.markdown(f"**{lesson.title}.** {lesson.intro}")
        st.caption(" · ".join(f"{i}. {step.title}" for i, step in enumerate(lesson.steps, 1)))
        st.button(
            "Start the lesson",
            icon=":material/school:",
            type="primary",
            on_click=_go,
            args=(lab, lesson, 1),
        )
        return
    step = lesson.steps[n - 1]
    _step_nav(lab, lesson, n, nav)
    if settings.values != st.session_state.get(_key(lab.key, "loaded"), settings.values):
        cols = st.columns([5, 2], vertical_alignment="center")
        cols[0].caption("You changed this step's setup: what it measures below comes from your own run.")
        cols[1].button("Load the step's setup again", on_click=_go, args=(lab, lesson, n),
                       key=_key(lab.key, "reload"), width="stretch")  # fmt: skip
    answer = st.radio(
        f"**{step.question}**",
        range(len(step.choices)),
        format_func=step.choices.__getitem__,
        index=None,
        horizontal=True,
        key=_key(lab.key, f"answer:{n}"),
        label_visibility="collapsed" if nav else "visible",
    )
    _step_answer(lab, step, answer, quiet=bool(nav))


def _step_nav(lab: Lab, lesson: Lesson, n: int, nav: list | None) -> None:
    """The step's heading with Back and Next (Finish on the last step); in presenter mode the
    question heads the row instead."""
    step, total = lesson.steps[n - 1], len(lesson.steps)
    if nav:  # presenter mode: the question heads the row, and no hints below the choices
        head, back, forward = nav
        head.markdown(f"**{step.question}**")
    else:
        head, back, forward = st.columns([5, 1, 1], vertical_alignment="center")
        head.markdown(f"**Step {n} of {total} · {step.title}**")
    back.button("Back", icon=":material/arrow_back:", width="stretch", disabled=n == 1, on_click=_go,
                args=(lab, lesson, n - 1), key=_key(lab.key, "back"))  # fmt: skip
    if n < total:
        forward.button("Next", icon=":material/arrow_forward:", width="stretch", on_click=_go,
                       args=(lab, lesson, n + 1), key=_key(lab.key, "next"))  # fmt: skip
    else:
        forward.button("Finish", icon=":material/done_all:", width="stretch", on_click=_end, args=(lab,),
                       key=_key(lab.key, "finish"))  # fmt: skip


def _step_answer(lab: Lab, step, answer: int | None, quiet: bool) -> None:
    """What the step says under its choices: what to do next, or, once the run has measured it,
    whether the class's prediction was right and why (quiet: no hints, as in presenter mode)."""
    caption = (lambda text: None) if quiet else st.caption
    snap = session_worker(lab.key).snapshot()
    shown = reveal(step, snap.runs)
    st.session_state[_key(lab.key, "waiting")] = not snap.finished  # see checked(): the reveal follows
    if snap.finished and shown is None:
        st.caption("These runs no longer answer this step's question: load the step's setup again.")
        return
    if answer is None and shown is not None:
        st.caption("The run has finished: pick the class's prediction to see what it measured.")
        return
    if answer is None:
        caption(f"Decide with the class and pick an answer, then press **Play**. Watch {step.watch}")
        return
    if shown is None:
        caption(f"Your prediction is in. Now press **Play** and watch {step.watch}")
        return
    if shown.shown == answer:
        box, icon, verdict = st.success, "✔", f"**Right: {step.choices[answer].lower()}.**"
    else:
        box, icon, verdict = (
            st.warning,
            ":material/close:",
            f"**Not this time: {step.choices[shown.shown].lower()}.**",
        )
    box(f"{verdict}  \n**Measured:** {plain(shown.measured)}  \n**Why:** {shown.why}", icon=icon)


def _exercise_view(lab: Lab, exercises: Mapping[str, Exercise], settings: ControlStore) -> None:
    key = _key(lab.key, "exercise")
    cols = st.columns([5, 2], vertical_alignment="bottom")
    cols[0].selectbox(
        "Exercise",
        list(exercises),
        format_func=lambda i: exercises[i].title,
        index=None,
        placeholder="Choose an exercise",
        key=key,
        on_change=_chosen,
        args=(lab, exercises),
    )
    exercise = exercises.get(st.session_state.get(key))
    if exercise is None:
        st.caption(
            "Each exercise sets a goal and loads a starting point; change the settings, press **Play**, and "
            "the page checks your run against the goal as it plays."
        )
        return
    cols[1].button("Start it again", icon=":material/restart_alt:", width="stretch", on_click=_start_exercise,
                   args=(lab, exercise), key=_key(lab.key, "restart"))  # fmt: skip
    st.markdown(exercise.task)
    hint, keep = st.columns([1, 5], vertical_alignment="center")
    with hint.popover("Hint", icon=":material/lightbulb:"):
        st.write(exercise.hint)
    if exercise.rules:
        keep.caption("Keep " + "; ".join(rule.text for rule in exercise.rules) + ".")
    st.caption("The check under the Play button follows your run as it plays: ✔ when the goal is met.")


# ---- the live check ------------------------------------------------------------------------------


def show_check(exercise: Exercise, values: Mapping, snap: Snapshot) -> None:
    """The exercise's verdict on this snapshot, in one line: ✔, or what is still missing."""
    verdict = evaluate(exercise, values, snap.runs, snap.lr_changes)
    if verdict.met:
        st.success(f"**{exercise.title}** · goal met: {plain(verdict.progress)}.", icon="✔")
    else:
        st.info(f"**{exercise.title}** · {plain(verdict.missing)}.", icon=":material/flag:")


def checked(lab: Lab, settings: ControlStore, draw: Callable[[Snapshot], None]) -> Callable:
    """draw, preceded at every redraw by the check of the exercise on show, and followed by the lesson's
    reveal: a step's panel drawn while its runs trained is drawn again once they have finished.

    The panel sits above the live view, so it may have been drawn a moment before the runs ended (a run
    that diverges in four steps ends before the page reaches its charts); live_view reruns the page at
    the end of a run only if it saw it playing.
    """
    exercise = active_exercise(lab.key)
    waiting = _key(lab.key, "waiting")

    def draw_checked(snap: Snapshot) -> None:
        if snap.finished and st.session_state.get(waiting):
            st.session_state[waiting] = False
            st.rerun()
        if exercise is not None:
            show_check(exercise, settings.values, snap)
        draw(snap)

    return draw_checked
