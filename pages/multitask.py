"""Two inputs, two outputs: the alphabet as a second input, two heads, one weighted loss, the trade-off."""

import streamlit as st

from ui import lessons
from ui.labs import multitask as lab
from ui.labs.multitask import sweep
from ui.live import live_view, transport
from ui.page import build_runs, fair_note, lab_top
from ui.presets import lab_tabs
from ui.startup import ensure_router

ensure_router()
settings = lab_top(
    lab.PAGE,
    ":material/call_split: Two inputs, two outputs",
    "Handwritten-like characters of several alphabets. Give a CNN the alphabet as a second input, or ask it "
    "for the character and the alphabet at once from one weighted loss, and see why losses on different "
    "scales must be normalised before they are weighted.",
)

with st.sidebar:
    lab.sidebar(settings)
lab.write_link(settings)

glyphs = lab.glyph_set(settings)
if glyphs is None:  # a bad setting leaves the session's runs and sweeps alone
    st.stop()
cfgs = lab.configs(settings)
runs, errors = build_runs(lab.LAB, cfgs, build=lab.builder(glyphs), what="a model")

train_tab, tradeoff_tab, model_tab, data_tab = lab_tabs(["Training", "Trade-off", "Model", "Data"])
with data_tab:
    lab.draw_data(glyphs)
with model_tab:
    lab.draw_architecture(cfgs, glyphs)
with tradeoff_tab:
    sweep.draw_tradeoff(settings, cfgs, glyphs)
with train_tab:
    lab.draw_weights(runs)
    side = transport(lab.LAB)
    if len(runs) > 1:
        fair_note(
            side,
            "A fair comparison: A and B start from the same weights where their layers match and see the "
            "same batches.",
        )
    live_view(lab.LAB, lessons.checked(lab.PAGE, settings, lambda snap: lab.draw_live(snap, errors)))
    lab.draw_code({label: cfg for label, cfg in cfgs.items() if label not in errors})
