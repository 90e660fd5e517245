"""The lab's charts: the total loss and its weighted parts, per-task test scores, the weight trade-off."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts import (
    BLUE,
    GREEN,
    GREY,
    LEGEND_BELOW,
    MIN_STEPS_SHOWN,
    PALETTE,
    RED,
    base_layout,
    binned,
    log_axis,
    log_range,
    step_figure,
)
from core.figures import figure
from core.multitask.models import TASKS
from core.multitask.run import MTEvalRecord, MTStepRecord
from core.multitask.sweep import Sweep

DASH = {"char": "solid", "alphabet": "dash", "angle": "dot"}
TASK_COLORS = {"char": BLUE, "alphabet": RED, "angle": GREEN}
DOMINANT = 0.97  # a part at least this share of the total (median over the run) lies on the total's line


def _name(label: str, what: str) -> str:
    return f"{label}: {what}" if label else what


def loss_parts(
    series: Mapping[str, Sequence[MTStepRecord]],
    normalise: Mapping[str, str],
    before: Mapping | None = None,
    marks: Mapping | None = None,
) -> go.Figure:
    """Each run's total training loss (a wide pale band) and its weighted parts (thin, one dash per task,
    drawn on top), log axis. A part that is nearly all of the total lies inside the band, where it stays
    visible, and its legend entry says "≈ total". Each part's unit is in its legend entry: its own
    (`normalise[label]` "none") or "÷ its start"; `before` and `marks` as in core.charts.with_events."""
    data, values = [], []
    for i, (label, records) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = [r for r in records if math.isfinite(r.total)]
        if not good:
            continue
        steps, totals = binned([r.step for r in good], [r.total for r in good])
        tasks = list(good[0].parts)
        units = {t: TASKS[t].loss_label if normalise[label] == "none" else "÷ its start" for t in tasks}
        if len(tasks) == 1:  # one task: its part is the total
            lines = [(f"total: {TASKS[tasks[0]].label} {units[tasks[0]]}", "total", totals)]
        else:
            lines = [("total = sum of the weighted parts", "total", totals)]
            for t in tasks:
                _, ys = binned([r.step for r in good], [r.parts[t] for r in good])
                hides = float(np.median(ys / totals)) >= DOMINANT  # the band would hide it: say so
                name = f"weighted {TASKS[t].label}, {units[t]}" + (" ≈ total" if hides else "")
                lines.append((name, t, ys))
        for what, kind, ys in lines:
            values += ys.tolist()
            band = kind == "total"
            data.append(
                dict(type="scatter", x=steps, y=ys, mode="lines", name=_name(label, what), legendgroup=label,
                     line=dict(color=color, width=8 if band else 2, dash="solid" if band else DASH[kind]),
                     opacity=0.35 if band else 1.0)
            )  # fmt: skip
    title = "Total loss = sum of the weighted parts"
    yaxis = log_axis(log_range(values), "loss (log scale; units in the legend)")
    return step_figure(data, title, yaxis, height=360, before=before, marks=marks)


def _chance_line(y: float, text: str, last: int) -> dict:
    return dict(type="scatter", x=[0, last], y=[y, y], mode="lines", name=text, hoverinfo="name",
                line=dict(color=GREY, width=1, dash="dot"))  # fmt: skip


def task_scores(series: Mapping[str, Sequence[MTEvalRecord]], chance: Mapping[str, float]) -> go.Figure:
    """Test accuracy of every classification head of every run, with each task's chance level."""
    data = []
    last = max(max((e.step for evals in series.values() for e in evals), default=0), MIN_STEPS_SHOWN)
    for task in (t for t in chance if not TASKS[t].regression):
        data.append(_chance_line(100 * chance[task], f"chance: {TASKS[task].label}", last))
    for i, (label, evals) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        for task in (t for t in evals[0].score if not TASKS[t].regression):
            data.append(
                dict(type="scatter", x=[e.step for e in evals], y=[100 * e.score[task] for e in evals],
                     mode="lines+markers", name=_name(label, TASKS[task].label), legendgroup=label,
                     marker=dict(size=4), line=dict(color=color, width=2, dash=DASH[task]))
            )  # fmt: skip
    layout = base_layout(
        "Test accuracy of each head",
        height=360,
        xaxis=dict(title=dict(text="step"), rangemode="tozero"),
        yaxis=dict(title=dict(text="test accuracy (%)"), range=[0, 101]),
        legend=LEGEND_BELOW,
    )
    return figure(dict(data=data, layout=layout))


