"""Figures from records, and the plain-word diagnosis, on hand-made records."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from core import charts as style
from core import figures as building
from core.gradients import figures
from core.gradients.diagnosis import describe_ratio, diagnose
from core.optimizers import figures as race_figures
from core.records import ActivationStats, EvalRecord, StepRecord
from ui import charts

LAYERS = ["hidden 1", "hidden 2", "output"]


def record(step, norms, *, loss=0.5, acts=None, clipped=False, total=None):
    norms = dict(zip(LAYERS, norms, strict=True))
    total = total if total is not None else math.sqrt(sum(v * v for v in norms.values()))
    return StepRecord(step, loss, 0.01, norms, total, clipped, acts)


def test_heatmap_puts_the_first_layer_at_the_bottom_on_a_log_scale():
    recs = [record(s, [1e-6, 1e-3, 1.0]) for s in range(1, 6)]
    fig = figures.grad_norm_heatmap(recs, LAYERS)
    heat = fig.data[0]
    assert list(heat.y) == LAYERS  # plotly draws the first category at the bottom
    assert np.allclose(np.asarray(heat.z)[:, 0], [-6, -3, 0])
    assert "input at bottom" in fig.layout.yaxis.title.text


def test_heatmap_bins_long_runs_and_marks_zero_and_nan():
    recs = [record(s, [0.0, float("nan"), 10.0]) for s in range(1, 451)]
    steps, logs = figures.grad_norm_matrix(recs, LAYERS, max_columns=200)
    assert logs.shape == (3, len(steps)) and len(steps) <= 200
    assert steps[-1] == 450
    assert (logs[0] == figures.ZERO_FLOOR).all() and np.isnan(logs[1]).all() and np.allclose(logs[2], 1.0)


def test_log_axes_label_powers_of_ten_only_over_a_decade_or_more():
    wide = style.log_axis((-4.0, 0.5), "norm")
    assert wide["type"] == "log" and wide["dtick"] == 1 and wide["exponentformat"] == "power"
    assert style.log_axis((1.0, 16.0), "loss")["dtick"] == 3  # 15 decades: every third power
    narrow = style.log_axis((-0.3, 0.1), "loss")
    assert narrow["dtick"] == "D1" and narrow["tickformat"] == ".2g"  # every digit, not a lone "1"


def test_shared_ranges_span_all_values():
    assert style.log_range([1e-3, 10.0, float("nan"), 0.0], pad=0) == (-3.0, 1.0)
    assert style.log_range([]) is None


def test_every_figure_builds_from_records_and_from_nothing():
    acts = {"hidden 1": ActivationStats(0.1, 0.2, 0.5, 0.0), "hidden 2": ActivationStats(0.3, 0.1, 0.0, 0.9)}
    recs = [record(1, [1e-3, 1e-2, 1.0], acts=acts), record(2, [1e-3, 1e-2, 1.0], loss=float("nan"))]
    evals = [EvalRecord(0, 0.7, 0.5, 0.7, 0.5)]
    assert len(figures.loss_curves(recs, evals, diverged_at=2).data) == 3
    assert figures.loss_curves([], []).layout.yaxis.type == "log"
    assert len(figures.grad_norm_bars(recs[0], LAYERS).data[0].x) == 3
    empty = figures.grad_norm_bars(None, LAYERS).data[0]  # before the first step
    assert list(empty.y) == LAYERS and all(x is None for x in empty.x)
    chart = figures.activation_stats_chart(acts, 1)
    assert [t.type for t in chart.data] == ["scatter", "bar", "bar"]
    assert list(chart.data[1].x) == [50.0, 0.0] and list(chart.data[2].x) == [0.0, 90.0]
    assert figures.activation_stats_chart(None).data == ()
    grid = np.linspace(-1, 1, 4)
    boundary = figures.decision_boundary(grid, grid, np.full((4, 4), 0.5), np.zeros((2, 2)), np.array([0, 1]))
    assert boundary.data[0].type == "heatmap"
    # sent with our template (never Streamlit's theme), which the figures leave to ui.charts
    for fig in (chart, boundary, figures.loss_curves([], [])):
        assert fig.to_dict()["layout"]["template"] == {} and fig.layout.xaxis.tickfont.size is None
        sent = charts.spec(fig)
        assert sent["layout"]["template"] == style.TEMPLATE and len(sent["data"]) == len(fig.data)
        drawn = go.Figure(sent)  # plotly reads it back: a valid figure, with the template's ink and sizes
        assert drawn.layout.template.layout.font.color == style.INK
        assert drawn.layout.template.layout.xaxis.tickfont.size >= 14


def test_gradient_norms_are_written_readably_beside_their_bars():
    fig = figures.grad_norm_bars(record(3, [8e-13, 0.0123, 250.0]), LAYERS)
    bars = fig.data[0]
    assert list(bars.text) == ["8e-13", "0.012", "2.5e2"]  # never ".0000000000008", never "8.0e-13"
    assert bars.textposition == "outside" and bars.constraintext == "none"  # full size, not squeezed inside
    low, high = style.log_range([8e-13, 0.0123, 250.0])
    assert fig.layout.xaxis.range[0] == low and fig.layout.xaxis.range[1] > high + 0.3 * (high - low) - 1e-9
    many = [f"hidden {i}" for i in range(60)]  # rows too thin to hold a value: hover only
    thin = StepRecord(1, 0.5, 0.01, dict.fromkeys(many, 0.1), 1.0, False, None)
    assert not any(figures.grad_norm_bars(thin, many).data[0].text)
    readable = {0.3: "0.3", 3.4: "3.4", 12.0: "12", 1.5e-13: "1.5e-13", 2e4: "2e4"}
    assert {v: figures.short_number(v) for v in readable} == readable


def test_decision_boundaries_have_axis_titles_and_a_colour_key():
    grid = np.linspace(-1, 1, 4)
    one = figures.decision_boundary(grid, grid, np.full((4, 4), 0.5), np.zeros((2, 2)), np.array([0, 1]))
    assert one.layout.xaxis.title.text == "feature x₁" and one.layout.yaxis.title.text == "feature x₂"
    heat = one.data[0]
    assert heat.showscale and "score" in heat.colorbar.title.text and "class 1" in heat.colorbar.ticktext[-1]
    panels = {name: (grid, grid, np.full((4, 4), 0.5)) for name in ("a", "b", "c", "d")}
    many = race_figures.boundary_grid(panels, np.zeros((2, 2)), np.array([0, 1]))
    assert [t.showscale for t in many.data if t.type == "heatmap"] == [True, False, False, False]  # one key
    x_titles = [many.layout[f"xaxis{s}"].title.text for s in ("", "2", "3", "4")]
    assert x_titles == ["", "feature x₁", "feature x₁", "feature x₁"]  # under the last panel of each column
    y_titles = [many.layout[f"yaxis{s}"].title.text for s in ("", "2", "3", "4")]
    assert y_titles == ["feature x₂", "", "", "feature x₂"]  # beside the first column


@pytest.mark.parametrize(
    ("ratio", "words"),
    [(1.2e-6, "about a millionth (1.2e-06)"), (8e-10, "about a billionth"), (0.02, "about 1/50"),
     (2300, "about a thousand times"), (3.0, "about 3 times"), (2e-12, "about a trillionth"),
     (1e-30, "less than a trillionth (1.0e-30)"), (5e20, "more than a trillion times")],
)  # fmt: skip
def test_ratios_in_words(ratio, words):
    assert describe_ratio(ratio).startswith(words)


def test_diagnosis_names_each_failure():
    assert diagnose([]).kind == "info"
    assert diagnose([record(1, [1e-7, 1e-4, 1.0])]).kind == "vanishing"
    assert "millionth" in diagnose([record(1, [1e-6, 1e-4, 1.0])]).what
    assert diagnose([record(1, [1e4, 10, 1.0])]).kind == "exploding"
    equal = diagnose([record(1, [0.0, 0.0, 1.0])])
    assert equal.kind == "zero" and "all weights equal" in equal.what and "initializer" in equal.advice
    all_dead = {"hidden 1": ActivationStats(0, 1, 0.3, 0), "hidden 2": ActivationStats(0, 0, 1.0, 0)}
    killed = diagnose([record(1, [0.0, 0.0, 1.0], acts=all_dead)])  # e.g. Adam at lr 10 on ReLUs
    assert killed.kind == "zero" and "every unit of hidden 2 outputs 0" in killed.what
    assert "weights equal" not in killed.what and "lower learning rate" in killed.advice
    first_only = diagnose([record(1, [0.0, 1e-3, 1.0])])  # the first layer alone gets nothing back
    assert first_only.kind == "vanishing" and "exactly zero while the last layer's is not" in first_only.what
    dead = {"hidden 1": ActivationStats(0, 0, 0.8, 0), "hidden 2": ActivationStats(0, 1, 0.0, 0)}
    assert diagnose([record(1, [0.5, 0.5, 1.0], acts=dead)]).kind == "dead"
    flat = {"hidden 1": ActivationStats(0.5, 0.5, 0.0, 0.7)}
    assert diagnose([record(1, [0.5, 0.5, 1.0], acts=flat)]).kind == "saturated"
    healthy = diagnose([record(1, [0.5, 0.5, 1.0], clipped=True)])
    assert healthy.kind == "healthy" and "Clipping" in healthy.what and not healthy.severe


def test_dead_or_saturated_units_in_a_run_that_learns_are_a_note_not_a_warning():
    dead = {"hidden 1": ActivationStats(0, 0, 0.6, 0), "hidden 2": ActivationStats(0, 1, 0.0, 0)}

    def run(losses, acts=dead):
        return [record(i + 1, [0.5, 0.5, 1.0], loss=loss, acts=acts) for i, loss in enumerate(losses)]

    falling = diagnose(run([4.0] * 10 + [2.0] * 10 + [0.1] * 10))
    assert falling.kind == "info" and not falling.severe
    assert "60% of the units in hidden 1 are dead" in falling.what
    assert "the loss fell from 4 to 0.1" in falling.what and "carry the learning" in falling.what
    stuck = diagnose(run([0.8] * 10 + [0.69] * 20))  # at a coin flip's loss: the dead units are the story
    assert stuck.kind == "dead" and stuck.severe
    assert diagnose(run([4.0] * 10 + [0.1] * 5)).kind == "dead"  # too short to tell: the warning stands
    flat = {"hidden 1": ActivationStats(0.5, 0.5, 0.0, 0.7)}
    assert diagnose(run([2.0] * 10 + [0.5] * 10, acts=flat)).kind == "info"
    assert diagnose(run([2.0] * 20, acts=flat)).kind == "saturated"


def test_divergence_diagnosis_gives_the_step_and_the_peak_norm():
    recs = [
        record(1, [1.0, 1.0, 1.0], total=3e8),
        record(2, [1.0, 1.0, 1.0], loss=float("nan"), total=float("inf")),
    ]
    d = diagnose(recs, diverged_at=2)
    assert d.kind == "diverged" and "at step 2" in d.what and "3.0e+08" in d.what and "clipping" in d.advice


def test_race_and_surface_figures():
    evals = {"SGD": [EvalRecord(0, 0.7, 0.5, 0.7, 0.5), EvalRecord(10, 0.5, 0.7, 0.6, 0.65)], "Adam": []}
    loss = style.eval_curves(evals, metric="loss")
    assert [t.name for t in loss.data] == ["SGD", "SGD", "Adam", "Adam"]  # train solid, test dotted
    assert [t.line.dash for t in loss.data] == ["solid", "dot", "solid", "dot"]
    assert [t.showlegend for t in loss.data] == [True, False, True, False]  # one legend entry per racer
    assert loss.layout.title.text == "Loss: train (solid) and test (dotted)"
    assert loss.layout.yaxis.title.text == "loss (log scale)"
    named = style.eval_curves(evals, metric="loss", loss="cross-entropy loss")
    assert named.layout.title.text == "Cross-entropy loss: train (solid) and test (dotted)"
    race = style.eval_curves(evals, metric="accuracy", accuracy=("test",))
    assert list(race.data[0].y) == [50.0, 65.0] and race.layout.title.text == "Test accuracy"
    one = style.eval_curves({"": evals["SGD"]}, metric="accuracy")  # one unnamed run: a legend entry a split
    assert [t.name for t in one.data] == ["train", "test"] and all(t.showlegend for t in one.data)
    assert list(one.data[0].y) == [50.0, 70.0]
    grid = np.linspace(-1, 1, 3)
    panels = {name: (grid, grid, np.full((3, 3), 0.5)) for name in ("a", "b", "c", "d")}
    boundaries = race_figures.boundary_grid(panels, np.zeros((2, 2)), np.array([0, 1]))
    assert (
        len(boundaries.data) == 12 and boundaries.layout.yaxis4.domain[1] < boundaries.layout.yaxis.domain[0]
    )
    path = [(1.0, 1.0), (0.5, 0.5), (0.25, 0.25), (0.1, 0.1)]
    contour = race_figures.surface_paths(
        grid, grid, np.ones((3, 3)), {"SGD": path}, title="Bowl", minimum=(0, 0)
    )
    assert contour.data[1].name == "SGD" and len(contour.frames) >= 3
    assert list(contour.frames[-1].data[0].x) == [1.0, 0.5, 0.25, 0.1]  # the last frame shows the whole path
    assert len(race_figures.path_losses({"SGD": [2.0, 1.0, 0.5]}).data) == 1


def test_mid_run_events_go_onto_a_step_chart():
    from core.snapshots import LrChange

    fig = style.step_figure(
        [dict(type="scatter", x=[1, 2, 3], y=[1.0, 0.5, 0.2])],
        "Loss",
        style.log_axis((-1.0, 0.0), "loss"),
        before={"before the change": ([1, 2, 3, 4], [1.0, 0.9, 0.8, 5e-3])},
        marks={"A": [LrChange(2, 0.01, 0.1)]},
    )
    before = fig.data[-1]
    assert before.name == "before the change" and before.line.dash == "dot" and list(before.y)[-1] == 5e-3
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 2
    assert [a.text for a in fig.layout.annotations] == ["lr 0.01 → 0.1"]  # one label: no "A:" prefix
    low, high = fig.layout.yaxis.range
    assert low <= math.log10(5e-3) and high == 0.0  # the fixed range widened to show the before line
    marks = {"A": [LrChange(100, 0.01, 0.1), LrChange(104, 0.1, 0.3), LrChange(300, 0.3, 0.01)]}
    close = style.step_figure([], "Loss", style.log_axis(None, "loss"), marks=marks)
    heights = [a.y for a in close.layout.annotations]
    assert heights[0] != heights[1]  # 4 steps apart: stacked, not printed over each other
    assert heights[2] == heights[0]  # far apart: the top row again


def test_binned_averages_long_histories_and_keeps_the_newest_step():
    steps = list(range(1, 1001))
    x, y = style.binned(steps, [float(s) for s in steps], most=300)
    assert len(x) == 250 and x[0] == y[0] == 2.5  # bins of 4: the mean of 1..4
    assert x[-1] == 998.5  # the last bin, 997..1000, holds the newest step
    x, _ = style.binned(steps[:7], steps[:7], most=3)
    assert list(x) == [2.0, 5.0, 7.0]  # bins of 3, 3 and the newest 1
    assert list(style.binned([1, 2], [5.0, 6.0])[1]) == [5.0, 6.0]


def test_a_step_chart_at_its_first_steps_spans_ten_whole_steps():
    """At step 0 a chart showed 0, 0.2, 0.4, ... 1 on its step axis; now 0 to 10 until step 10."""
    from core.charts import MIN_STEPS_SHOWN, step_figure

    point = dict(type="scatter", x=[0], y=[0.7])
    assert list(step_figure([point], "loss", {}).layout.xaxis.range) == [0, MIN_STEPS_SHOWN]
    assert list(step_figure([], "loss", {}).layout.xaxis.range) == [0, MIN_STEPS_SHOWN]
    longer = dict(type="scatter", x=[0, 10, 20], y=[0.7, 0.6, 0.5])
    assert step_figure([longer], "loss", {}).layout.xaxis.range is None  # Plotly's own range from then on
    replaced = {"before the change": ([0, 400, 812], [0.7, 0.4, 0.3])}  # a faded line from a longer run
    assert step_figure([point], "loss", {}, before=replaced).layout.xaxis.range is None


def test_chance_lines_span_the_first_ten_steps_too():
    """The two-heads lab's accuracy and angle charts draw their chance lines across the same 0-10 steps."""
    from core.charts import MIN_STEPS_SHOWN
    from core.multitask import figures as mt

    scores = mt.task_scores({}, {"char": 0.05})
    assert list(scores.data[0].x) == [0, MIN_STEPS_SHOWN]
    assert list(mt.angle_error({}, 900.0).data[0].x) == [0, MIN_STEPS_SHOWN]


