"""Per-session runs: built from configs, owned by the session's live worker, never shared; and the
data sets every session shares, bounded by their bytes."""

from __future__ import annotations

import collections
import functools
import threading
import typing
from collections.abc import Callable, Hashable, Mapping

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.budget import data_bytes
from core.config import DataConfig, RunConfig
from core.data import Dataset
from core.data.catalog import DATASETS
from core.enginehost import table_run
from core.engines import shared_engines
from core.live import LiveWorker
from core.remote import RemoteWorker
from core.snapshots import RunView
from core.training import Run, Trainer
from ui.controls import lab_key

T = typing.TypeVar("T")
SHARED_IMAGE_BYTES = 512 * 2**20  # image sets kept for every session together (core.images.run: 128 MB each)
SHARED_DATA_BYTES = 256 * 2**20  # the other labs' data sets (tables, glyphs, series, three-way splits)


class SharedData:
    """Immutable data sets shared by every session of the server, bounded by their bytes, not their number.

    Each is made once per key (sessions that ask for it meanwhile wait for that one load), and kept while
    all of them together stay within `max_bytes`; the least recently used goes first, and one larger
    than the bound is handed out but not kept. Every session reads the same tensors, so nothing may
    write to them (st.cache_data would hand every script run its own copy, and count only entries).
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._kept: collections.OrderedDict[Hashable, tuple[typing.Any, int]] = collections.OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}

    def _lookup(self, key: Hashable) -> tuple[bool, typing.Any]:
        with self._lock:
            if key not in self._kept:
                return False, None
            self._kept.move_to_end(key)
            return True, self._kept[key][0]

    def get(self, key: Hashable, load: Callable[[], T], spinner: str | None = None) -> T:
        """The data under `key`, made by `load()` (under a spinner) if no session has it; an error raised
        by load() is raised again and nothing is kept."""
        found, value = self._lookup(key)
        if found:
            return value
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            found, value = self._lookup(key)
            if found:
                return value
            try:
                if spinner is None:
                    value = load()
                else:
                    with st.spinner(spinner):
                        value = load()
                self._keep(key, value, data_bytes(value))
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            return value

    def _keep(self, key: Hashable, value: typing.Any, n: int) -> None:
        if n > self.max_bytes:
            return
        with self._lock:
            self._kept[key] = (value, n)
            total = sum(size for _, size in self._kept.values())
            while total > self.max_bytes:
                _, (_, size) = self._kept.popitem(last=False)
                total -= size


SHARED_IMAGES = SharedData(SHARED_IMAGE_BYTES)  # built-in, downloaded and uploaded image sets
SHARED_DATA = SharedData(SHARED_DATA_BYTES)  # made from a frozen config: keyed by (kind, config)


def load_dataset(cfg: DataConfig) -> Dataset:
    """The Gradients and Optimizers labs' tables, made once for every session."""
    return SHARED_DATA.get(("table", cfg), lambda: DATASETS.get(cfg.name).load(cfg))


def _connected() -> Callable[[], bool] | None:
    """A thread-safe test that this script run's session is still connected (None outside a server)."""
    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session = runtime.get_instance(), ctx.session_id
    return lambda: server.is_active_session(session)


# where a student's runs are, in the sentence that refuses a run beyond the session's memory budget
LAB_NAMES = {
    "grad": "the Gradients lab",
    "opt": "the Optimizers lab",
    "img": "the Images lab",
    "mt": "the two-inputs lab",
    "mt-sweep": "the two-inputs lab's sweep",
    "seq": "the Sequences lab",
    "fit": "the Overfitting lab",
}
WORKERS = "session:workers"  # lab -> this session's LiveWorker, a plain dict its workers read
# the labs whose runs train in the live engines when the server runs some (GP_LIVE_PROCESSES; core.engines):
# tiny MLPs on tables, whose redraws and steps are most of a class's load, the recurrent forecasters and
# the glyph CNNs of the two-inputs lab
IN_ENGINES = frozenset({"grad", "opt", "seq", "mt"})


def session_worker(lab: str) -> LiveWorker | RemoteWorker:
    """The one worker that trains this session's runs of the lab (made on first use), in this process
    or in a live engine (IN_ENGINES); it pauses when the session has been disconnected for
    core.pace.RECONNECT_SECONDS (a closed tab, not a dropped connection that the browser restores).
    Its runs and the session's other workers' share one budget of memory (core.budget.SESSION_BYTES)."""
    key = lab_key(lab, "worker")
    if key not in st.session_state:
        workers: dict[str, LiveWorker | RemoteWorker] = st.session_state.setdefault(WORKERS, {})

        def beside() -> dict[str, float]:
            return {LAB_NAMES.get(name, name): w.held() for name, w in list(workers.items()) if name != lab}

        engines = shared_engines() if lab in IN_ENGINES else None
        if engines is not None:
            worker = RemoteWorker(engines, lab, connected=_connected(), beside=beside)
        else:
            worker = LiveWorker(lab, connected=_connected(), beside=beside)
        workers[lab] = st.session_state[key] = worker
    return st.session_state[key]


def in_engine(lab: str) -> bool:
    """Whether this session's runs of the lab train in a live engine: their build must then pickle, and
    built-in data is better made there than sent (core.sequences.run.series_run)."""
    return isinstance(session_worker(lab), RemoteWorker)


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
    if build is None and isinstance(worker, RemoteWorker):
        build = functools.partial(table_run, dataset)  # pickles: the engine loads the built-in table itself
    errors = worker.sync(
        configs, build or (lambda cfg: Run(cfg, dataset or load_dataset(cfg.data))), data_key, together
    )
    return worker.snapshot().runs, errors


def session_runs(lab: str) -> dict[str, RunView]:
    """The runs this session holds for the lab, read from another page (not a sign of watching them)."""
    worker = st.session_state.get(lab_key(lab, "worker"))
    return worker.snapshot(watching=False).runs if worker else {}
