"""The top of every lab page and its guarded run building, in one place so the labs look and fail alike."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from ui.charts import presenting
from ui.controls import Control, ControlStore, lab_key, linked_store, show_link_problems
from ui.presets import preset_row
from ui.runs import session_worker, sync_runs

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Lab:
    """What a lab tells the shared kit (links, presets, lessons, the live engine), in one place.

    `key` prefixes the lab's session state ("grad:worker", "grad:preset") and names it in links;
    `defaults` is every setting before any link or click; `controls` the settings a link may set;
    `presets` name -> preset (anything with .name, .short and .lesson); `preset_values(preset)`
    the settings a preset sets (the others go back to their defaults).
    """

    key: str
    defaults: Mapping[str, object]
    controls: Mapping[str, Control]
    presets: Mapping[str, Any]
    preset_values: Callable[[Any], Mapping[str, object]]

    def store(self) -> ControlStore:
        """This session's settings of the lab, read from the page's link on a first visit."""
        return linked_store(self.key, self.defaults, self.controls)

    def apply_preset(self, preset) -> None:
        """A preset button's callback: its settings, every other back to its default, runs start fresh."""
        ControlStore(self.key, self.defaults).set(dict(self.defaults) | dict(self.preset_values(preset)))
        session_worker(self.key).clear()
        st.session_state[lab_key(self.key, "preset")] = preset.name


def lab_top(lab: Lab, title: str, caption: str) -> ControlStore:
    """Title and caption, the session's settings (from the link on a first visit), the link's
    problems in one sentence each, and the row of the lab's presets."""
    st.title(title)
    if not presenting():  # the teacher says it; the class needs the room for the charts
        st.caption(caption)
    settings = lab.store()
    if st.query_params.get("hide"):
        st.sidebar.caption("This link hides some settings. Remove `hide=…` from the address to see them all.")
    show_link_problems(lab.key)
    preset_row(lab.key, lab.presets, lab.apply_preset, settings)
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


def show_refusals(errors: Mapping[str, str], others: int = 0) -> None:
    """One red box per sentence, naming the runs it refuses ("RNN, LSTM and GRU: too heavy…" once,
    not three times); a lone run (`others`: how many runs do train) needs no name."""
    refused: dict[str, list[str]] = {}
    for label, error in errors.items():
        refused.setdefault(error, []).append(label)
    for error, labels in refused.items():
        names = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
        st.error(f"{names}: {error}" if len(errors) + others > 1 else error)
