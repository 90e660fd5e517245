"""The Overfitting lab's charts: training and validation curves per epoch with the gap between them and
the best epoch, the weights' norm, which units dropout zeroed, train- vs eval-mode outputs, a decision
boundary, the search's trials and the transfer comparison."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts import (
    DROPPED,
    FEATURES,
    GOLD,
    INK,
    KEPT,
    LABEL_BG,
    LEGEND_BELOW,
    MARK,
    PALETTE,
    TEST,
    TRAIN,
    VIRIDIS,
    base_layout,
    boundary_traces,
    log_axis,
    log_range,
    tint,
)
from core.figures import figure

MAX_UNITS = 64  # units per layer in the dropout picture: enough to see the share, few enough to see each


def _epoch_layout(title: str, yaxis: dict, height: int = 340, **extra) -> dict:
    xaxis = dict(title=dict(text="epoch"), rangemode="tozero")
    return base_layout(title, height, xaxis=xaxis, yaxis=yaxis, legend=LEGEND_BELOW, **extra)


def _name(label: str, what: str) -> str:
    return f"{label}: {what}" if label else what


def loss_curves(
    series: Mapping[str, Sequence],
    best: Mapping[str, object | None],
    y_range: tuple[float, float] | None = None,
    height: int = 340,
) -> go.Figure:
    """Each run's mean training loss per epoch (solid) and validation loss (dotted), the area between
    them shaded and named as the gap, and the best validation epoch starred. series: label -> its
    EpochRecords; best: label -> the EpochRecord with the lowest validation loss (or None)."""
    data, notes, shapes = [], [], []
    several = len(series) > 1
    for i, (label, evals) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)] if several else None
        good = [e for e in evals if math.isfinite(e.train_loss) and math.isfinite(e.val_loss)]
        if not good:
            continue
        data += _gap_lines(label, good, color)
        notes.append(_gap_note(label, good[-1], i))
        if (b := best.get(label)) is not None and b.epoch > 0:
            star, line = _best_epoch(label, b)
            data.append(star)
            shapes.append(line)
    yaxis = dict(
        title=dict(text="cross-entropy loss"), rangemode="tozero", range=list(y_range) if y_range else None
    )
    title = "Loss per epoch (shaded: the gap)"  # the legend says which line is which
    layout = _epoch_layout(title, yaxis, height, annotations=notes, shapes=shapes)
    return figure(dict(data=data, layout=layout))


def _gap_lines(label: str, good: Sequence, color: str | None) -> list[dict]:
    """A run's training loss (solid) and validation loss (dotted, the area down to training shaded)."""
    epochs = [e.epoch for e in good]

    def line(what: str, ys: list[float], **style) -> dict:
        return dict(
            type="scatter",
            x=epochs,
            y=ys,
            name=_name(label, what),
            mode="lines",
            legendgroup=label,
            hovertemplate=what + " %{y:.3g} after epoch %{x}<extra></extra>",
            **style,
        )

    return [
        line("training loss", [e.train_loss for e in good], line=dict(color=color or TRAIN, width=2.5)),
        line(
            "validation loss",
            [e.val_loss for e in good],
            line=dict(color=color or TEST, width=2.5, dash="dot"),
            fill="tonexty",
            fillcolor=tint(color or TEST, 0.14),
        ),
    ]


def _gap_note(label: str, last, i: int) -> dict:
    """The gap's size written between a run's last two points."""
    return dict(
        x=last.epoch,
        y=(last.train_loss + last.val_loss) / 2,
        yshift=24 * i,  # A's and B's labels stacked, not printed over each other
        text=_name(label, f"gap {last.gap:.2f}"),
        showarrow=False,
        xanchor="right",
        font=dict(size=14, color=INK),
        bgcolor=LABEL_BG,
    )


def _best_epoch(label: str, b) -> tuple[dict, dict]:
    """A star on the lowest validation loss and a dashed line down through its epoch."""
    star = dict(
        type="scatter",
        x=[b.epoch],
        y=[b.val_loss],
        mode="markers",
        name=_name(label, "best epoch"),
        marker=dict(symbol="star", size=16, color=GOLD, line=dict(color=INK, width=1)),
        legendgroup=label,
        hovertemplate=f"lowest validation loss {b.val_loss:.3g} at epoch {b.epoch}<extra></extra>",
    )
    line = dict(
        type="line",
        x0=b.epoch,
        x1=b.epoch,
        yref="paper",
        y0=0,
        y1=1,
        line=dict(color=MARK, width=1, dash="dash"),
    )
    return star, line


