"""The Gradients lab's charts: loss, per-layer gradient norms (heatmap and bars), activations, and
what the model predicts on a 2-D dataset. Their look comes from core.charts."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts import (
    FEATURES,
    LEGEND_BELOW,
    PURPLE,
    RED,
    TEST,
    TRAIN,
    VIRIDIS,
    base_layout,
    binned,
    boundary_traces,
    log_axis,
    log_range,
    step_figure,
)
from core.figures import figure
from core.records import ActivationStats, EvalRecord, StepRecord

ZERO_FLOOR = -30.0  # log10 used for an exactly-zero gradient norm
MAX_COLUMNS = 200  # heatmap columns; longer runs are averaged into bins of steps
COLORS = {"train": TRAIN, "test": TEST, "dead": RED, "saturated": PURPLE}


def _layer_height(n_layers: int, base: int = 120) -> int:
    return max(260, min(640, base + 16 * n_layers))


def _diverged_mark(step: int) -> dict:
    """A red dashed line at the step where the run diverged, labelled so."""
    line = dict(type="line", x0=step, x1=step, yref="paper", y0=0, y1=1, line=dict(color=RED, dash="dash"))
    label = dict(x=step, y=1, yref="paper", text=f"diverged at step {step}", showarrow=False,
                 font=dict(color=RED), xanchor="left", yanchor="top")  # fmt: skip
    return {"shapes": [line], "annotations": [label]}


def loss_curves(
    records: Sequence[StepRecord],
    evals: Sequence[EvalRecord],
    *,
    title: str = "Loss",
    y_range: tuple[float, float] | None = None,
    diverged_at: int | None = None,
    before: Mapping | None = None,
    marks: Mapping | None = None,
) -> go.Figure:
    """Train loss per step (batch) and train/test loss on the whole sets, log y axis; `before` and
    `marks` as in with_events."""
    finite = [r for r in records if math.isfinite(r.loss) and r.loss > 0]
    good = [e for e in evals if math.isfinite(e.test_loss) and e.test_loss > 0]
    steps, losses = binned([r.step for r in finite], [r.loss for r in finite])
    data = [
        dict(
            type="scatter",
            x=steps,
            y=losses,
            name="train (batch)",
            mode="lines",
            line=dict(color=COLORS["train"], width=1),
            opacity=0.4,
        )
    ]
    for split in ("train", "test"):
        data.append(
            dict(
                type="scatter",
                x=[e.step for e in good],
                y=[getattr(e, f"{split}_loss") for e in good],
                name=f"{split} (whole set)",
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=COLORS[split], width=2),
            )
        )
    yaxis = log_axis(
        y_range or log_range([r.loss for r in finite] + [e.test_loss for e in good]), "loss (log scale)"
    )
    layout = _diverged_mark(diverged_at) if diverged_at is not None else {}
    return step_figure(data, title, yaxis, before=before, marks=marks, **layout)


def grad_norm_matrix(
    records: Sequence[StepRecord], layer_names: Sequence[str], max_columns: int = MAX_COLUMNS
) -> tuple[np.ndarray, np.ndarray]:
    """(steps (C,), log10 norms (L, C)), averaging log norms over bins of consecutive steps."""
    if not records:
        return np.zeros(0), np.zeros((len(layer_names), 0))
    norms = np.array([[r.grad_norms[name] for name in layer_names] for r in records], dtype=float)  # (S, L)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(norms)
    logs[norms == 0] = ZERO_FLOOR
    logs[~np.isfinite(norms)] = np.nan  # NaN / Inf gradients leave a gap
    steps = np.array([r.step for r in records], dtype=float)
    size = math.ceil(len(records) / max_columns)
    if size > 1:  # bins of `size` steps, the last one shorter: padded with NaN, which nanmean skips
        columns = math.ceil(len(records) / size)
        padded = np.full((columns * size, logs.shape[1]), np.nan)
        padded[: len(records)] = logs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bin (diverged) stays NaN
            logs = np.nanmean(padded.reshape(columns, size, -1), axis=1)  # (C, L), one call for every bin
        steps = steps[np.minimum(np.arange(1, columns + 1) * size, len(records)) - 1]
    return steps, logs.T


def grad_norm_heatmap(
    records: Sequence[StepRecord],
    layer_names: Sequence[str],
    *,
    title: str = "Gradient norm per layer over steps",
    z_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Layers (input at the bottom, output at the top) by steps, log10 colour scale."""
    steps, logs = grad_norm_matrix(records, layer_names)
    if z_range is None:
        z_range = (float(np.nanmin(logs)), float(np.nanmax(logs))) if np.isfinite(logs).any() else (-3.0, 1.0)
    low, high = z_range
    if high - low < 1:
        low, high = low - 0.5, high + 0.5
    ticks = list(range(math.ceil(low), math.floor(high) + 1))
    ticks = ticks[:: math.ceil(len(ticks) / 6)]
    heat = dict(
        type="heatmap",
        x=steps,
        y=list(layer_names),
        z=np.where(np.isfinite(logs), logs, np.nan),  # NaN is drawn as a gap
        zmin=low,
        zmax=high,
        colorscale=VIRIDIS,
        colorbar=dict(
            title=dict(text="gradient<br>norm", side="top"),
            tickvals=ticks,
            ticktext=[f"1e{t}" for t in ticks],
        ),
        hovertemplate="step %{x}<br>%{y}<br>log10 norm %{z:.2f}<extra></extra>",
    )
    layout = base_layout(
        title,
        height=_layer_height(len(layer_names)),
        xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text="layer (input at bottom)"), type="category"),  # fits a 250 px chart
    )
    return figure(dict(data=[heat], layout=layout))


