"""The row of preset buttons every lab shows, and the lesson box of the preset last chosen."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st


def preset_row(lab: str, presets: Mapping[str, object], apply: Callable[[object], None]) -> None:
    """One button per preset (its `short` label, its `lesson` as help); the chosen one's lesson below.

    `apply(preset)` runs as the button's callback and records the preset's name under "<lab>:preset".
    """
    st.markdown("**Presets:** one click sets up a lesson.")
    for col, preset in zip(st.columns(len(presets)), presets.values(), strict=True):
        col.button(preset.short, on_click=apply, args=(preset,), help=preset.lesson, width="stretch")
    if chosen := presets.get(st.session_state.get(f"{lab}:preset", "")):
        st.info(f"**{chosen.name}.** {chosen.lesson}")
