"""Gradients lab: watch gradients vanish and explode, then cure them."""

import logging

import streamlit as st

from core.presets import GRADIENT_PRESETS
from ui import gradients as lab
from ui.controls import show_link_problems
from ui.live import live_view, transport
from ui.presets import preset_row
from ui.runs import sync_runs
from ui.startup import ensure_router

ensure_router()

log = logging.getLogger(__name__)

st.title(":material/trending_down: Gradients lab")
st.caption(
    "Deep networks learn only if the gradient reaches their first layers. Pick a depth, an "
    "activation and an initializer, press **Play**, and watch each layer's gradient norm."
)

settings = lab.store()
show_link_problems(lab.LAB)

preset_row(lab.LAB, GRADIENT_PRESETS, lab.apply_preset)

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


side = transport(lab.LAB, runs)
if len(runs) == 2:
    same = runs["A"].init_fingerprint == runs["B"].init_fingerprint
    weights = (
        "the same initial weights"
        if same
        else "different initial weights (their layers or initializers differ)"
    )
    side.caption(f"A fair comparison: the same data, the same batches in the same order, and {weights}.")
live_view(lab.LAB, runs, lambda t: lab.draw_all(runs, errors, t))
