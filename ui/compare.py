"""Compare A and B: a lab's settings as shared keys plus per-configuration keys under a. and b."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.config import from_values
from ui import controls
from ui.controls import Control, ControlStore

LABELS = ("A", "B")
Values = dict[str, object]  # a lab's store values: "section.field" (or "a."/"b." + it) -> value


def ab_values(
    a: Mapping[str, object], b: Mapping[str, object], shared: Sequence[Control], per_config: Sequence[Control]
) -> dict[str, object]:
    """Store values from two flat configs ("section.field" -> value): shared keys from A, the rest per run."""
    values = {c.key: a[c.key] for c in shared}
    for prefix, flat in (("a.", a), ("b.", b)):
        values |= {prefix + c.key: flat[c.key] for c in per_config}
    return values


def ab_configs(store: ControlStore, shared: Sequence[Control], base) -> dict:
    """Label -> config: A, and B too while the store's "compare" toggle is on."""
    common = {c.key: store.values[c.key] for c in shared}
    labels = LABELS if store.values["compare"] else LABELS[:1]
    return {label: from_values(common | store.section(f"{label.lower()}."), base) for label in labels}


def write_ab_link(store: ControlStore) -> None:
    """The URL keeps B's settings only while B is compared."""
    controls.write_link(store, keep=lambda key: store.values["compare"] or not key.startswith("b."))


def compare_toggle(help: str) -> Control:
    """The "Compare A and B" toggle (store key "compare"); `help`: what A and B share."""
    return Control("compare", "Compare A and B", "toggle", help=help)


def ab_preset_values(values_of: Callable[[Any, Any], Values]) -> Callable[[Any], Values]:
    """A lab's preset_values from its values_of(a, b): A's settings, and B's in compare mode when the
    preset has a B."""

    def preset_values(preset) -> Values:
        return values_of(preset.a, preset.b) | {"compare": preset.b is not None}

    return preset_values
