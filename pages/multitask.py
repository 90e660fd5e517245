"""Two inputs, two outputs: the alphabet as a second input, two heads, one weighted loss, the trade-off."""

import logging

import streamlit as st

from core.multitask.run import MultiTaskRun
from ui import multitask as lab
from ui.controls import show_link_problems
from ui.live import live_view, transport
from ui.presets import preset_row
from ui.runs import sync_runs
from ui.startup import ensure_router

ensure_router()
log = logging.getLogger(__name__)

st.title(":material/call_split: Two inputs, two outputs")
st.caption(
    "Handwritten-like characters of several alphabets. Give a CNN the alphabet as a second input, or ask it "
    "for the character and the alphabet at once from one weighted loss, and see why losses on different "
    "scales must be normalised before they are weighted."
)
settings = lab.store()
show_link_problems(lab.LAB)

preset_row(lab.LAB, lab.PRESETS, lab.apply_preset)

with st.sidebar:
    lab.sidebar(settings)
lab.write_link(settings)

glyphs = lab.glyph_set(settings)
if glyphs is None:  # a bad setting leaves the session's runs and sweeps alone
    st.stop()
cfgs = lab.configs(settings)
try:
    runs, errors = sync_runs(lab.LAB, cfgs, build=lambda cfg: MultiTaskRun(cfg, glyphs))
except Exception:  # never a stack trace on screen; the server log keeps it
    log.exception("could not build the multitask runs")
    st.error("These settings could not be built into a model; try a smaller one.")
    st.stop()

train_tab, tradeoff_tab, model_tab, data_tab = st.tabs(["Training", "Trade-off", "Model", "Data"])
with data_tab:
    lab.draw_data(glyphs)
with model_tab:
    lab.draw_architecture(cfgs, glyphs)
with tradeoff_tab:
    lab.draw_tradeoff(settings, cfgs, glyphs)
with train_tab:
    lab.draw_weights(runs)
    side = transport(lab.LAB, runs)
    if len(runs) > 1:
        side.caption(
            "A fair comparison: A and B start from the same weights where their layers match and see the "
            "same batches."
        )
    live_view(lab.LAB, runs, lambda tick: lab.draw_live(runs, errors, tick))