def accuracy_curves(series: Mapping[str, Sequence], height: int = 300) -> go.Figure:
    """Accuracy on the training examples (solid) and on the validation set (dotted), eval mode."""
    data = []
    several = len(series) > 1
    for i, (label, evals) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)] if several else None
        epochs = [e.epoch for e in evals]
        for field, what, dash, own in (
            ("train_accuracy", "training accuracy", "solid", TRAIN),
            ("val_accuracy", "validation accuracy", "dot", TEST),
        ):
            data.append(
                dict(
                    type="scatter",
                    x=epochs,
                    y=[100 * getattr(e, field) for e in evals],
                    mode="lines",
                    name=_name(label, what),
                    legendgroup=label,
                    line=dict(color=color or own, width=2, dash=dash),
                    hovertemplate=f"{what} %{{y:.1f}}% after epoch %{{x}}<extra></extra>",
                )
            )
    yaxis = dict(title=dict(text="accuracy (%)"), range=[0, 101])
    return figure(dict(data=data, layout=_epoch_layout("Accuracy per epoch", yaxis, height)))


def weight_norms(series: Mapping[str, Sequence], height: int = 300) -> go.Figure:
    """The weights' L2 norm after every epoch, one line per run: weight decay keeps it small."""
    data = [
        dict(
            type="scatter",
            x=[e.epoch for e in evals],
            y=[e.weight_norm for e in evals],
            mode="lines",
            name=label or "weights' norm",
            line=dict(color=PALETTE[i % len(PALETTE)], width=2.5),
            hovertemplate="norm %{y:.3g} after epoch %{x}<extra></extra>",
        )
        for i, (label, evals) in enumerate(series.items())
    ]
    yaxis = dict(title=dict(text="‖W‖ (L2 norm)"), rangemode="tozero")
    return figure(dict(data=data, layout=_epoch_layout("Size of the weights: their L2 norm", yaxis, height)))


def dropout_units(masks: Sequence[np.ndarray], p: float, step: int, height: int = 220) -> go.Figure:
    """Which units of each hidden layer the last training step used (pale) or zeroed (dark), for its
    first example; the first MAX_UNITS units of each layer, and how many of them were zeroed."""
    rows = [m[:MAX_UNITS].astype(float) for m in masks]
    shown = len(rows[0]) if rows else 0
    dropped = [int((~m[:MAX_UNITS]).sum()) for m in masks]
    data = [
        dict(
            type="heatmap",
            z=rows,
            x=list(range(1, shown + 1)),
            y=[f"hidden {i + 1}: {d} off" for i, d in enumerate(dropped)],
            zmin=0,
            zmax=1,
            colorscale=[[0, DROPPED], [1, KEPT]],
            showscale=False,
            xgap=2,
            ygap=4,
            hovertemplate="unit %{x} of %{y}: %{customdata}<extra></extra>",
            customdata=[["kept" if v else "dropped" for v in r] for r in rows],
        )
    ]
    title = f"Dropout at step {step}, p = {p:g}: zeroed units dark"
    layout = base_layout(
        title,
        height,
        xaxis=dict(title=dict(text="unit"), showgrid=False),
        yaxis=dict(autorange="reversed", showgrid=False),
    )
    return figure(dict(data=data, layout=layout))


def mode_outputs(
    eval_p: np.ndarray, train_p: np.ndarray, class_names: Sequence[str], truth: int, height: int = 300
):
    """One validation example's class probabilities: eval mode (bars, every unit) against several
    train-mode passes (dots, each with its own dropout masks)."""
    names = list(class_names)
    data = [
        dict(
            type="bar",
            x=names,
            y=list(100 * eval_p),
            name="eval mode (model.eval())",
            marker=dict(color=TRAIN),
            hovertemplate="eval mode: %{y:.1f}% for %{x}<extra></extra>",
        )
    ]
    xs = [name for _ in train_p for name in names]
    data.append(
        dict(
            type="scatter",
            x=xs,
            y=list(100 * train_p.reshape(-1)),
            mode="markers",
            name=f"train mode (model.train()), {len(train_p)} passes",
            marker=dict(color=TEST, size=10, symbol="diamond", line=dict(color=INK, width=1)),
            hovertemplate="a train-mode pass: %{y:.1f}% for %{x}<extra></extra>",
        )
    )
    title = f"Its least sure validation example (a {names[truth]}): eval vs train mode"
    layout = base_layout(
        title,
        height,
        xaxis=dict(title=dict(text="class"), type="category"),
        yaxis=dict(title=dict(text="probability (%)"), range=[0, 101]),
        legend=LEGEND_BELOW,
    )
    return figure(dict(data=data, layout=layout))


