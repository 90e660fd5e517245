"""The Overfitting lab's Transfer tab: pretrain a small CNN on some alphabets, then learn new alphabets from
a few examples per character three ways (from scratch, fine-tuned, frozen), on the server's pool of
worker processes (core.overfitting.pool), never in a script run.

A pretrained encoder depends on its config alone (seeded, deterministic) and is never changed once made
(each trial loads a copy into its own model), so the server keeps the last few for every session, like a
dataset: the second student to press the button skips the pretraining.
"""

from __future__ import annotations

import collections
import threading

import pandas as pd
import streamlit as st

from core.overfitting import figures, pool
from core.overfitting.transfer import (
    FINE_TUNE_LR_FACTOR,
    METHOD_LABELS,
    METHODS,
    Pretrained,
    TransferConfig,
    jobs,
    pretrain,
    transfer_trial,
)
from ui.charts import chart
from ui.controls import Control, ControlStore
from ui.labs.overfitting import jobs as background

LAB = "fit"
JOB = f"{LAB}:transfer_job"  # (job, (phase, config)) of the comparison now running (ui.labs.overfitting.jobs)
DONE = f"{LAB}:transfer_done"  # the last finished comparison: (config, pretrained, results, seconds)
CONTROLS = [
    Control("transfer.seed", "Seed (glyphs, weights, batches)", "number", low=0, high=9999, step=1),
]
DEFAULTS = {"transfer.seed": 0}
KEPT = 8  # pretrained encoders the server keeps (about 100 KB each)
_pretrained: collections.OrderedDict[TransferConfig, Pretrained] = collections.OrderedDict()
_lock = threading.Lock()


def _kept(cfg: TransferConfig) -> Pretrained | None:
    with _lock:
        if cfg in _pretrained:
            _pretrained.move_to_end(cfg)
        return _pretrained.get(cfg)


def _keep(cfg: TransferConfig, done: Pretrained) -> None:
    with _lock:
        _pretrained[cfg] = done
        while len(_pretrained) > KEPT:
            _pretrained.popitem(last=False)


def _trials(cfg: TransferConfig, done: Pretrained) -> None:
    tasks = [pool.Task(transfer_trial, (cfg, done.encoder, method, k)) for method, k in jobs(cfg)]
    background.start(JOB, tasks, "transfer run", ("trials", cfg))


def _start(cfg: TransferConfig) -> None:
    if (done := _kept(cfg)) is not None:  # another session pretrained this config already
        _trials(cfg, done)
    else:
        background.start(JOB, [pool.Task(pretrain, (cfg,))], "pretraining", ("pretrain", cfg))


def _describe(job: pool.Job, context: tuple[str, TransferConfig]) -> tuple[float, str]:
    phase, cfg = context
    if phase == "pretrain":  # one task in a worker: no steps to count from here, only the time it takes
        return job.seconds / 10, (
            f"Pretraining the CNN on the {10 * cfg.pretrain_alphabets} characters of "
            f"{cfg.pretrain_alphabets} alphabets ({job.seconds:.0f} s; it takes 5-10 s)"
        )
    done, total = job.progress()
    return done / total, f"Learning the new characters: run {done} of {total} done"


def _finished(job: pool.Job, context: tuple[str, TransferConfig]) -> None:
    phase, cfg = context
    if job.error or job.cancelled:
        return
    if phase == "pretrain":
        _keep(cfg, job.results()[0])
        _trials(cfg, job.results()[0])
    else:
        st.session_state[DONE] = (cfg, _kept(cfg), job.results(), job.seconds)


def draw(s: ControlStore) -> None:
    cfg = TransferConfig(seed=s.values["transfer.seed"])
    new = 10 * cfg.new_alphabets
    st.markdown(
        f"**Transfer learning.** A small CNN first learns {10 * cfg.pretrain_alphabets} characters of "
        f"{cfg.pretrain_alphabets} alphabets. Then it must learn {new} characters of {cfg.new_alphabets} "
        f"other alphabets from only {', '.join(map(str, cfg.shots))} examples of each, three ways from "
        "the same start: **from scratch** (random weights), **fine-tuned** (the pretrained conv blocks, "
        f"every layer trained at a learning rate {1 / FINE_TUNE_LR_FACTOR:g} times smaller) and **frozen** "
        "(the conv blocks with `requires_grad = False`, only a new head trained)."
    )
    cols = st.columns([1, 2], vertical_alignment="bottom")
    s.widget(CONTROLS[0], container=cols[0])
    cols[1].button(
        "Compare the three ways",
        icon=":material/swap_horiz:",
        type="primary",
        disabled=background.running(JOB),
        on_click=_start,
        args=(cfg,),
        help=f"{len(jobs(cfg))} short runs in parallel on the server's cores, after one pretraining.",
    )
    background.show_problem(JOB)
    background.follow(JOB, _describe, _finished)
    if DONE in st.session_state:
        _results(*st.session_state[DONE])


def _results(cfg: TransferConfig, done: Pretrained | None, results: list, seconds: float) -> None:
    labels = {m: METHOD_LABELS[m].split(":")[0] for m in METHODS}
    chance = 1 / (10 * cfg.new_alphabets)
    chart(figures.transfer_curves(results, labels, chance), key="fit-transfer")
    if done is not None:
        st.caption(
            f"Pretraining: {done.steps} steps, {done.accuracy:.0%} test accuracy on the first "
            f"{done.n_classes} characters. The three ways: {len(results)} runs in {seconds:.1f} s."
        )
    first = {m: next((r for r in results if r is not None and r.method == m), None) for m in METHODS}
    rows = {}
    for method, r in first.items():
        if r is not None:
            for layer in r.layers:
                rows.setdefault(layer.name, {"layer": layer.name, "parameters": layer.params})[
                    labels[method]
                ] = "trained" if layer.trained else "frozen"
    if rows:
        st.markdown("**Which layers trained**, and which started from the pretrained weights:")
        st.dataframe(pd.DataFrame(list(rows.values())), hide_index=True, width="stretch")
        st.caption(
            "Fine-tune and freeze start their conv layers from the pretrained ones; scratch from random."
        )
