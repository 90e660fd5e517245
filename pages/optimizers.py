"""Optimizers lab: a fair race between optimizers, and their paths on a loss surface."""

import streamlit as st

from ui import lessons
from ui.controls import write_link
from ui.labs import optimizers as lab
from ui.live import live_view, transport
from ui.page import build_runs, lab_top, show_refusals
from ui.presets import lab_tabs
from ui.startup import ensure_router

ensure_router()
settings = lab_top(
    lab.PAGE,
    ":material/speed: Optimizers lab",
    "SGD, momentum, Adagrad, RMSprop, Adam: the same network, the same starting weights, the same "
    "batches. Only the optimizer differs, so the race is fair. Then watch them walk a loss surface.",
)

with st.sidebar:
    settings.widget(lab.RACERS)
    for i, tab in enumerate(st.tabs(list(lab.lanes(settings)))):
        lab.fields.draw(settings, list(lab.fields.OPTIMIZER.values()), f"r{i}.", tab)
write_link(settings)

race_tab, surface_tab = lab_tabs([lab.RACE_TAB, lab.SURFACE_TAB])
with surface_tab:
    for col, control in zip(st.columns(len(lab.SURFACE)), lab.SURFACE, strict=True):
        settings.widget(control, container=col)
    lab.draw_surface(settings)

with race_tab:
    with st.expander(lab.setup_summary(settings)):
        cols = st.columns(3)
        lab.fields.draw(settings, lab.DATA, "", cols[0])
        lab.fields.draw(settings, lab.MODEL, "", cols[1])
        lab.fields.draw(settings, lab.TRAINING, "", cols[2])
        settings.widget(lab.TARGET, container=cols[2])
    own_csv = settings.values["data.name"] == "csv"
    dataset, key = lab.uploaded_dataset(settings) if own_csv else (None, None)
    if dataset is not None or not own_csv:  # a bad or missing file leaves the session's runs alone
        # a racer that changes or joins restarts the whole race: a fair race is one where all are in step
        runs, errors = build_runs(lab.LAB, lab.race_configs(settings), dataset, key, together=True)
        show_refusals(errors, len(runs))
        transport(lab.LAB)
        draw = lessons.checked(
            lab.PAGE, settings, lambda snap: lab.draw_race(snap, settings.values["target"])
        )
        live_view(lab.LAB, draw)
        if not errors:
            lab.draw_code(settings, dataset)
