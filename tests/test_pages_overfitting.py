"""The Overfitting lab through AppTest: the page and its three sets, presets, links, the test set behind a
button, and the search and transfer comparisons on the server's worker processes."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.overfitting.config import pool_size
from tests.apptest import chart_texts, click, open_page
from tests.apptest import runs as lab_runs
from tests.test_pages_images import texts
from ui.labs import overfitting as lab


def open_lab(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/overfitting.py", query)


def runs(at: AppTest) -> dict:
    return lab_runs(at, "fit")


def charts(at: AppTest) -> str:
    return " ".join(chart_texts(at))


def finish(at: AppTest, key: str) -> AppTest:
    """Wait for the session's search or transfer job (it runs on the pool, not in the script), then rerun
    as the page's progress fragment would, until the job is gone."""
    for _ in range(3):  # the transfer comparison is two jobs: pretraining, then the trials
        if key not in at.session_state:
            break
        job = at.session_state[key][0]
        assert job.wait(300), "the job did not finish"
        at.run()
        assert not at.exception, at.exception
    assert key not in at.session_state
    return at


def test_the_lab_loads_with_three_sets_three_tabs_and_one_run():
    at = open_lab()
    assert list(runs(at)) == ["A"] and not at.error
    assert [t.label for t in at.tabs][-3:] == ["Train and validate", "Search", "Transfer"]
    assert "**Training:** 50 of a pool of 1,077 · **validation:** 360" in texts(at.caption)
    assert "**Capacity:** 85,002 weights, 1,700 per training example." in texts(at.caption)
    assert "Loss per epoch" in charts(at) and "Size of the weights" in charts(at)
    assert "Dropout is off" in texts(at.caption)


@pytest.mark.parametrize("preset", list(lab.PAGE.presets.values()), ids=lambda p: p.short)
def test_each_preset_sets_up_its_runs_and_they_take_a_step(preset):
    """Training each preset to its end is tests/test_lessons_overfitting.py's job; here the page wiring."""
    at = click(open_lab(), preset.short)
    assert any(preset.name in i.value for i in at.info)
    expected = {"A": preset.a} | ({"B": preset.b} if preset.b else {})
    assert {label: run.cfg for label, run in runs(at).items()} == expected
    click(at, "Step")
    assert all(run.step == 1 for run in runs(at).values()) and not at.error


def test_a_played_run_names_its_gap_and_dropout_shows_its_units_and_both_modes():
    at = click(open_lab({"a.model.dropout": "0.5", "train.epochs": "10"}), "Play")
    run = runs(at)["A"]
    assert run.done and run.evals[-1].epoch == 10
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epoch"] == "10 / 10" and metrics["Gap"] == f"{run.evals[-1].gap:.2f}"
    shown = charts(at)
    assert (
        "Dropout at step 20, p = 0.5: zeroed units dark" in shown
        and "hidden 1: " in shown
        and "eval vs train mode" in shown
    )
    assert f"gap {run.evals[-1].gap:.2f}" in shown


def test_the_test_set_opens_only_on_request_and_counts_the_looks():
    at = open_lab({"train.epochs": "5"})
    assert not runs(at)["A"].test_looks
    at = click(at, "Evaluate on the test set")
    (table,) = [df.value for df in at.dataframe if "test accuracy (%)" in df.value.columns]
    assert list(table["after epoch"]) == [0]
    at = click(click(at, "Play"), "Evaluate on the test set")
    assert "looked at the test set 2 times" in texts(at.caption)
    (table,) = [df.value for df in at.dataframe if "test accuracy (%)" in df.value.columns]
    assert list(table["after epoch"]) == [0, 5]


def test_a_link_sets_up_a_comparison_and_a_training_set_beyond_the_pool_takes_all_of_it():
    at = open_lab(
        {"compare": "1", "b.train.examples": "300", "data.name": "moons", "a.train.examples": "1077"}
    )
    cfgs = {label: run.cfg for label, run in runs(at).items()}
    assert cfgs["A"].train.examples == pool_size("moons") == 600 and cfgs["B"].train.examples == 300
    assert "600 (A) and 300 (B) of a pool of 600" in texts(at.caption)
    assert "what the model predicts" in charts(at)  # 2-D points: the decision boundary


def test_settings_that_cannot_run_get_one_sentence():
    at = open_lab({"train.epochs": "200", "a.train.examples": "1077", "train.batch_size": "8"})
    assert not runs(at) and "at most 7,000" in texts(at.error) and not at.exception


def test_the_search_runs_grid_and_random_on_the_pool_and_offers_the_csv():
    at = click(open_lab(), "Run both searches")
    at = finish(at, "fit:search_job")
    shown = charts(at)
    assert "Grid search: 9 trials, 3 learning rates" in shown
    assert "Random search: 9 trials, 9 learning rates" in shown
    assert "**Grid:** best at learning rate" in texts(at.markdown)
    (download,) = [d for d in at.get("download_button") if "trials" in str(d.proto)]
    assert download is not None


def test_the_transfer_comparison_pretrains_once_then_compares_three_ways():
    at = click(open_lab(), "Compare the three ways")
    at = finish(at, "fit:transfer_job")
    assert "New characters recognised" in charts(at)
    (table,) = [df.value for df in at.dataframe if "layer" in df.value.columns]
    assert set(table["Freeze"]) == {"trained", "frozen"} and set(table["From scratch"]) == {"trained"}
    assert "Pretraining:" in texts(at.caption)


def test_a_hostile_link_gets_sentences_keeps_defaults_and_trains():
    query = {
        "a.model.dropout": "nan",
        "train.epochs": "1e9",
        "data.name": "<script>alert(1)</script>",
        "a.optim.lr": "-1",
        "search.budget": "7",
        "transfer.seed": "-5",
        "a.train.examples": "9" * 400,
    }
    at = open_lab(query)
    assert not at.exception and not at.error
    warned = texts(at.warning)
    assert "<script>" not in warned and len(at.warning) >= 3
    cfg = runs(at)["A"].cfg
    assert cfg.data.name == "digits" and 0 <= cfg.model.dropout <= 0.9 and cfg.optim.lr > 0
    assert cfg.train.epochs <= 200 and cfg.train.examples <= 1077
    assert at.session_state["fit:values"]["search.budget"] in (9, 16, 25)
    click(at, "Step")
    assert runs(at)["A"].step == 1


def test_augmentation_left_on_does_not_block_the_moons_whose_sidebar_hides_it():
    at = open_lab({"data.name": "moons", "a.train.augment": "1"})
    assert not at.error and runs(at)["A"].cfg.train.augment is False