def test_figures_are_built_unvalidated_and_the_tests_check_each_against_its_validated_build(monkeypatch):
    assert building.CHECK_FIGURES  # tests/conftest.py: every figure any test makes is checked
    spec = dict(
        data=[dict(type="scatter", x=[0, 1, 2], y=[1.0, None, 3.0], name=None)],
        layout=dict(template={}, title=dict(text="t"), xaxis=dict(range=None), yaxis={}, shapes=[]),
    )
    fig = building.figure(spec)
    # None means "not set", as validation has it; a gap in a line stays a gap; our empty template stays
    assert fig.to_dict()["layout"] == {"template": {}, "title": {"text": "t"}}
    assert list(fig.data[0].y) == [1.0, None, 3.0] and "name" not in fig.to_dict()["data"][0]
    with pytest.raises(ValueError, match="colour"):  # a property plotly does not know
        building.figure(dict(data=[dict(type="scatter", x=[0], y=[0], colour="red")], layout={}))
    bad = dict(data=[dict(type="heatmap", z=[[0.0]], colorscale="Viridis")], layout={})
    with pytest.raises(AssertionError, match="colorscale"):  # a name the browser's Plotly.js may not know
        building.figure(bad)
    monkeypatch.setattr(building, "CHECK_FIGURES", False)  # the app: no validation, whatever the figure says
    assert building.figure(bad).to_dict()["data"][0]["colorscale"] == "Viridis"
