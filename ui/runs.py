"""Per-session runs: built from configs, owned by the session's live worker, never shared."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.config import DataConfig, RunConfig
from core.data import Dataset
from core.live import LiveWorker, RunView
from core.registry import DATASETS
from core.training import Run, Trainer


@st.cache_data(max_entries=64, show_spinner=False)
def load_dataset(cfg: DataConfig) -> Dataset:
    """Datasets are immutable and keyed by their frozen config: safe to share."""
    return DATASETS.get(cfg.name).load(cfg)


def _connected() -> Callable[[], bool] | None:
    """A thread-safe test that this script run's session is still connected (None outside a server)."""
    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session = runtime.get_instance(), ctx.session_id
    return lambda: server.is_active_session(session)


def session_worker(lab: str) -> LiveWorker:
    """The one worker that trains this session's runs of the lab (made on first use); it pauses when
    the session disconnects (a closed tab)."""
    key = f"{lab}:worker"
    if key not in st.session_state:
        st.session_state[key] = LiveWorker(lab, connected=_connected())
    return st.session_state[key]


def sync_runs(
    lab: str,
    configs: Mapping[str, RunConfig],
    dataset: Dataset | None = None,
    data_key: str | None = None,
    build: Callable[[typing.Any], Trainer] | None = None,
    together: bool = False,
) -> tuple[dict[str, RunView], dict[str, str]]:
    """(runs, errors) for each label -> config: the worker's runs after LiveWorker.sync.

    A new learning rate goes on from the current step; any other change starts that run over and
    keeps the old one as a faded line. A config that cannot run gives a sentence in `errors` and
    leaves no run under its label. `dataset` (an uploaded table) replaces the built-in data; a new
    `data_key` (another file or label column) starts every run over. `build(cfg)` makes another
    lab's run (a CNN, a recurrent net); the default is an MLP Run. `together`: a race.
    """
    worker = session_worker(lab)
    errors = worker.sync(
        configs, build or (lambda cfg: Run(cfg, dataset or load_dataset(cfg.data))), data_key, together
    )
    return worker.snapshot().runs, errors


def session_runs(lab: str) -> dict[str, RunView]:
    """The runs this session holds for the lab, read from another page (not a sign of watching them)."""
    worker = st.session_state.get(f"{lab}:worker")
    return worker.snapshot(watching=False).runs if worker else {}
