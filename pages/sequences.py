"""Sequences lab: RNN, LSTM and GRU forecast a series, split by time, against naive baselines."""

import streamlit as st

from ui import lessons
from ui.charts import presenting
from ui.controls import write_link
from ui.labs import sequences as lab
from ui.live import live_view, transport
from ui.page import build_runs, fair_note, lab_top, show_refusals
from ui.startup import ensure_router

ensure_router()
settings = lab_top(
    lab.PAGE,
    ":material/show_chart: Sequences lab",
    "Cut a series into windows, split it by time, and let an RNN, an LSTM and a GRU forecast the "
    "next values: on the same windows, the same batches, against forecasts that need no training.",
)

with st.sidebar:
    lab.sidebar(settings)

with st.expander("Data, windows and split", expanded=not presenting()):  # presenter: the forecast first
    series, data_key, windows = lab.data_box(settings)
write_link(settings)

if series is None or windows is None:  # a bad file or setting leaves the session's runs alone
    st.stop()
configs = lab.configs(settings)
if not configs:
    st.warning("Switch on at least one cell (RNN, LSTM or GRU) in the sidebar.")
    st.stop()
runs, errors = build_runs(lab.LAB, configs, None, data_key, build=lab.builder(series, data_key))
show_refusals(errors, len(runs))
side = transport(lab.LAB)
fair_note(
    side,
    f"A fair comparison: every cell on a split sees the same {len(windows.train_starts):,} training "
    "windows in the same batches.",
)
live_view(lab.LAB, lessons.checked(lab.PAGE, settings, lab.draw_runs))
lab.draw_code({label: cfg for label, cfg in configs.items() if label not in errors}, series)
