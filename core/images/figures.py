"""Charts of the Images lab: curves, per-class precision and recall, confusion matrix, class counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts import (
    BLUE,
    BLUES,
    CLEAR,
    LEGEND_BELOW,
    PALETTE,
    PICKED,
    RED,
    base_layout,
)
from core.errors import escape_html
from core.figures import figure
from core.metrics import ClassReport


def class_bars(
    reports: Mapping[str, ClassReport], class_names: Sequence[str], *, metric: str = "recall"
) -> go.Figure:
    """Per-class precision or recall on the test set, one bar group per class, one colour per run."""
    data = []
    for i, (label, report) in enumerate(reports.items()):
        values = report.per_class_recall if metric == "recall" else report.per_class_precision
        data.append(
            dict(
                type="bar",
                x=[escape_html(name) for name in class_names],  # a zip's folder names, shown as written
                y=(100 * values).round(1),
                name=label or metric,
                marker=dict(color=PALETTE[i % len(PALETTE)]),
                hovertemplate="%{x}: %{y:.0f}%<extra>" + (label or "") + "</extra>",
            )
        )
    steps = sorted({r.step for r in reports.values()})
    what = "found (recall)" if metric == "recall" else "guessed right (precision)"
    at = f"step {steps[0]}" if len(steps) == 1 else "steps " + ", ".join(map(str, steps))
    layout = base_layout(
        f"Share of each class {what}, {at}",
        barmode="group",
        yaxis=dict(title=dict(text=f"{metric} (%)"), range=[0, 101]),
        xaxis=dict(type="category", tickangle=-30 if len(class_names) > 6 else 0),
        legend=LEGEND_BELOW,
        height=330,
    )
    return figure(dict(data=data, layout=layout))


def confusion_matrix(report: ClassReport, class_names: Sequence[str], title: str = "") -> go.Figure:
    """Rows: true class, columns: predicted; counts printed in the cells; click a cell to select it."""
    counts = report.confusion
    names = [escape_html(name) for name in class_names]  # a zip's folder names, shown as written
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # colour: share of the true class
    text = [[str(int(c)) if c else "" for c in row] for row in counts]
    trace = dict(
        type="heatmap",
        z=share,
        x=names,
        y=names,
        text=text,
        texttemplate="%{text}",
        customdata=counts,
        colorscale=BLUES,
        zmin=0,
        zmax=1,
        showscale=False,
        hoverinfo="skip",
        xgap=1,
        ygap=1,
    )
    side = max(320, min(640, 90 + 36 * len(names)))
    # Heatmaps cannot be selected in plotly: a clear square marker on each cell takes the click.
    k = len(names)
    cells = dict(
        type="scatter",
        mode="markers",
        x=[names[j] for i in range(k) for j in range(k)],
        y=[names[i] for i in range(k) for j in range(k)],
        customdata=counts.reshape(-1),
        marker=dict(symbol="square", size=max(8, (side - 110) / k * 0.9), color=CLEAR),
        selected=dict(marker=dict(color=PICKED)),
        unselected=dict(marker=dict(opacity=0)),
        hovertemplate="true %{y}, predicted %{x}: %{customdata} images<extra></extra>",
        showlegend=False,
    )
    layout = base_layout(
        title or f"Confusion matrix (test set, step {report.step})",
        height=side,
        xaxis=dict(
            title=dict(text="predicted class"), type="category", tickangle=-30 if len(names) > 6 else 0
        ),
        yaxis=dict(title=dict(text="true class"), type="category", autorange="reversed"),
    )
    return figure(dict(data=[trace, cells], layout=layout))


def class_counts(counts: Mapping[str, int], title: str = "Images per class") -> go.Figure:
    """Bars of the images per class; a class far below the others shows the imbalance."""
    names, values = [escape_html(name) for name in counts], list(counts.values())
    mean = float(np.mean(values)) if values else 0.0
    colors = [RED if v < 0.5 * mean else BLUE for v in values]
    layout = base_layout(
        title,
        height=260,
        xaxis=dict(type="category", tickangle=-30 if len(names) > 6 else 0),
        yaxis=dict(title=dict(text="images"), rangemode="tozero"),
        showlegend=False,
    )
    bar = dict(
        type="bar", x=names, y=values, marker=dict(color=colors), hovertemplate="%{x}: %{y}<extra></extra>"
    )
    return figure(dict(data=[bar], layout=layout))
