"""Gradients lab: watch gradients vanish and explode, then cure them."""

import streamlit as st

from ui import lessons
from ui.compare import LABELS
from ui.labs import gradients as lab
from ui.live import live_view, transport
from ui.page import build_runs, fair_note, lab_top
from ui.startup import ensure_router

ensure_router()
settings = lab_top(
    lab.PAGE,
    ":material/trending_down: Gradients lab",
    "Deep networks learn only if the gradient reaches their first layers. Pick a depth, an "
    "activation and an initializer, press **Play**, and watch each layer's gradient norm.",
)

with st.sidebar:
    settings.widget(lab.COMPARE)
    with st.expander("Data and training (shared)", expanded=False):
        lab.shared_controls(settings, st)
    if settings.values["compare"]:
        for tab, label in zip(st.tabs(list(LABELS)), LABELS, strict=True):
            lab.model_controls(settings, label.lower() + ".", tab)
    else:
        lab.model_controls(settings, "a.", st)
lab.write_link(settings)

runs, errors = build_runs(lab.LAB, lab.configs(settings))


side = transport(lab.LAB)
if len(runs) == 2:
    same = runs["A"].init_fingerprint == runs["B"].init_fingerprint
    weights = (
        "the same initial weights"
        if same
        else "different initial weights (their layers or initializers differ)"
    )
    fair_note(side, f"A fair comparison: the same data, the same batches in the same order, and {weights}.")
live_view(lab.LAB, lessons.checked(lab.PAGE, settings, lambda snap: lab.draw_all(snap, errors)))
lab.draw_code({label: cfg for label, cfg in lab.configs(settings).items() if label not in errors})
