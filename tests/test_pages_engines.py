"""The Gradients, Optimizers, Sequences and Two-inputs pages with their runs in live engines
(GP_LIVE_PROCESSES): the same numbers and the same charts as when the server trains them itself, an
uploaded table or series, Step and a new learning rate mid-run."""

from __future__ import annotations

import pytest

from core import engines
from core.remote import RemoteWorker
from tests.apptest import chart_texts, click, open_page, upload
from tests.apptest import runs as lab_runs
from tests.test_pages_optimizers import GOOD_CSV
from tests.test_pages_sequences import FAST, hourly_csv


@pytest.fixture
def in_engines(monkeypatch):
    """Sessions opened from here on train their runs of the labs in ui.runs.IN_ENGINES in two engines."""
    monkeypatch.setenv("GP_LIVE_PROCESSES", "2")
    engines.stop_shared_engines()
    yield
    monkeypatch.setenv("GP_LIVE_PROCESSES", "0")
    engines.stop_shared_engines()


def losses(record) -> tuple:
    """A step's loss, or its weighted total and each task's raw loss (the two-inputs lab)."""
    return (record.total, record.raw) if hasattr(record, "total") else (record.loss,)


def played(page: str, preset: str | None, lab: str, query: dict[str, str] | None = None):
    at = open_page(page, query)
    if preset is not None:
        click(at, preset)
    click(at, "Play")
    runs = lab_runs(at, lab)
    assert runs and all(run.done for run in runs.values())
    return at, runs


@pytest.mark.parametrize(
    ("page", "preset", "lab", "query"),
    [
        ("pages/gradients.py", "Vanishing vs cured", "grad", None),
        ("pages/optimizers.py", "Momentum", "opt", None),
        ("pages/sequences.py", None, "seq", FAST),  # three cells, their forecasts called in the engine
        ("pages/multitask.py", None, "mt", {"train.steps": "50", "a.loss.normalise": "start"}),
    ],
)
def test_a_preset_in_an_engine_draws_what_the_server_draws(page, preset, lab, query, monkeypatch, caplog):
    at, reference = played(page, preset, lab, query)
    expected = chart_texts(at)
    captions = [c.value for c in at.caption]
    monkeypatch.setenv("GP_LIVE_PROCESSES", "2")
    engines.stop_shared_engines()
    try:
        at, runs = played(page, preset, lab, query)
        assert isinstance(at.session_state[f"{lab}:worker"], RemoteWorker)
        assert runs.keys() == reference.keys()
        for label, run in runs.items():
            assert [losses(r) for r in run.records] == [losses(r) for r in reference[label].records]
        assert chart_texts(at) == expected  # decision grids and surfaces included: called in the engine
        if lab in ("seq", "mt"):  # verdicts, forecasts' errors, the weighted loss: read from the engine
            timing = ("ms per step", "This server trains")  # wall times, and the engines' load a moment ago
            shown = [c.value for c in at.caption if not c.value.startswith(timing)]
            assert shown == [c for c in captions if not c.startswith(timing)]
        assert not at.error
        undeclared = [r.message for r in caplog.records if "VIEW_ATTRS" in r.getMessage()]
        assert not undeclared  # the page read nothing of a run beyond what the engine sends with it
    finally:
        monkeypatch.setenv("GP_LIVE_PROCESSES", "0")
        engines.stop_shared_engines()


def test_an_uploaded_table_trains_in_an_engine(in_engines):
    at = open_page("pages/optimizers.py", {"data.name": "csv"})
    upload(at, "pets.csv", GOOD_CSV.encode())
    assert not at.error
    run = next(iter(lab_runs(at, "opt").values()))
    assert run.data.class_names == ("cat", "dog")
    click(at, "Play")
    assert all(r.done for r in lab_runs(at, "opt").values())


def test_step_and_a_new_learning_rate_mid_run_in_an_engine(in_engines):
    at = open_page("pages/gradients.py")
    click(at, "Step")
    click(at, "Step")
    at.select_slider(key="grad:w:a.optim.lr").set_value(0.1).run()
    click(at, "Step")
    run = lab_runs(at, "grad")["A"]
    assert run.step == 3 and run.records[-1].lr == 0.1 and run.records[-2].lr == 0.01
    at.slider(key="grad:w:a.model.depth").set_value(3).run()
    assert lab_runs(at, "grad")["A"].step == 0  # a new architecture starts over
    assert not at.exception


def test_an_uploaded_series_trains_in_an_engine(in_engines):
    query = {"data.name": "csv", "window.seq_len": "24", "window.horizon": "24", "cells.rnn": "0"}
    at = open_page("pages/sequences.py", FAST | query)
    upload(at, "load.csv", hourly_csv())
    assert not at.error
    assert isinstance(at.session_state["seq:worker"], RemoteWorker)
    click(at, "Play")
    runs = lab_runs(at, "seq")
    assert list(runs) == ["LSTM", "GRU"] and all(r.done for r in runs.values())
    assert all(len(run.series) == 300 for run in runs.values())  # the file's series, not a built-in
    assert not at.exception
