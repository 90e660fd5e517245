"""The one preset type: a named setup that reproduces one lesson in one click. Each lab's presets
live in its package (core/<lab>/presets.py)."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import RunConfig


@dataclass(frozen=True)
class Preset:
    """One lesson: a configuration A and, for a side-by-side lesson, a configuration B."""

    name: str
    short: str  # button label
    lesson: str  # one sentence: what the student should see
    a: RunConfig
    b: RunConfig | None = None
