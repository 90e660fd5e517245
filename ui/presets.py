"""The row of preset buttons every lab shows, the lesson box of the preset last chosen, and the link
that carries both (`?preset=<name>`), so a shared link opens on the lesson, not only its settings."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import streamlit as st

from ui.charts import presenting
from ui.controls import ControlStore, lab_key, quoted

MOST_PER_ROW = 6  # preset buttons side by side; more and their labels are cut ("Learning r…")
PRESET, TAB = "preset", "tab"  # link parameters (ui.controls.PAGE_PARAMS keeps them)


def lab_tabs(labels: list[str]):
    """The page's main tabs, the open one kept in the link (`?tab=Loss surface`, `?tab=Augmentation`):
    a shared link, a preset and a lesson step open on the right tab. One key for every page's main tabs:
    a label another page left behind is dropped before these tabs are drawn."""
    if st.session_state.get(TAB) not in (None, *labels):
        del st.session_state[TAB]
    return st.tabs(labels, key=TAB, bind="query-params")


def _choose(lab: str, preset, apply: Callable[[object], None], store: ControlStore) -> None:
    """A preset button's callback: apply it, note which settings it sets, and put it in the link."""
    apply(preset)
    st.session_state[lab_key(lab, "preset_keys")] = {
        k for k, v in store.values.items() if store.defaults.get(k) != v
    }
    st.query_params[PRESET] = preset.short
    if tab := getattr(preset, "tab", None):
        st.session_state[TAB] = tab


def _from_link(lab: str, presets: Mapping[str, object], apply: Callable[[object], None], store) -> None:
    """On a session's first visit, `?preset=` applies that preset; the link's own settings, written
    after it, win where they differ (they are what the sharer saw)."""
    flag = lab_key(lab, "preset_linked")
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    wanted = (st.query_params.get(PRESET) or "").strip().lower()
    if not wanted:
        return
    found = next(
        ((k, p) for k, p in presets.items() if wanted in (k.lower(), p.short.lower(), p.name.lower())), None
    )
    if found is None:
        st.warning(
            f"This link asked for a lesson this page does not have ('{quoted(wanted)}'), so none is open."
        )
        del st.query_params[PRESET]
        return
    linked = {k: store.values[k] for k in st.query_params.to_dict() if k in store.values}
    _choose(lab, found[1], apply, store)
    store.set(linked)


def preset_row(
    lab: str,
    presets: Mapping[str, object],
    apply: Callable[[object], None],
    store: ControlStore,
    shown: bool = True,
) -> None:
    """One button per preset (its `short` label, its `lesson` as help); the chosen one's lesson below.
    Not `shown` (presenter mode with a guided lesson's step open: the step chose the preset, Back and
    Next change it, and its text says what the box would), only a link's preset is applied.

    `apply(preset)` runs as the button's callback and records the preset's name under "<lab>:preset".
    In presenter mode the row is one line without its heading.
    """
    _from_link(lab, presets, apply, store)
    if not shown:
        return
    if not presenting():
        st.markdown("**Presets:** one click sets up a lesson.")
    items = list(presets.values())
    rows = math.ceil(len(items) / MOST_PER_ROW)  # balanced rows: 8 presets are 4 + 4, never a cut label
    per_row = math.ceil(len(items) / rows)
    row = st.container(key="presets")  # on a phone: a wrapping strip of small buttons (ui.charts.PHONE_CSS)
    cols = [col for i in range(0, len(items), per_row) for col in row.columns(per_row)]
    for col, preset in zip(cols, items, strict=False):
        col.button(
            preset.short,
            on_click=_choose,
            args=(lab, preset, apply, store),
            help=preset.lesson,
            width="stretch",
        )
    name = st.session_state.get(lab_key(lab, "preset"))
    if chosen := next((p for p in presets.values() if p.name == name), None):
        st.info(f"**{chosen.name}.** {chosen.lesson}")