def boundary(
    xs, ys, score, points: np.ndarray, labels: np.ndarray, title: str, height: int = 340
) -> go.Figure:
    """What the model predicts over the plane, with the training points on it (2-D data)."""
    layout = base_layout(
        title,
        height,
        xaxis=dict(title=dict(text=FEATURES[0])),
        yaxis=dict(title=dict(text=FEATURES[1])),
        legend=LEGEND_BELOW,
    )
    return figure(dict(data=boundary_traces(xs, ys, score, points, labels, size=8), layout=layout))


def trials(
    results: Sequence, title: str, second_label: str, second_log: bool, height: int = 360
) -> go.Figure:
    """One search's finished trials as points over (learning rate, second setting), coloured by validation
    accuracy on one fixed scale, the best (lowest validation loss) starred; a rug of ticks under the
    x axis shows how many distinct learning rates were tried."""
    done = [r for r in results if r is not None]
    best = min(done, key=lambda r: (r.val_loss, -r.val_accuracy)) if done else None
    data = [
        dict(type="scatter", x=[r.lr for r in done], y=[r.second for r in done], mode="markers", name="trial",
             marker=dict(size=16, color=[100 * r.val_accuracy for r in done], cmin=0, cmax=100,
                         colorscale=VIRIDIS, line=dict(color=INK, width=1),
                         colorbar=dict(title=dict(text="validation<br>accuracy (%)"), thickness=12)),
             customdata=[[100 * r.val_accuracy, r.val_loss] for r in done], showlegend=False,
             hovertemplate="lr %{x:.3g}, " + second_label.lower() + " %{y:.3g}: validation accuracy "
             "%{customdata[0]:.1f}%, loss %{customdata[1]:.3g}<extra></extra>"),
        dict(type="scatter", x=[r.lr for r in done], y=[0] * len(done), yaxis="y2", mode="markers",
             marker=dict(symbol="line-ns-open", size=14, color=INK), showlegend=False, hoverinfo="skip"),
    ]  # fmt: skip
    if best is not None:
        data.append(
            dict(type="scatter", x=[best.lr], y=[best.second], mode="markers", name="best (validation loss)",
                 marker=dict(symbol="star", size=26, color=GOLD, line=dict(color=INK, width=1.5)),
                 hovertemplate=f"best: lr {best.lr:.3g}, validation accuracy {best.val_accuracy:.1%}"
                 "<extra></extra>")
        )  # fmt: skip
    distinct = len({round(math.log10(r.lr), 6) for r in done})
    trials_text = (
        f"{len(done)} trial{'s' * (len(done) != 1)}, {distinct} learning rate{'s' * (distinct != 1)}"
    )
    layout = base_layout(
        f"{title}: {trials_text}",
        height,
        xaxis=log_axis(log_range([r.lr for r in done], pad=0.3), "learning rate (log scale)")
        | dict(anchor="free", position=0),  # under the rug, not between it and the trials
        yaxis=(log_axis(log_range([r.second for r in done], pad=0.3), second_label.lower()) if second_log
               else dict(title=dict(text=second_label.lower()))) | dict(domain=[0.12, 1]),
        yaxis2=dict(domain=[0.01, 0.08], visible=False, range=[-1, 1]),
        legend=LEGEND_BELOW,
    )  # fmt: skip
    return figure(dict(data=data, layout=layout))


def transfer_curves(
    results: Sequence, labels: Mapping[str, str], chance: float, height: int = 380
) -> go.Figure:
    """Test accuracy on the new characters against the training examples per character, one line per
    method, and the accuracy of a blind guess."""
    data = []
    for i, (method, label) in enumerate(labels.items()):
        rows = sorted((r.shots, r.accuracy) for r in results if r is not None and r.method == method)
        if rows:
            data.append(
                dict(type="scatter", x=[k for k, _ in rows], y=[100 * a for _, a in rows], name=label,
                     mode="lines+markers", marker=dict(size=10), line=dict(color=PALETTE[i], width=3),
                     hovertemplate=f"{method}: %{{y:.1f}}% with %{{x}} examples per character<extra></extra>")
            )  # fmt: skip
    shots = sorted({r.shots for r in results if r is not None}) or [1]
    data.append(
        dict(type="scatter", x=[shots[0], shots[-1]], y=[100 * chance] * 2, mode="lines",
             name=f"a blind guess ({chance:.0%})", line=dict(color=MARK, width=1.5, dash="dot"))
    )  # fmt: skip
    layout = base_layout(
        "New characters recognised (test accuracy)",
        height,
        xaxis=dict(type="log", title=dict(text="training examples per new character (log scale)"),
                   tickvals=shots),
        yaxis=dict(title=dict(text="test accuracy (%)"), range=[0, 101]),
        legend=LEGEND_BELOW,
    )  # fmt: skip
    return figure(dict(data=data, layout=layout))
