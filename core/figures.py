"""Pure functions from records to plotly figures; no Streamlit, no tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.records import ActivationStats, EvalRecord, StepRecord

ZERO_FLOOR = -30.0  # log10 used for an exactly-zero gradient norm
MAX_COLUMNS = 200  # heatmap columns; longer runs are averaged into bins of steps
COLORS = {"train": "#1f77b4", "test": "#ff7f0e", "dead": "#d62728", "saturated": "#9467bd"}
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, template="plotly_white")


def log_range(values: Sequence[float], pad: float = 0.2) -> tuple[float, float] | None:
    """(low, high) in log10 units spanning the finite positive values, or None."""
    logs = [math.log10(v) for v in values if v > 0 and math.isfinite(v)]
    if not logs:
        return None
    return min(logs) - pad, max(logs) + pad


def loss_curves(
    records: Sequence[StepRecord],
    evals: Sequence[EvalRecord],
    *,
    title: str = "Loss",
    y_range: tuple[float, float] | None = None,
    diverged_at: int | None = None,
) -> go.Figure:
    """Train loss per step (batch) and train/test loss at evaluations, log y axis."""
    fig = go.Figure()
    finite = [r for r in records if math.isfinite(r.loss) and r.loss > 0]
    fig.add_scatter(
        x=[r.step for r in finite],
        y=[r.loss for r in finite],
        name="train (batch)",
        mode="lines",
        line=dict(color=COLORS["train"], width=1),
        opacity=0.45,
    )
    good = [e for e in evals if math.isfinite(e.test_loss) and e.test_loss > 0]
    for split, attr in (("train", "train_loss"), ("test", "test_loss")):
        fig.add_scatter(
            x=[e.step for e in good],
            y=[getattr(e, attr) for e in good],
            name=f"{split} (whole set)",
            mode="lines+markers",
            marker=dict(size=4),
            line=dict(color=COLORS[split], width=2),
        )
    if diverged_at is not None:
        fig.add_vline(x=diverged_at, line=dict(color="red", dash="dash"))
        fig.add_annotation(
            x=diverged_at,
            y=1,
            yref="paper",
            text=f"diverged at step {diverged_at}",
            showarrow=False,
            font=dict(color="red"),
            xanchor="right",
            yanchor="top",
        )
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss (log scale)", **_LAYOUT)
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    fig.update_yaxes(type="log", range=list(y_range) if y_range else None)
    return fig


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
    steps = np.array([r.step for r in records])
    bins = max(1, math.ceil(len(records) / max_columns))
    if bins > 1:
        n = len(records) // bins * bins
        tail = len(records) - n
        binned = np.nanmean(logs[:n].reshape(-1, bins, len(layer_names)), axis=1) if n else logs[:0]
        cols = [binned] + ([np.nanmean(logs[n:], axis=0, keepdims=True)] if tail else [])
        logs = np.concatenate(cols)
        steps = np.concatenate([steps[bins - 1 : n : bins], steps[-1:] if tail else []])
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
    low, high = z_range or (
        (float(np.nanmin(logs)), float(np.nanmax(logs))) if np.isfinite(logs).any() else (-3.0, 1.0)
    )
    if high - low < 1:
        low, high = low - 0.5, high + 0.5
    ticks = list(range(math.ceil(low), math.floor(high) + 1))
    stride = max(1, len(ticks) // 8)
    ticks = ticks[::stride]
    fig = go.Figure(
        go.Heatmap(
            x=steps,
            y=list(layer_names),
            z=logs,
            zmin=low,
            zmax=high,
            colorscale="Viridis",
            colorbar=dict(
                title=dict(text="gradient<br>norm", side="top"),
                tickvals=ticks,
                ticktext=[f"1e{t}" for t in ticks],
            ),
            hovertemplate="step %{x}<br>%{y}<br>log10 norm %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="step", **_LAYOUT)
    fig.update_yaxes(title="layer (input at bottom, output at top)", type="category")
    fig.update_layout(height=max(260, min(640, 120 + 16 * len(layer_names))))
    return fig


def grad_norm_bars(
    record: StepRecord | None,
    layer_names: Sequence[str],
    *,
    x_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Each layer's gradient norm at one step, log x axis, input layer at the bottom."""
    fig = go.Figure()
    if record is not None:
        values = [record.grad_norms[name] for name in layer_names]
        shown = [v if v > 0 and math.isfinite(v) else None for v in values]
        fig.add_bar(
            x=shown,
            y=list(layer_names),
            orientation="h",
            marker_color=COLORS["train"],
            text=[f"{v:.1e}" for v in values],
            textposition="auto",
            hovertemplate="%{y}: %{x:.2e}<extra></extra>",
        )
    step = f" at step {record.step}" if record else ""
    fig.update_layout(title=f"Gradient norm per layer{step}", **_LAYOUT)
    fig.update_xaxes(type="log", title="gradient norm (log scale)", range=list(x_range) if x_range else None)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(layer_names))
    fig.update_layout(height=max(260, min(640, 120 + 16 * len(layer_names))))
    return fig


def activation_stats_chart(stats: dict[str, ActivationStats] | None, step: int | None = None) -> go.Figure:
    """Per hidden layer: mean +- std of its outputs, and its shares of dead and saturated units."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("mean ± std of outputs", "dead and saturated units"),
    )
    names = list(stats or {})
    if stats:
        fig.add_scatter(
            x=[s.mean for s in stats.values()],
            y=names,
            error_x=dict(type="data", array=[s.std for s in stats.values()], visible=True),
            mode="markers",
            marker=dict(color=COLORS["train"], size=8),
            name="mean ± std",
            row=1,
            col=1,
        )
        for kind in ("dead", "saturated"):
            fig.add_bar(
                x=[getattr(s, kind) * 100 for s in stats.values()],
                y=names,
                orientation="h",
                name=f"% {kind}",
                marker_color=COLORS[kind],
                row=1,
                col=2,
            )
    title = "Activations" + (f" (sampled at step {step})" if step else "")
    fig.update_layout(title=title, barmode="group", **_LAYOUT)
    fig.update_layout(legend=dict(orientation="h", y=-0.2), height=max(280, min(640, 140 + 16 * len(names))))
    fig.update_xaxes(title="% of units", range=[0, 100], row=1, col=2)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=names)
    return fig


def decision_boundary(
    grid_x: np.ndarray,
    grid_y: np.ndarray,
    prob: np.ndarray,
    points: np.ndarray,
    labels: np.ndarray,
    *,
    title: str = "What the model predicts",
) -> go.Figure:
    """Probability of class 1 over a 2-D grid, with the test points on top."""
    fig = go.Figure(
        go.Heatmap(
            x=grid_x,
            y=grid_y,
            z=prob,
            zmin=0,
            zmax=1,
            colorscale="RdBu",
            opacity=0.75,
            showscale=False,
            hovertemplate="p(class 1) = %{z:.2f}<extra></extra>",
        )
    )
    for label, color in ((0, "#b2182b"), (1, "#2166ac")):
        mask = labels == label
        fig.add_scatter(
            x=points[mask, 0],
            y=points[mask, 1],
            mode="markers",
            name=f"class {label}",
            marker=dict(color=color, size=5, line=dict(color="white", width=0.5)),
        )
    fig.update_layout(title=title, **_LAYOUT)
    fig.update_layout(legend=dict(orientation="h", y=-0.1))
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig
