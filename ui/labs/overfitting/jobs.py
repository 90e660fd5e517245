"""A job on the server's worker processes (core.overfitting.pool), followed from the page: a progress bar
and Cancel redrawn twice a second while it runs, then what the tab does with its results. The script run
only reads the job: the work happens in the workers, so a click never waits for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.overfitting import pool
from ui.live import REDRAW_SECONDS


def start(key: str, tasks: Sequence[pool.Task], what: str, context: Any) -> None:
    """Submit the tasks; the session keeps (job, context) under `key` while it runs."""
    st.session_state[key] = (pool.submit(tasks, what=what), context)


def running(key: str) -> bool:
    return key in st.session_state


def show_problem(key: str) -> None:
    """The sentence a failed job left (a task's error, a lost worker), once."""
    if problem := st.session_state.pop(f"{key}:error", None):
        st.error(problem)


def follow(
    key: str,
    describe: Callable[[pool.Job, Any], tuple[float, str]],
    finished: Callable[[pool.Job, Any], None],
) -> None:
    """While the job under `key` runs: describe(job, context) -> (share done, words) as a progress bar,
    with Cancel; once it ends (done, cancelled or failed), finished(job, context), which may start the
    next job under the same key, and the whole page draws again."""
    if key not in st.session_state:
        return
    job = st.session_state[key][0]

    @st.fragment(run_every=None if job.finished else REDRAW_SECONDS)
    def progress() -> None:
        job, context = st.session_state[key]
        if job.finished:
            del st.session_state[key]
            if job.error:
                st.session_state[f"{key}:error"] = job.error
            finished(job, context)
            st.rerun()
        share, text = describe(job, context)
        active, waiting = pool.pool_load()
        if waiting:  # other students' jobs share the workers, in turn
            text += f" · the server's worker processes run {active} tasks, {waiting} wait their turn"
        cols = st.columns([5, 1], vertical_alignment="center")
        cols[0].progress(min(1.0, share), text=text)
        cols[1].button("Cancel", icon=":material/cancel:", on_click=job.cancel, key=f"{key}:cancel")

    progress()
