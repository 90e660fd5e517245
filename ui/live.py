"""Play / Pause / Step / Reset, and the loop that trains a slice and redraws, until paused."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import streamlit as st

from core.training import Status, Trainer, advance_together
from ui.runs import session_runs

SLICE_SECONDS = 0.5  # training time between two redraws (a redraw of 5 charts costs ~0.06 s)
log = logging.getLogger(__name__)


def _each(lab: str, action: Callable[[Trainer], None]) -> None:
    for run in session_runs(lab).values():
        action(run)


def _step(lab: str) -> None:
    _each(lab, Trainer.pause)
    live = [run for run in session_runs(lab).values() if not run.done]
    if live:
        advance_together(live, max_rounds=1, max_seconds=5.0)


def transport(lab: str, runs: Mapping[str, Trainer]) -> Sequence:
    """The Play, Pause, Step and Reset buttons; returns the column left beside them."""
    playing = any(run.status is Status.PLAYING for run in runs.values())
    all_done = bool(runs) and all(run.done for run in runs.values())
    cols = st.columns([1, 1, 1, 1, 4])
    common = dict(width="stretch")
    cols[0].button(
        "Play",
        icon=":material/play_arrow:",
        type="primary",
        **common,
        disabled=playing or all_done or not runs,
        on_click=_each,
        args=(lab, Trainer.play),
    )
    cols[1].button(
        "Pause",
        icon=":material/pause:",
        **common,
        disabled=not playing,
        on_click=_each,
        args=(lab, Trainer.pause),
    )
    cols[2].button(
        "Step",
        icon=":material/skip_next:",
        **common,
        disabled=all_done or not runs,
        on_click=_step,
        args=(lab,),
    )
    cols[3].button(
        "Reset", icon=":material/restart_alt:", **common, on_click=_each, args=(lab, Trainer.reset)
    )
    if all_done:
        diverged = [run for run in runs.values() if run.status is Status.DIVERGED]
        ended = "Stopped: a run diverged" if diverged else "Finished"
        cols[4].caption(f"{ended}. Press **Reset** to train again from the same start.")
    return cols[4]


def live_view(lab: str, runs: Mapping[str, Trainer], draw: Callable[[str], None]) -> None:
    """Draw the runs, then, while any plays, train a slice and redraw, until all stop.

    draw(tick) gets a new tick text per redraw, for unique chart keys. A click anywhere
    on the page stops this loop at its next Streamlit call and reruns the page, so
    Pause, a new learning rate or a preset land between two slices. When the last run
    stops, the page reruns once to refresh its buttons. An unexpected error pauses the
    runs and shows one sentence; the server log keeps the trace.

    Measured against an st.fragment(run_every=...) driver on 2 cores with Chromium
    beside the server: the vanishing-vs-cured preset (2 x 400 steps) finished in 10.7 s
    with this loop and 20.7 s with the fragment, whose next tick waits on the browser.
    """
    if problem := st.session_state.pop(f"{lab}:error", None):
        st.error(problem)
    slot = st.empty()
    tick = 0
    try:
        with slot.container():
            draw(str(tick))
        while live := [run for run in runs.values() if run.status is Status.PLAYING]:
            advance_together(live, max_rounds=10_000, max_seconds=SLICE_SECONDS)
            tick += 1
            with slot.container():
                draw(str(tick))
    except Exception:
        log.exception("training or drawing failed")
        message = "Something went wrong while training, so the run is paused. Try smaller settings or Reset."
        if not any(run.status is Status.PLAYING for run in runs.values()):
            st.error(message)  # nothing to pause: a rerun would only fail the same way again
            return
        _each(lab, Trainer.pause)
        st.session_state[f"{lab}:error"] = message
        st.rerun()
    if tick:
        st.rerun()
