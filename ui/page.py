"""The top of every lab page and its guarded run building, in one place so the labs look and fail alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import ModuleType

import streamlit as st

from ui.charts import presenting
from ui.controls import ControlStore, show_link_problems
from ui.presets import preset_row
from ui.runs import sync_runs

log = logging.getLogger(__name__)


def lab_top(
    lab: ModuleType, title: str, caption: str, presets: Mapping[str, object] | None = None
) -> ControlStore:
    """Title and caption, the session's settings (from the link on a first visit), the link's
    problems in one sentence each, and the row of presets (`lab.PRESETS` unless given)."""
    st.title(title)
    if not presenting():  # the teacher says it; the class needs the room for the charts
        st.caption(caption)
    settings = lab.store()
    if st.query_params.get("hide"):
        st.sidebar.caption("This link hides some settings. Remove `hide=…` from the address to see them all.")
    show_link_problems(lab.LAB)
    preset_row(lab.LAB, lab.PRESETS if presets is None else presets, lab.apply_preset, settings)
    return settings


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
