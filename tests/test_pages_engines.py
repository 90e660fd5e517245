"""The Gradients and Optimizers pages with their runs in live engines (GP_LIVE_PROCESSES): the same
numbers and the same charts as when the server trains them itself, an uploaded table, Step and a new
learning rate mid-run."""

from __future__ import annotations

import pytest

from core import engines
from core.remote import RemoteWorker
from tests.apptest import chart_texts, click, open_page, upload
from tests.apptest import runs as lab_runs
from tests.test_pages_optimizers import GOOD_CSV


@pytest.fixture
def in_engines(monkeypatch):
    """Sessions opened from here on train their Gradients and Optimizers runs in two engines."""
    monkeypatch.setenv("GP_LIVE_PROCESSES", "2")
    engines.stop_shared_engines()
    yield
    monkeypatch.setenv("GP_LIVE_PROCESSES", "0")
    engines.stop_shared_engines()


def played(page: str, preset: str, lab: str):
    at = open_page(page)
    click(at, preset)
    click(at, "Play")
    runs = lab_runs(at, lab)
    assert runs and all(run.done for run in runs.values())
    return at, runs


@pytest.mark.parametrize(
    ("page", "preset", "lab"),
    [("pages/gradients.py", "Vanishing vs cured", "grad"), ("pages/optimizers.py", "Momentum", "opt")],
)
def test_a_preset_in_an_engine_draws_what_the_server_draws(page, preset, lab, monkeypatch, caplog):
    at, reference = played(page, preset, lab)
    expected = chart_texts(at)
    monkeypatch.setenv("GP_LIVE_PROCESSES", "2")
    engines.stop_shared_engines()
    try:
        at, runs = played(page, preset, lab)
        assert isinstance(at.session_state[f"{lab}:worker"], RemoteWorker)
        assert runs.keys() == reference.keys()
        for label, run in runs.items():
            assert [r.loss for r in run.records] == [r.loss for r in reference[label].records]
        assert chart_texts(at) == expected  # decision grids and surfaces included: called in the engine
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