def angle_error(series: Mapping[str, Sequence[MTEvalRecord]], baseline: float) -> go.Figure:
    """Test MSE of the angle (degrees²) of every run that predicts it, beside always saying the mean angle."""
    last = max(max((e.step for evals in series.values() for e in evals), default=0), MIN_STEPS_SHOWN)
    data = [_chance_line(baseline, "always the mean angle", last)]
    for i, (label, evals) in enumerate(series.items()):
        data.append(
            dict(type="scatter", x=[e.step for e in evals], y=[e.score["angle"] for e in evals],
                 mode="lines+markers", name=_name(label, "angle"), marker=dict(size=4),
                 line=dict(color=PALETTE[i % len(PALETTE)], width=2, dash=DASH["angle"]))
        )  # fmt: skip
    layout = base_layout(
        "Test error of the angle head (MSE, degrees²)",
        height=360,
        xaxis=dict(title=dict(text="step"), rangemode="tozero"),
        yaxis=dict(title=dict(text="MSE (degrees²)"), rangemode="tozero"),
        legend=LEGEND_BELOW,
    )
    return figure(dict(data=data, layout=layout))


def tradeoff(sweep: Sweep) -> go.Figure:
    """Each task's final test score against the first task's weight (sum-to-one); MSE on a right axis."""
    first, second = sweep.tasks
    x = sweep.shares()
    data = []
    for task in sweep.tasks:
        regression = TASKS[task].regression
        scale = 1 if regression else 100
        ys = [scale * p.score[task] for p in sweep.points]
        name = f"{TASKS[task].label} ({TASKS[task].score_label})"
        data.append(
            dict(type="scatter", x=x, y=ys, mode="lines+markers", name=name,
                 yaxis="y2" if regression else "y", marker=dict(size=9),
                 line=dict(color=TASK_COLORS[task], width=3, dash=DASH[task]),
                 customdata=[[p.weights[first], p.weights[second]] for p in sweep.points],
                 hovertemplate=f"weights {TASKS[first].label} %{{customdata[0]:.2f}} : {TASKS[second].label} "
                 "%{customdata[1]:.2f}<br>%{y:.3g}<extra></extra>")
        )  # fmt: skip
        data.append(
            dict(type="scatter", x=[0, 1], y=[scale * sweep.chance[task]] * 2, mode="lines", hoverinfo="name",
                 name=f"chance: {TASKS[task].label}" if not regression else "always the mean angle",
                 yaxis="y2" if regression else "y", line=dict(color=TASK_COLORS[task], width=1, dash="dot"))
        )  # fmt: skip
    ticks = [f"{s:g}<br>({1 - s:g})" for s in x]
    layout = base_layout(
        f"Trade-off: final test scores after {sweep.steps} steps, by the loss weights",
        height=420,
        xaxis=dict(
            title=dict(text=f"weight of the {TASKS[first].label} loss (of the {TASKS[second].label} loss)"),
            range=[0, 1],
            tickvals=x,
            ticktext=ticks,
        ),
        yaxis=dict(title=dict(text="test accuracy (%)"), range=[0, 101]),
        legend=LEGEND_BELOW,
    )
    if any(TASKS[t].regression for t in sweep.tasks):
        layout["yaxis2"] = dict(title=dict(text="angle MSE (degrees²)"), rangemode="tozero", overlaying="y",
                                side="right", showgrid=False)  # fmt: skip
    diverged = [s for s, p in zip(x, sweep.points, strict=True) if p.diverged]
    if diverged:
        layout["annotations"] = [
            dict(x=s, y=1, yref="paper", text="diverged", showarrow=False, font=dict(color="red"))
            for s in diverged
        ]
    return figure(dict(data=data, layout=layout))
