"""Pure functions from the Sequences lab's records and forecasts to plotly figures.

As in core.charts, each figure is one dict handed to go.Figure once (one validation pass).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts import (
    BLUE,
    BROWN,
    CYAN,
    DARK,
    GREEN,
    GREY,
    LEGEND_BELOW,
    PINK,
    PURPLE,
    RED,
    TEST,
    TRAIN,
    base_layout,
    log_axis,
    log_range,
    step_figure,
)
from core.errors import escape_html
from core.figures import figure

CELL_COLORS = {"RNN": RED, "LSTM": BLUE, "GRU": GREEN}
OTHER_COLORS = (PURPLE, BROWN, PINK, CYAN)
TRUTH, BASELINE = DARK, GREY
SPLIT_COLORS = {"train": TRAIN, "test": TEST}
MAX_DRAWN = 5_000  # points of the whole series drawn; a longer series is thinned for the overview
SHOWN_DAYS = 3  # the forecast charts open on this many days of the test period (zoom out for all)


def color_of(label: str, i: int = 0) -> str:
    """Each cell keeps its colour on every chart: RNN red, LSTM blue, GRU green."""
    cell = label.split(" ")[0]
    return CELL_COLORS.get(cell, OTHER_COLORS[i % len(OTHER_COLORS)])


def dash_of(label: str) -> str:
    return "dash" if "shuffled" in label else "solid"


def _time_axis(title: str = "", span: tuple | None = None) -> dict:
    return dict(title=dict(text=title), type="date", range=list(span) if span else None)


def series_split(
    times: np.ndarray,
    values: np.ndarray,
    split_at: int,
    *,
    name: str,
    unit: str,
    shuffled: bool = False,
) -> go.Figure:
    """The whole series, the training period in blue and the test period in orange, split marked."""
    every = max(1, math.ceil(len(values) / MAX_DRAWN))
    label = escape_html(f"{name} ({unit})" if unit else name)  # a CSV's column name, shown as written
    data = []
    for part, piece in (("train", slice(0, split_at + 1)), ("test", slice(split_at, None))):
        data.append(
            dict(type="scatter", x=times[piece][::every], y=values[piece][::every], mode="lines",
                 name="training period" if part == "train" else "test period",
                 line=dict(color=SPLIT_COLORS[part], width=1))
        )  # fmt: skip
    when = str(np.datetime_as_string(times[split_at], unit="m")).replace("T", " ")
    text = (
        "shuffled split: train and test windows are dealt at random across the whole series"
        if shuffled
        else f"test period from {when}"
    )
    layout = base_layout(
        f"Where the split falls: {text}",
        height=260,
        xaxis=_time_axis(),
        yaxis=dict(title=dict(text=label)),
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
        shapes=[] if shuffled else [_vertical(times[split_at])],
    )
    return figure(dict(data=data, layout=layout))


def _vertical(x) -> dict:
    return dict(
        type="line", x0=x, x1=x, yref="paper", y0=0, y1=1, line=dict(color=TRUTH, width=1, dash="dot")
    )


def mse_curves(
    series: Mapping[str, Sequence],
    baselines: Mapping[str, float],
    before: Mapping | None = None,
    marks: Mapping | None = None,
) -> go.Figure:
    """Train (solid) and test (dotted) MSE of every run over steps, naive baselines as dashed lines;
    `before` and `marks` as in core.charts.with_events."""
    data = []
    for i, (label, evals) in enumerate(series.items()):
        good = [e for e in evals if math.isfinite(e.train_mse) and math.isfinite(e.test_mse)]
        for split, width, dash in (("train", 2, "solid"), ("test", 2, "dot")):
            data.append(
                dict(type="scatter", x=[e.step for e in good], y=[getattr(e, f"{split}_mse") for e in good],
                     name=f"{label}: {split}", mode="lines", legendgroup=label,
                     line=dict(color=color_of(label, i), width=width, dash=dash))
            )  # fmt: skip
    last = max((e.step for evals in series.values() for e in evals), default=1) or 1
    for j, (name, mse) in enumerate(baselines.items()):
        data.append(
            dict(type="scatter", x=[0, last], y=[mse, mse], mode="lines", name=f"{name} (test)",
                 line=dict(color=BASELINE, width=1.5, dash=("dash", "longdashdot")[j % 2]))
        )  # fmt: skip
    values = [y for trace in data for y in trace["y"]]
    yaxis = log_axis(log_range(values), "MSE (log scale; solid train, dotted test)")
    title = "Mean squared error (normalised units)"
    return step_figure(data, title, yaxis, height=380, before=before, marks=marks)


def forecast_chart(forecasts: Mapping[str, object], *, kind: str, unit: str) -> go.Figure:
    """Truth on the test period against each run's forecast: one step ahead, or recursive for a day.

    forecasts: label -> core.sequences.run.Forecast (all of the same period).
    """
    first = next(iter(forecasts.values()))
    data = [dict(type="scatter", x=first.times, y=first.truth, mode="lines", name="truth",
                 line=dict(color=TRUTH, width=2.5))]  # fmt: skip
    if kind == "multi":
        data.append(
            dict(type="scatter", x=first.times, y=first.seasonal_multi, mode="lines",
                 name="same time the day before", line=dict(color=BASELINE, width=1.5, dash="dash"))
        )  # fmt: skip
    for i, (label, f) in enumerate(forecasts.items()):
        y = f.one_step if kind == "one_step" else f.multi
        data.append(
            dict(type="scatter", x=f.times, y=y, mode="lines", name=label, connectgaps=False,
                 line=dict(color=color_of(label, i), width=1.5, dash=dash_of(label)))
        )  # fmt: skip
    step = first.times[1] - first.times[0] if len(first.times) > 1 else np.timedelta64(1, "h")
    shown = min(len(first.times) - 1, int(np.timedelta64(SHOWN_DAYS, "D") / step))
    span = (first.times[0], first.times[max(shown, 0)]) if len(first.times) else None
    if kind == "one_step":
        title = "One step ahead on the test period: each point predicted from the true window before it"
    elif first.length > first.horizon:
        title = (
            f"{first.length} steps ahead, recursive: each block of {first.horizon} predictions fed back in"
        )
    else:
        title = f"{first.length} steps ahead, all from one window: the model's {first.horizon} outputs"
    shapes = [_vertical(first.times[o]) for o in first.origins] if kind == "multi" else []
    layout = base_layout(
        title,
        height=380,
        xaxis=_time_axis("", span),
        yaxis=dict(title=dict(text=escape_html(unit) if unit else "value")),
        legend=LEGEND_BELOW,
        shapes=shapes,
    )
    return figure(dict(data=data, layout=layout))


def input_gradient_chart(profiles: Mapping[str, Sequence[float]]) -> go.Figure:
    """|d loss / d x_t| against how many steps back x_t lies, one line per run, log scale."""
    data = []
    for i, (label, grads) in enumerate(profiles.items()):
        back = -np.arange(len(grads), 0, -1)  # oldest input first: -T .. -1
        data.append(
            dict(type="scatter", x=back, y=np.asarray(grads), mode="lines", name=label,
                 line=dict(color=color_of(label, i), width=2, dash=dash_of(label)))
        )  # fmt: skip
    values = [v for grads in profiles.values() for v in grads]
    return figure(
        dict(
            data=data,
            layout=base_layout(
                "Why the plain RNN forgets: gradient per input step",
                height=380,
                xaxis=dict(title=dict(text="input step, counted back from the forecast (−1 = the latest)")),
                yaxis=log_axis(log_range(values), "gradient norm (log scale)"),
                legend=LEGEND_BELOW,
            ),
        )
    )