LABEL_ROW = 15  # px of plot height a layer's row needs for its value to be written beside its bar


def grad_norm_bars(
    record: StepRecord | None,
    layer_names: Sequence[str],
    *,
    x_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Each layer's gradient norm at one step, log x axis, input layer at the bottom; each value written
    at full size beside its bar (inside, plotly shrinks it to the bar's thickness), room made for it on
    the right, when the rows are tall enough to hold it."""
    values = [record.grad_norms[name] for name in layer_names] if record else [math.nan] * len(layer_names)
    height = _layer_height(len(layer_names))
    labelled = (height - 100) / max(1, len(layer_names)) >= LABEL_ROW  # ~100 px: title and x axis
    bars = dict(
        type="bar",
        x=[v if v > 0 and math.isfinite(v) else None for v in values],
        y=list(layer_names),  # every layer gets its row, also before the first step
        orientation="h",
        marker=dict(color=COLORS["train"]),
        text=[short_number(v) if labelled and math.isfinite(v) else "" for v in values],
        textposition="outside",
        constraintext="none",
        cliponaxis=False,
        hovertemplate="%{y}: %{x:.2e}<extra></extra>",
    )
    span = x_range or log_range(values)
    if span is not None and labelled:
        span = (span[0], span[1] + max(0.35, 0.3 * (span[1] - span[0])))  # room for "8e-13" after the bar
    step = f" at step {record.step}" if record else ""
    layout = base_layout(
        f"Gradient norm per layer{step}",
        height=height,
        xaxis=log_axis(span, "gradient norm (log scale)"),
        yaxis=dict(type="category", categoryorder="array", categoryarray=list(layer_names)),
    )
    return figure(dict(data=[bars], layout=layout))


def short_number(value: float) -> str:
    """Two significant digits, an exponent only where needed and without padding: 0.12, 3.4, 8e-13, 1.2e4."""
    text = f"{value:.2g}"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


def activation_stats_chart(stats: dict[str, ActivationStats] | None, step: int | None = None) -> go.Figure:
    """Per hidden layer: mean ± std of its outputs, and its shares of dead and saturated units."""
    names = list(stats or {})
    values = list((stats or {}).values())
    data = []
    if stats:
        data.append(
            dict(
                type="scatter",
                x=[s.mean for s in values],
                y=names,
                error_x=dict(type="data", array=[s.std for s in values], visible=True),
                mode="markers",
                marker=dict(color=COLORS["train"], size=8),
                name="mean ± std",
                hovertemplate="%{y}: mean %{x:.3f}<extra></extra>",
            )
        )
        for kind in ("dead", "saturated"):
            data.append(
                dict(
                    type="bar",
                    x=[getattr(s, kind) * 100 for s in values],
                    y=names,
                    orientation="h",
                    name=f"% {kind}",
                    marker=dict(color=COLORS[kind]),
                    xaxis="x2",
                    hovertemplate="%{y}: %{x:.0f}% " + kind + "<extra></extra>",
                )
            )
    title = "Activations" + (f", sampled at step {step}" if step else "")
    layout = base_layout(
        title,
        height=_layer_height(len(names), base=150),
        barmode="group",
        xaxis=dict(domain=[0, 0.48], title=dict(text="mean ± std of outputs")),
        xaxis2=dict(
            domain=[0.52, 1], range=[0, 100], title=dict(text="% of units dead or saturated"), anchor="y"
        ),
        yaxis=dict(type="category", categoryorder="array", categoryarray=names),
        legend=LEGEND_BELOW,
    )
    return figure(dict(data=data, layout=layout))


def decision_boundary(
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    score: np.ndarray,
    points: np.ndarray,
    labels: np.ndarray,
    *,
    title: str = "What the model predicts",
) -> go.Figure:
    """Class-1 score over a 2-D grid (blue = class 1, with its colour key), with the test points on top."""
    data = boundary_traces(grid_x, grid_y, score, points, labels)
    layout = base_layout(
        title,
        legend=LEGEND_BELOW,
        xaxis=dict(showgrid=False, title=dict(text=FEATURES[0])),
        yaxis=dict(scaleanchor="x", scaleratio=1, showgrid=False, title=dict(text=FEATURES[1])),
    )
    return figure(dict(data=data, layout=layout))
