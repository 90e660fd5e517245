"""Gradients lab: watch gradients vanish and explode, then cure them."""

import logging

import streamlit as st

from core.presets import GRADIENT_PRESETS
from core.training import Status
from ui import gradients as lab
from ui.live import advance_together, play
from ui.runs import session_runs, sync_runs

log = logging.getLogger(__name__)

st.title("📉 Gradients lab")
st.caption(
    "Deep networks learn only if the gradient reaches their first layers. Pick a depth, an "
    "activation and an initializer, press **Play**, and watch each layer's gradient norm."
)

settings = lab.store()
for problem in st.session_state.pop(f"{lab.LAB}:link_problems", []):
    st.warning(f"This link had a setting that could not be used, so it keeps its default: {problem}")

st.markdown("**Presets:** one click sets up a lesson.")
preset_cols = st.columns(len(GRADIENT_PRESETS))
for col, preset in zip(preset_cols, GRADIENT_PRESETS.values(), strict=True):
    col.button(preset.name, on_click=lab.apply_preset, args=(preset,), help=preset.lesson, width="stretch")
chosen = GRADIENT_PRESETS.get(st.session_state.get(f"{lab.LAB}:preset", ""))
if chosen:
    st.info(f"**{chosen.name}.** {chosen.lesson}")

with st.sidebar:
    settings.widget(lab.COMPARE)
    with st.expander("Data and training (shared)", expanded=False):
        lab.shared_controls(settings, st)
    if settings.values["compare"]:
        for tab, label in zip(st.tabs(["A", "B"]), lab.LABELS, strict=True):
            lab.model_controls(settings, label.lower() + ".", tab)
    else:
        lab.model_controls(settings, "a.", st)
lab.write_link(settings)

try:
    runs, errors = sync_runs(lab.LAB, lab.configs(settings))
except Exception:  # never a stack trace on screen; the server log keeps it
    log.exception("could not build the runs")
    st.error("These settings could not be built into a network; try a smaller one.")
    st.stop()


def _each(action):
    for run in session_runs(lab.LAB).values():
        action(run)


def _step():
    _each(lambda run: run.pause())
    live = [run for run in session_runs(lab.LAB).values() if not run.done]
    if live:
        advance_together(live, max_steps=1, seconds=5.0)


playing = any(run.status is Status.PLAYING for run in runs.values())
all_done = bool(runs) and all(run.done for run in runs.values())
buttons = st.columns([1, 1, 1, 1, 4])
buttons[0].button(
    "▶ Play",
    type="primary",
    disabled=playing or all_done or not runs,
    on_click=_each,
    args=(lambda run: run.play(),),
    width="stretch",
)
buttons[1].button(
    "⏸ Pause", disabled=not playing, on_click=_each, args=(lambda run: run.pause(),), width="stretch"
)
buttons[2].button("⏭ Step", disabled=all_done or not runs, on_click=_step, width="stretch")
buttons[3].button("↺ Reset", on_click=_each, args=(lambda run: run.reset(),), width="stretch")
with buttons[4]:
    if len(runs) == 2:
        a, b = runs["A"], runs["B"]
        same = (
            "the same initial weights"
            if a.init_fingerprint == b.init_fingerprint
            else "different initial weights (the architectures or initializers differ)"
        )
        st.caption(f"A fair comparison: the same data, the same batches in the same order, and {same}.")
    if all_done:
        st.caption("Finished. Press **Reset** to train again from the same start.")

slot = st.empty()


def draw(tick: int) -> None:
    with slot.container():
        lab.draw_all(runs, errors, tick)


try:
    draw(0)
    play(list(runs.values()), draw)
except Exception:
    log.exception("training or drawing failed")
    _each(lambda run: run.pause())
    st.error("Something went wrong while training; the run is paused. Try smaller settings or Reset.")
