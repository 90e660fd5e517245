"""The preset types: a named setup that reproduces one lesson in one click. Every preset is a `PresetBase`
(name, button label, lesson); `Preset` is the A/B kind most labs use. Each lab's presets live in its
package (core/<lab>/presets.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from core.config import RunConfig

T = TypeVar("T")


@dataclass(frozen=True)
class PresetBase:
    """What every preset is: a name, a button label and the lesson it reproduces. A lab's preset type
    adds the setup its page loads (below: A and B; core.optimizers: a race; core.sequences: cells to
    compare); the shared kit (ui.lab.Lab) needs only these three."""

    name: str
    short: str  # button label
    lesson: str  # one sentence: what the student should see


@dataclass(frozen=True)
class Preset(PresetBase):
    """One lesson: a configuration A and, for a side-by-side lesson, a configuration B."""

    a: RunConfig
    b: RunConfig | None = None


def by_name(*presets: T) -> dict[str, T]:
    """A lab's presets by name, in the order given (the order of its buttons); no name twice."""
    named = {p.name: p for p in presets}
    if len(named) != len(presets):
        raise ValueError("two presets share a name")
    return named
