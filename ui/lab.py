"""The lab contract: what each lab tells the shared kit (links, presets, lessons, the live engine)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from core.presets import PresetBase
from ui.controls import Control, ControlStore, lab_key, linked_store
from ui.runs import session_worker


@dataclasses.dataclass(frozen=True)
class Lab:
    """What a lab tells the shared kit (links, presets, lessons, the live engine), in one place.

    `key` prefixes the lab's session state ("grad:worker", "grad:preset") and names it in links;
    `defaults` is every setting before any link or click; `controls` the settings a link may set;
    `presets` name -> preset (a core.presets.PresetBase: .name, .short, .lesson, and the lab's setup);
    `preset_values(preset)` the settings a preset sets (the others go back to their defaults).
    """

    key: str
    defaults: Mapping[str, object]
    controls: Mapping[str, Control]
    presets: Mapping[str, PresetBase]
    preset_values: Callable[[Any], Mapping[str, object]]

    def store(self) -> ControlStore:
        """This session's settings of the lab, read from the page's link on a first visit."""
        return linked_store(self.key, self.defaults, self.controls)

    def apply_preset(self, preset: PresetBase) -> None:
        """A preset button's callback: its settings, every other back to its default, runs start fresh."""
        ControlStore(self.key, self.defaults).set(dict(self.defaults) | dict(self.preset_values(preset)))
        session_worker(self.key).clear()
        st.session_state[lab_key(self.key, "preset")] = preset.name
