"""The Overfitting lab's Search tab: grid against random search with the same budget, every trial a short
seeded run on the server's pool of worker processes (core.overfitting.pool), never in a script run."""

from __future__ import annotations

import dataclasses
import time

import streamlit as st

from core.errors import ConfigError
from core.overfitting import figures, pool
from core.overfitting.search import BASE, BUDGETS, SECOND, SearchConfig, best, search_tasks, space_for, to_csv
from ui.charts import chart
from ui.controls import Control, ControlStore
from ui.labs.overfitting import jobs

LAB = "fit"
JOB = f"{LAB}:search_job"  # (job, the grid's config) of the search now running (ui.labs.overfitting.jobs)
DONE = f"{LAB}:search_done"  # the last finished search: (grid results, random results, grid cfg, seconds)
CONTROLS = [
    Control("search.second", "Search the learning rate and", "select", tuple(SECOND),
            {k: v[0].lower() for k, v in SECOND.items()}),
    Control("search.budget", "Trials per method", "select", BUDGETS,
            help="The same number for both: the grid takes √n values of each setting, random search n "
            "pairs."),
    Control("search.seed", "Random search's seed", "number", low=0, high=9999, step=1),
]  # fmt: skip
DEFAULTS = {"search.second": "momentum", "search.budget": 9, "search.seed": 0}


def _configs(s: ControlStore) -> tuple[SearchConfig, SearchConfig]:
    space = space_for(s.values["search.second"])
    grid = SearchConfig(
        space=space, budget=s.values["search.budget"], method="grid", seed=s.values["search.seed"]
    )
    return grid, dataclasses.replace(grid, method="random")


def _start(grid: SearchConfig, random: SearchConfig) -> None:
    try:
        tasks = search_tasks(grid) + search_tasks(random)
    except ConfigError as err:
        st.session_state[f"{JOB}:error"] = str(err)
        return
    jobs.start(JOB, tasks, "trial", grid)


def _describe(job: pool.Job, grid: SearchConfig) -> tuple[float, str]:
    done, total = job.progress()
    return done / total, f"Trial {done} of {total} done"


def _finished(job: pool.Job, grid: SearchConfig) -> None:
    results = job.results()
    if any(r is not None for r in results):  # a cancelled search keeps the trials it finished
        n = grid.budget
        st.session_state[DONE] = (results[:n], results[n:], grid, job.seconds, job.cancelled)


def draw(s: ControlStore) -> None:
    st.markdown(
        "Which learning rate, and which momentum (or weight decay)? Both methods get the same number of "
        "trials. **Grid search** tries every pair of a few values of each setting, at fixed intervals; "
        "**random search** draws each trial's two values at random (the learning rate uniform on its "
        "exponent, `10 ** np.random.uniform(-4, 0)`). Each trial trains "
        f"{BASE.train.examples} digits for {BASE.train.epochs} epochs and is scored by its **validation** "
        "loss: the test set plays no part in choosing."
    )
    cols = st.columns(3)
    for control, col in zip(CONTROLS, cols, strict=True):
        s.widget(control, container=col)
    grid, random = _configs(s)
    st.button(
        "Run both searches",
        icon=":material/grid_on:",
        type="primary",
        disabled=jobs.running(JOB),
        on_click=_start,
        args=(grid, random),
        help="The trials run in parallel on the server's cores, one torch thread each.",
    )
    jobs.show_problem(JOB)
    jobs.follow(JOB, _describe, _finished)
    if DONE in st.session_state:
        _results(*st.session_state[DONE])


def _results(grid_results, random_results, cfg: SearchConfig, seconds: float, cancelled: bool) -> None:
    space = cfg.space
    label = space.second_label
    left, right = st.columns(2)
    for where, name, results in (
        (left, "Grid search", grid_results),
        (right, "Random search", random_results),
    ):
        if any(r is not None for r in results):
            chart(
                figures.trials(results, name, label, space.second_log), key=f"fit-search-{name}", where=where
            )
        else:  # cancelled before any of its trials finished
            where.caption(f"{name}: no trial finished before the search was cancelled.")
    g, r = best(grid_results), best(random_results)
    lines = []
    for name, b in (("Grid", g), ("Random", r)):
        if b is not None:
            lines.append(
                f"**{name}:** best at learning rate {b.lr:.3g} and {label.lower()} {b.second:.3g}: "
                f"validation accuracy {b.val_accuracy:.1%} (loss {b.val_loss:.3f}, epoch {b.epoch})."
            )
    st.markdown("  \n".join(lines))
    done = sum(x is not None for x in grid_results + random_results)
    st.caption(
        f"{done} trials in {seconds:.1f} s on {pool.pool_size()} worker processes"
        + (" (cancelled: the finished trials are shown)" if cancelled else "")
        + ". The grid tries only √n learning rates, each with several values of the other setting; random "
        "search tries a new learning rate in every trial, and the learning rate is the setting that matters "
        "most here."
    )
    st.download_button(
        "Download the trials (CSV)",
        to_csv({"grid": grid_results, "random": random_results}),
        file_name=f"search-{space.second}-{cfg.budget}-trials-{time.strftime('%Y%m%d')}.csv",
        mime="text/csv",
        icon=":material/download:",
    )
