"""Every page through Streamlit's AppTest: loads, presets run, bad input gets a sentence."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.gradients.presets import GRADIENT_PRESETS
from tests.apptest import APP, TIMEOUT, chart_texts, click, open_page
from tests.apptest import runs as lab_runs
from ui.controls import Control, parse_link

LAB = "pages/gradients.py"


def key(name: str) -> str:
    return f"grad:w:{name}"


def open_lab(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/gradients.py", query)


def metrics(at: AppTest) -> list[str]:
    return [m.value for m in at.metric]


def runs(at: AppTest):
    return lab_runs(at, "grad")


def test_home_page_lists_the_labs():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "Gradient Playground" in at.title[0].value
    assert any("vanish" in md.value for md in at.markdown)
    labels = [link.proto.label for link in at.get("page_link")]
    assert labels[0] == "Gradients lab" and labels[-1] == "Overfitting and tuning" and len(labels) == 7
    (style,) = [h.proto.body for h in at.get("html") if "stPageLink" in h.proto.body]
    assert "[data-testid='stPageLink'] p {font-size: 1.4rem" in style  # 22 px, over 16 px descriptions


def test_lab_loads_with_its_defaults():
    at = open_lab()
    assert at.slider(key=key("a.model.depth")).value == 4
    assert metrics(at)[0] == "0 / 400"
    assert any("Press Play" in i.value for i in at.info)
    charts = chart_texts(at)
    for title in (
        "Cross-entropy loss",
        "Gradient norm per layer over steps",
        "Activations",
        "What the model predicts",
    ):
        assert any(title in chart for chart in charts), title


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(GRADIENT_PRESETS.values()), ids=lambda p: p.short)
def test_each_preset_runs_to_its_end(preset):
    at = click(open_lab(), preset.short)
    assert any(preset.lesson in i.value for i in at.info)
    click(at, "Play")
    assert all(run.done for run in runs(at).values())
    assert any(("Finished" in c.value or "Stopped: a run diverged" in c.value) for c in at.caption)
    for run in runs(at).values():
        shown = metrics(at)
        if run.diverged_at:
            assert any(f"at step {run.diverged_at}" in e.value for e in at.error)
        else:
            assert f"{run.cfg.train.steps} / {run.cfg.train.steps}" in shown
    assert len(runs(at)) == (2 if preset.b else 1)


@pytest.mark.slow
def test_extreme_setup_shows_no_exception():
    at = open_lab(
        {"a.model.depth": "50", "a.model.width": "2", "a.optim.lr": "10.0", "train.batch_size": "1"}
    )
    assert at.slider(key=key("a.model.depth")).value == 50
    click(at, "Play")
    run = runs(at)["A"]
    assert run.done
    assert not at.exception


def test_link_restores_every_control():
    at = open_lab({"a.model.depth": "7", "a.model.activation": "tanh", "a.optim.lr": "0.003", "compare": "1",
                   "b.model.batchnorm": "1", "data.name": "moons"})  # fmt: skip
    assert at.slider(key=key("a.model.depth")).value == 7
    assert at.selectbox(key=key("a.model.activation")).value == "tanh"
    assert at.select_slider(key=key("a.optim.lr")).value == 0.003
    assert at.toggle(key=key("b.model.batchnorm")).value is True
    assert at.selectbox(key=key("data.name")).value == "moons"
    assert set(runs(at)) == {"A", "B"}
    assert runs(at)["A"].cfg.model.depth == 7 and runs(at)["B"].cfg.model.batchnorm


def test_the_url_follows_the_controls():
    at = open_lab()
    at.slider(key=key("a.model.depth")).set_value(9).run()
    assert at.query_params["a.model.depth"] in ("9", ["9"])
    assert "a.model.width" not in at.query_params  # defaults stay out of the link


def test_a_bad_link_warns_and_keeps_the_default():
    at = open_lab({"a.model.depth": "abc", "a.model.activation": "swish", "b.model.depth": "999999"})
    warnings = [w.value for w in at.warning]
    assert (
        "The link set 'Hidden layers' of A to 'abc', which could not be used (it takes a whole number), "
        "so it keeps its default, 4." in warnings
    )
    swish = "The link set 'Activation' of A to 'swish', which could not be used (the choices are "
    assert any(w.startswith(swish) for w in warnings)
    assert "The link set 'Hidden layers' of B to 999999; the most is 50, so it uses 50." in warnings
    assert not any("model." in w for w in warnings)  # never a link key
    assert at.slider(key=key("a.model.depth")).value == 4
    assert at.session_state["grad:values"]["b.model.depth"] == 50  # B's tab is hidden until compare is on


def test_a_link_problem_is_one_sentence_in_the_students_words():
    depth = Control("model.depth", "Hidden layers", "slider", low=1, high=50, step=1)
    lr = Control("optim.lr", "Learning rate", "choice", (0.001, 0.003, 0.01))
    controls = {"a.model.depth": depth, "r1.optim.lr": lr, "optim.lr": lr}
    defaults = {"a.model.depth": 4, "r1.optim.lr": 0.01, "optim.lr": 0.01}
    link = {"a.model.depth": "999999", "r1.optim.lr": "0.002", "optim.lr": "`**x**` :red[y]\n# z"}
    values, problems = parse_link(link, controls, defaults)
    assert values == {"a.model.depth": 50, "r1.optim.lr": 0.003}
    escaped = r"\`\*\*x\*\*\` \:red\[y\] \# z"  # Markdown escaped, on one line
    assert problems == [
        "The link set 'Hidden layers' of A to 999999; the most is 50, so it uses 50.",
        "The link set 'Learning rate' of racer 2 to 0.002; the control does not offer it, so it uses the "
        "nearest value it does, 0.003.",
        f"The link set 'Learning rate' to '{escaped}', which could not be used (it takes a number), so it "
        "keeps its default, 0.01.",
    ]
    assert parse_link({"a.model.depth": "-3"}, controls, defaults)[1] == [
        "The link set 'Hidden layers' of A to -3; the least is 1, so it uses 1."
    ]


def test_settings_that_cannot_run_get_one_sentence_and_keep_the_rest():
    at = open_lab()
    at.slider(key=key("a.model.depth")).set_value(12).run()
    at.toggle(key=key("a.model.batchnorm")).set_value(True).run()
    at.select_slider(key=key("train.batch_size")).set_value(1).run()
    assert not at.exception
    assert any("BatchNorm needs at least 2 examples" in e.value for e in at.error)
    at.select_slider(key=key("train.batch_size")).set_value(8).run()
    assert not at.error and at.slider(key=key("a.model.depth")).value == 12
    assert runs(at)["A"].cfg.model.depth == 12


def test_step_pause_and_a_new_learning_rate_mid_run():
    at = open_lab()
    click(at, "Step")
    click(at, "Step")
    assert metrics(at)[0] == "2 / 400"
    run = runs(at)["A"]
    at.select_slider(key=key("a.optim.lr")).set_value(0.1).run()
    assert runs(at)["A"] is run and run.step == 2  # a new lr keeps the run
    click(at, "Step")
    assert run.records[-1].lr == 0.1 and run.records[-2].lr == 0.01
    at.slider(key=key("a.model.depth")).set_value(3).run()
    assert runs(at)["A"] is not run and runs(at)["A"].step == 0  # a new architecture starts over


def test_changing_the_optimizer_sets_its_default_learning_rate():
    at = open_lab()
    at.selectbox(key=key("a.optim.name")).set_value("sgd").run()
    assert at.select_slider(key=key("a.optim.lr")).value == 0.1
    assert at.slider(key=key("a.optim.momentum")).value == 0.9
    assert at.toggle(key=key("a.optim.nesterov")).value is False


def test_reset_returns_to_the_first_step():
    at = open_lab()
    click(at, "Step")
    click(at, "Reset")
    assert metrics(at)[0] == "0 / 400"


def test_compare_mode_says_the_start_is_fair():
    at = open_lab()
    at.toggle(key=key("compare")).set_value(True).run()
    assert set(runs(at)) == {"A", "B"}
    assert any("the same initial weights" in c.value for c in at.caption)
    at.selectbox(key=key("b.model.init")).set_value("xavier_normal").run()
    assert any("different initial weights" in c.value for c in at.caption)


def test_digits_train_without_a_decision_boundary():
    at = open_lab({"data.name": "digits"})
    assert at.select_slider(key=key("data.n_samples")).disabled  # digits has its own 1,797 images
    click(at, "Step")
    assert runs(at)["A"].data.n_features == 64 and metrics(at)[0] == "1 / 400"
    assert not any("What the model predicts" in chart for chart in chart_texts(at))


def test_the_loss_chart_names_the_loss_each_run_minimises():
    """A compare-mode page where A minimises cross-entropy and B the mean squared error: each chart says."""
    at = open_page("pages/gradients.py", {"compare": "1", "b.train.loss": "mse"})
    charts = " ".join(chart_texts(at))
    assert "Cross-entropy loss A" in charts and "Mean squared error loss B" in charts
