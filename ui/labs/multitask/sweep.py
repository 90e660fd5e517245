"""The Two inputs, two outputs lab's trade-off sweep: short trainings of one setup at several loss
weightings, on a worker of their own (never in a script run), and the chart of what each weighting
buys."""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from core.data.glyphs import GlyphSet
from core.errors import ConfigError
from core.multitask import figures
from core.multitask.config import NORMALISE, MultiTaskConfig
from core.multitask.models import SETUPS, TASKS
from core.multitask.sweep import SHARES, Sweep, start_sweep, sweep_of
from ui.charts import chart
from ui.controls import Control, ControlStore
from ui.live import REDRAW_SECONDS, shown_here
from ui.runs import session_worker

LAB = "mt"  # the lab's key in session state and links (ui.labs.multitask takes it from here)
MAX_SWEEPS = 8  # kept per session, newest first
SWEEP_LAB = f"{LAB}-sweep"  # the sweep's own worker: its runs train beside the lab's, never in a script run
SWEEP_JOB = f"{LAB}:sweep_job"  # (what, config, start time) of the sweep now training
SWEEP = [
    Control("sweep.of", "Sweep the weights of", "select", ("a", "b"), {"a": "A", "b": "B"}),
    Control("sweep.steps", "Steps per weighting", "choice", (40, 60, 80, 120, 160, 200),
            help=f"{len(SHARES)} short trainings from the same start; at 80 steps each, about 5 s in all."),
]  # fmt: skip


def sweeps() -> list[tuple[str, Sweep]]:
    return st.session_state.setdefault(f"{LAB}:sweeps", [])


def _start_sweep(cfg: MultiTaskConfig, g: GlyphSet, steps: int, what: str) -> None:
    """The sweep's runs go to their own worker, flat out and in step: the page only shows progress."""
    try:
        start_sweep(session_worker(SWEEP_LAB), cfg, g, steps)
    except ConfigError as err:
        st.session_state[f"{LAB}:sweep_error"] = str(err)
        return
    st.session_state[SWEEP_JOB] = (what, cfg, time.perf_counter())


def _sweep_progress() -> None:
    """While a sweep trains: a progress bar redrawn twice a second; at its end, the sweep joins the list."""
    if problem := st.session_state.pop(f"{LAB}:sweep_error", None):
        st.error(problem)
    if SWEEP_JOB not in st.session_state:
        return
    worker = session_worker(SWEEP_LAB)
    shown_here(SWEEP_LAB)

    @st.fragment(run_every=REDRAW_SECONDS if worker.busy else None)
    def progress() -> None:
        snap = worker.snapshot()
        if snap.error:
            st.session_state.pop(SWEEP_JOB)
            st.error(snap.error)
            return
        if snap.finished:
            what, cfg, started = st.session_state.pop(SWEEP_JOB)
            sweeps().insert(
                0, (what, sweep_of(cfg, list(worker.runs.values()), time.perf_counter() - started))
            )
            del sweeps()[MAX_SWEEPS:]
            worker.clear()
            st.rerun()
        done, total = (
            min(run.step for run in snap.runs.values()),
            next(iter(snap.runs.values())).cfg.train.steps,
        )
        st.progress(
            done / total,
            text=f"Training the {len(snap.runs)} weightings side by side: step {done} of {total}",
        )
        if not snap.playing:
            st.info("The sweep paused while nobody was watching this page.")
            st.button("Go on with the sweep", on_click=worker.play)

    progress()


def draw_tradeoff(s: ControlStore, cfgs: Mapping[str, MultiTaskConfig], g: GlyphSet) -> None:
    st.markdown(
        f"One click trains the same model {len(SHARES)} times from the same start on the same batches, with "
        "the two losses weighted " + ", ".join(f"{x:g} : {1 - x:g}" for x in SHARES) + ", and plots each "
        "task's final test score against the weight. Each point is one short run, so neighbours may wobble; "
        "the trend is the lesson."
    )
    cols = st.columns(2)
    if len(cfgs) > 1:
        s.widget(SWEEP[0], container=cols[1])
    steps = s.widget(SWEEP[1], container=cols[0])
    label = "B" if len(cfgs) > 1 and s.values["sweep.of"] == "b" else "A"
    cfg = cfgs[label]
    setup = SETUPS.get(cfg.model.setup)
    if len(setup.tasks) < 2:
        st.info(
            f"{label} is '{setup.label}': one output, so there is no weight to trade. Choose a model "
            "with two outputs in the sidebar."
        )
    else:
        what = f"{label}: {setup.label}, {NORMALISE[cfg.loss.normalise].lower()}, {steps} steps"
        st.button(
            "Sweep the weights",
            icon=":material/tune:",
            type="primary",
            disabled=SWEEP_JOB in st.session_state,
            on_click=_start_sweep,
            args=(cfg, g, steps, what),
        )
    _sweep_progress()
    if not sweeps():
        return
    what, latest = sweeps()[0]
    chart(figures.tradeoff(latest), key="mt-tradeoff")
    st.caption(
        f"{what}: {latest.seconds:.1f} s for {len(latest.points)} runs. Tick labels: the first task's "
        "weight, the second's in brackets (they sum to one)."
    )
    rows = [
        {
            "sweep": name,
            **{f"{TASKS[t].label} weight": p.weights[t] for t in sw.tasks},
            **{
                f"{TASKS[t].label} {TASKS[t].score_label}": p.score[t] * (1 if TASKS[t].regression else 100)
                for t in sw.tasks
            },
        }
        for name, sw in sweeps()
        for p in sw.points
    ]
    with st.expander(f"Every sweep of this session ({len(sweeps())})"):
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
