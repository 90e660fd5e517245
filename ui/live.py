"""The live driver: advance playing runs in small slices and redraw between slices."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import streamlit as st

from core.training import Run, Status

SLICE_SECONDS = 0.3  # wall time of one slice for all runs together; one redraw per slice
MAX_PLAY_SECONDS = 300  # a single Play never holds the server longer than this


def advance_together(runs: Sequence[Run], max_steps: int, seconds: float) -> int:
    """Advance every run by the same number of steps; the first run's time sets the count."""
    lead, *rest = runs
    n = len(lead.advance(max_steps, max_seconds=seconds / len(runs)))
    for run in rest:
        run.advance(n, max_seconds=seconds * 4)
    return n


def play(runs: Sequence[Run], draw: Callable[[int], None]) -> None:
    """While the runs play, advance a slice and call draw(tick); rerun the page at the end.

    A click anywhere on the page interrupts this loop (Streamlit stops the script at its
    next call), so Pause, a new learning rate or a preset take effect between slices.
    """
    started = time.perf_counter()
    tick = 0
    while any(run.status is Status.PLAYING for run in runs):
        playing = [run for run in runs if run.status is Status.PLAYING]
        advance_together(playing, max_steps=10_000, seconds=SLICE_SECONDS)
        tick += 1
        if time.perf_counter() - started > MAX_PLAY_SECONDS:
            for run in playing:
                run.pause()
        draw(tick)
    if tick:
        st.rerun()  # redraw the buttons: the runs have paused or finished
