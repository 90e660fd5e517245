"""The Two inputs, two outputs lab through AppTest: the page, the weights and the loss it shows, presets,
links, bad settings, and the trade-off sweep kept per session."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import chart_texts, click, open_page
from tests.apptest import runs as lab_runs
from tests.test_pages_images import texts

SHORT = {"sweep.steps": "40"}  # the sweep's lesson is measured in tests/test_lessons_multitask.py


def open_lab(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/multitask.py", query)


def runs(at: AppTest) -> dict:
    return lab_runs(at, "mt")


def charts(at: AppTest) -> str:
    return " ".join(chart_texts(at))


def test_the_lab_loads_with_its_tabs_data_model_and_weights():
    at = open_lab()
    assert list(runs(at)) == ["A"] and not at.error
    assert [t.label for t in at.tabs][-4:] == ["Training", "Trade-off", "Model", "Data"]
    assert "Total loss = sum of the weighted parts" in charts(at)
    assert "Test accuracy of each head" in charts(at)
    grids = " ".join(str(i.proto) for i in at.get("image"))
    assert all(
        f"{name}: " in grids for name in ("Latin", "Greek", "Cyrillic", "Armenian", "Georgian", "Hebrew")
    )
    weights = at.dataframe[0].value
    assert list(weights["task"]) == ["character", "alphabet"] and list(weights["sum to one"]) == [0.5, 0.5]
    assert list(weights["divided by"]) == [1.0, 1.0]  # raw losses
    assert "Sum-to-one form: character 0.50 : alphabet 0.50." in texts(at.caption)
    assert "Parameters in all: **55,778**." in texts(at.caption)


def test_a_step_shows_the_total_as_the_weighted_sum_the_optimizer_minimised():
    at = click(open_lab({"a.loss.char": "2.0", "a.loss.normalise": "start"}), "Step")
    run = runs(at)["A"]
    record = run.records[-1]
    shown = next(c.value for c in at.caption if c.value.startswith("Step 1: total ="))
    assert f"2 × {record.raw['char']:.4g} ÷ {run.normalisers['char']:.4g} (character)" in shown
    assert shown.endswith(f"= **{record.total:.4g}**")
    assert sum(record.parts.values()) == pytest.approx(record.total, rel=1e-6)
    table = at.dataframe[0].value.set_index("task")
    assert table.loc["character", "divided by"] == run.normalisers["char"]
    assert table.loc["character", "sum to one"] == pytest.approx(2 / 3)
    assert table.loc["alphabet", "factor"] == pytest.approx(1 / run.normalisers["alphabet"])


def test_the_angle_gets_its_error_in_degrees_and_its_own_chart():
    at = click(open_lab({"a.model.setup": "angle_alphabet"}), "Step")
    assert "Test error of the angle head" in charts(at)
    assert any(m.label == "Angle: test error" and m.value.endswith("°") for m in at.metric)


def test_a_link_sets_up_the_lab_and_a_bad_value_keeps_its_default():
    at = open_lab(
        {"a.model.setup": "char_given_alphabet", "model.hidden": "32", "a.loss.normalise": "median"}
    )
    cfg = runs(at)["A"].cfg
    assert (
        cfg.model.setup == "char_given_alphabet" and cfg.model.hidden == 32 and cfg.loss.normalise == "none"
    )
    assert "median" in texts(at.warning)
    assert "One output: its loss is the whole loss" in texts(at.caption)


def test_bad_settings_get_one_sentence_and_no_run():
    at = open_lab({"a.loss.char": "0.0", "a.loss.alphabet": "0.0"})
    assert not runs(at) and "At least one loss weight must be above 0" in texts(at.error)
    assert not at.exception


def test_a_new_weight_starts_that_run_over():
    at = click(open_lab(), "Step")
    first = runs(at)["A"]
    at.sidebar.select_slider(key="mt:w:a.loss.char").set_value(2.0).run()
    assert runs(at)["A"] is not first and runs(at)["A"].step == 0 and runs(at)["A"].weights["char"] == 2.0


def test_the_sweep_draws_the_trade_off_and_keeps_it_for_the_session():
    at = open_lab(SHORT)
    assert "Trade-off: final test scores" not in charts(at)
    click(at, "Sweep the weights")
    assert not at.error
    assert "Trade-off: final test scores after 40 steps" in charts(at)
    (sweep_name, sweep), *_ = at.session_state["mt:sweeps"]
    assert sweep.steps == 40 and len(sweep.points) == 5 and sweep_name.startswith("A: Image → character and")
    (table,) = [df.value for df in at.dataframe if "sweep" in df.value.columns]
    assert len(table) == 5 and list(table["character weight"]) == [0.05, 0.2, 0.5, 0.8, 0.95]
    click(at, "MSE drowns")  # a preset starts the runs over but keeps the sweeps
    assert len(at.session_state["mt:sweeps"]) == 1 and "Trade-off: final test scores" in charts(at)


def test_a_one_output_model_has_no_weight_to_sweep():
    at = open_lab({"a.model.setup": "char"})
    assert "Sweep the weights" not in [b.label for b in at.button]
    assert "no weight to trade" in texts(at.info)
