"""The top of every lab page and its guarded run building, in one place so the labs look and fail alike."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import streamlit as st

from ui import lessons
from ui.charts import presenting
from ui.controls import ControlStore, show_link_problems
from ui.lab import Lab
from ui.presets import preset_row
from ui.runs import sync_runs

log = logging.getLogger(__name__)


def lab_top(lab: Lab, title: str, caption: str) -> ControlStore:
    """Title and caption, the session's settings (from the link on a first visit), the link's
    problems in one sentence each, the row of the lab's presets and its guided lesson and exercises."""
    st.title(title)
    if not presenting():  # the teacher says it; the class needs the room for the charts
        st.caption(caption)
    settings = lab.store()
    if st.query_params.get("hide"):
        st.sidebar.caption("This link hides some settings. Remove `hide=…` from the address to see them all.")
    show_link_problems(lab.key)
    # on a projector a lesson's step stands in for the presets: the key chart stays on the first screen
    shown = not (presenting() and lessons.step_open(lab))
    preset_row(lab.key, lab.presets, lab.apply_preset, settings, shown=shown)
    lessons.panel(lab, settings)
    return settings


def fair_note(where, text: str) -> None:
    """The sentence under the buttons that says why A and B (or the cells) compare fairly; in presenter
    mode the teacher says it, and the key chart keeps its place on the first screen."""
    if not presenting():
        where.caption(text)


def build_runs(lab: str, cfgs, *args, what: str = "a network", **kwargs):
    """ui.runs.sync_runs, but a failure to build is one sentence on screen and a stopped page.

    The session's other runs and settings stay as they were; the server log keeps the trace.
    """
    try:
        return sync_runs(lab, cfgs, *args, **kwargs)
    except Exception:  # never a stack trace on screen
        log.exception("could not build the %s runs", lab)
        st.error(f"These settings could not be built into {what}; try a smaller one.")
        st.stop()


def show_refusals(errors: Mapping[str, str], others: int = 0) -> None:
    """One red box per sentence, naming the runs it refuses ("RNN, LSTM and GRU: too heavy…" once,
    not three times); a lone run (`others`: how many runs do train) needs no name."""
    refused: dict[str, list[str]] = {}
    for label, error in errors.items():
        refused.setdefault(error, []).append(label)
    for error, labels in refused.items():
        names = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
        st.error(f"{names}: {error}" if len(errors) + others > 1 else error)


def guarded(what: str, draw: Callable[[], None]) -> None:
    """draw(), but a failure is one sentence on screen and the rest of the page still draws; the trace
    goes to the server log. (Streamlit's rerun and stop are BaseExceptions: they pass through.)"""
    try:
        draw()
    except Exception:
        log.exception("could not draw the %s", what)
        st.error(f"The {what} could not be shown; run it again or choose other settings.")
