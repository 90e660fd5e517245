"""Sequences lab: RNN, LSTM and GRU forecast a series, split by time, against naive baselines."""

import logging

import streamlit as st

from ui import sequences as lab
from ui.controls import show_link_problems, write_link
from ui.live import live_view, transport
from ui.runs import sync_runs
from ui.startup import ensure_router

ensure_router()
log = logging.getLogger(__name__)
st.title(":material/show_chart: Sequences lab")
st.caption(
    "Cut a series into windows, split it by time, and let an RNN, an LSTM and a GRU forecast the "
    "next values: on the same windows, the same batches, against forecasts that need no training."
)
settings = lab.store()
show_link_problems(lab.LAB)

st.markdown("**Presets:** one click sets up a lesson.")
for col, preset in zip(st.columns(len(lab.PRESETS)), lab.PRESETS.values(), strict=True):
    col.button(preset.short, on_click=lab.apply_preset, args=(preset,), help=preset.lesson, width="stretch")
if chosen := lab.PRESETS.get(st.session_state.get(f"{lab.LAB}:preset", "")):
    st.info(f"**{chosen.name}.** {chosen.lesson}")

with st.sidebar:
    lab.sidebar(settings)

with st.expander("Data, windows and split", expanded=True):
    series, data_key, windows = lab.data_box(settings)
write_link(settings)

if series is None or windows is None:  # a bad file or setting leaves the session's runs alone
    st.stop()
configs = lab.configs(settings)
if not configs:
    st.warning("Switch on at least one cell (RNN, LSTM or GRU) in the sidebar.")
    st.stop()
try:
    runs, errors = sync_runs(lab.LAB, configs, None, data_key, build=lab.builder(series))
except Exception:  # never a stack trace on screen; the server log keeps it
    log.exception("could not build the runs")
    st.error("These settings could not be built into a network; try a smaller one.")
    st.stop()
for label, error in errors.items():
    st.error(f"{label}: {error}")
side = transport(lab.LAB, runs)
side.caption(
    f"A fair comparison: every cell on a split sees the same {len(windows.train_starts):,} training "
    "windows in the same batches."
)
live_view(lab.LAB, runs, lambda tick: lab.draw_runs(runs, tick))
