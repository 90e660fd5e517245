"""Overfitting and tuning lab: training vs validation per epoch, the causes of overfitting and its cures,
hyperparameter search and transfer learning."""

import streamlit as st

from core.overfitting.run import FitRun
from ui import lessons
from ui.labs import overfitting as lab
from ui.labs.overfitting import search, transfer
from ui.live import live_view, transport
from ui.page import build_runs, fair_note, guarded, lab_top
from ui.presets import lab_tabs
from ui.startup import ensure_router

ensure_router()
settings = lab_top(
    lab.PAGE,
    ":material/fit_screen: Overfitting and tuning",
    "Train on a few examples and watch the validation loss part from the training loss. Then close the "
    "gap with more data, a smaller network, dropout, weight decay or early stopping; search learning "
    "rates on a grid or at random; and reuse a trained network on a new task.",
)
with st.sidebar:
    lab.sidebar(settings)
lab.write_link(settings)

cfgs = lab.configs(settings)
splits = lab.splits_of(next(iter(cfgs.values())).data)
runs, errors = build_runs(lab.LAB, cfgs, build=lambda cfg: FitRun(cfg, splits), what="a network")

train_tab, search_tab, transfer_tab = lab_tabs(["Train and validate", "Search", "Transfer"])
with search_tab:
    guarded("search", lambda: search.draw(settings))
with transfer_tab:
    guarded("transfer comparison", lambda: transfer.draw(settings))
with train_tab:
    side = transport(lab.LAB)
    lab.describe_sets(side, cfgs, splits)
    if len(runs) > 1:
        fair_note(
            side,
            "A fair comparison: the same three sets, the same batches, the same initial weights where the "
            "layers match.",
        )
    live_view(lab.LAB, lessons.checked(lab.PAGE, settings, lambda snap: lab.draw_all(snap, errors)))
    lab.test_panel(runs)
    lab.draw_code({label: cfg for label, cfg in cfgs.items() if label not in errors}, splits)
