"""Per-session runs: built from configs, kept in st.session_state, never shared."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping

import streamlit as st

from core.config import DataConfig, RunConfig
from core.data import Dataset
from core.errors import ConfigError
from core.registry import DATASETS
from core.training import Run, Trainer


@st.cache_data(max_entries=64, show_spinner=False)
def load_dataset(cfg: DataConfig) -> Dataset:
    """Datasets are immutable and keyed by their frozen config: safe to share."""
    return DATASETS.get(cfg.name).load(cfg)


def _same_but_lr(a: RunConfig, b: RunConfig) -> bool:
    return dataclasses.replace(a, optim=dataclasses.replace(a.optim, lr=b.optim.lr)) == b


def sync_runs(
    lab: str,
    configs: Mapping[str, RunConfig],
    dataset: Dataset | None = None,
    data_key: str | None = None,
    build: Callable[[typing.Any], Trainer] | None = None,
) -> tuple[dict[str, Trainer], dict[str, str]]:
    """(runs, errors) for each label -> config, reusing a run when only the lr changed.

    A new learning rate goes to the existing run and takes effect at its next step; any
    other change starts that run over. A config that cannot run gives a sentence in
    `errors` and leaves no run under its label. `dataset` (an uploaded table) replaces the
    built-in data; a new `data_key` (another file or label column) starts every run over.
    `build(cfg)` makes another lab's run (a CNN, a recurrent net); the default is an MLP Run.
    """
    runs: dict[str, Run] = st.session_state.setdefault(f"{lab}:runs", {})
    if st.session_state.get(f"{lab}:data_key") != data_key:
        st.session_state[f"{lab}:data_key"] = data_key
        runs.clear()
    errors: dict[str, str] = {}
    for label in list(runs):
        if label not in configs:
            del runs[label]
    for label, cfg in configs.items():
        run = runs.get(label)
        if run is not None and _same_but_lr(run.cfg, cfg):
            if run.chosen_lr != cfg.optim.lr:
                run.set_lr(cfg.optim.lr)
            continue
        runs.pop(label, None)
        try:
            runs[label] = build(cfg) if build else Run(cfg, dataset or load_dataset(cfg.data))
        except ConfigError as err:
            errors[label] = str(err)
    ordered = {label: runs[label] for label in configs if label in runs}  # the configs' order, for colours
    runs.clear()
    runs.update(ordered)
    return runs, errors


def session_runs(lab: str) -> dict[str, Trainer]:
    """The runs this session holds for the lab (empty before the page first drew)."""
    return st.session_state.setdefault(f"{lab}:runs", {})
