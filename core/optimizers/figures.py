"""The Optimizers lab's charts: the race's curves and decision boundaries, and paths on a loss
surface. Their look comes from core.charts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.charts import (
    BLACK,
    FEATURES,
    GOLD,
    GREYS,
    LEGEND_BELOW,
    PALETTE,
    base_layout,
    boundary_traces,
)
from core.figures import figure


def boundary_grid(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], points: np.ndarray, labels: np.ndarray
) -> go.Figure:
    """Small multiples: each racer's class-1 score over the same 2-D grid, test points on top."""
    cols = min(3, max(1, len(panels)))
    rows = math.ceil(len(panels) / cols)
    gap = 0.04
    data, layout = (
        [],
        base_layout("What each racer predicts (test points)", height=60 + 250 * rows, showlegend=False),
    )
    layout["annotations"] = []
    for i, (label, (xs, ys, score)) in enumerate(panels.items()):
        r, c = divmod(i, cols)
        axis = "" if i == 0 else str(i + 1)
        x0, x1 = c / cols + gap / 2, (c + 1) / cols - gap / 2
        y1, y0 = 1 - r / rows - gap, 1 - (r + 1) / rows + gap / 2
        below = i + cols >= len(panels)  # no panel under this one: its x axis is titled
        layout[f"xaxis{axis}"] = dict(
            domain=[x0, x1],
            anchor=f"y{axis}",
            showticklabels=False,
            showgrid=False,
            title=dict(text=FEATURES[0] if below else "", standoff=4),
        )
        layout[f"yaxis{axis}"] = dict(
            domain=[y0, y1],
            anchor=f"x{axis}",
            showticklabels=False,
            showgrid=False,
            scaleanchor=f"x{axis}",
            title=dict(text=FEATURES[1] if c == 0 else "", standoff=4),
        )
        data += boundary_traces(xs, ys, score, points, labels, axis=axis, size=4, key=i == 0)
        layout["annotations"].append(
            dict(
                text=f"<b>{label}</b>",
                x=(x0 + x1) / 2,
                y=y1 + 0.01,
                xref="paper",
                yref="paper",
                showarrow=False,
                yanchor="bottom",
                font=dict(color=PALETTE[i % len(PALETTE)]),
            )
        )
    return figure(dict(data=data, layout=layout))  # fmt: skip


def surface_paths(
    xs: np.ndarray,
    ys: np.ndarray,
    z: np.ndarray,
    paths: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    minimum: tuple[float, float] | None = None,
) -> go.Figure:
    """Contours of the loss (log-spaced when it spans decades) and each optimizer's path."""
    finite = z[np.isfinite(z)]
    low = float(finite.min())
    shifted = np.log10(z - low + 1e-3)  # log levels: valleys and steep walls both readable
    data = [
        dict(
            type="contour",
            x=xs,
            y=ys,
            z=shifted,
            colorscale=GREYS,
            reversescale=True,
            showscale=False,
            contours=dict(coloring="heatmap"),
            opacity=0.55,
            ncontours=25,
            hoverinfo="skip",
        )
    ]
    data += _path_traces(paths, minimum)
    layout = base_layout(
        title,
        height=460,
        legend=LEGEND_BELOW,
        xaxis=dict(range=[float(xs[0]), float(xs[-1])], title=dict(text="x")),
        yaxis=dict(range=[float(ys[0]), float(ys[-1])], title=dict(text="y")),
    )
    frames = _path_frames(paths)
    if frames:
        replay = dict(frame=dict(duration=70, redraw=False), fromcurrent=False, transition=dict(duration=0))
        layout["updatemenus"] = [
            dict(type="buttons", x=1, y=1.02, xanchor="right", yanchor="bottom", showactive=False,
                 buttons=[dict(label="▶ Replay the steps", method="animate", args=[None, replay])])
        ]  # fmt: skip
    return figure(dict(data=data, layout=layout, frames=frames))


def _path_traces(paths: Mapping[str, Sequence[tuple[float, float]]], minimum) -> list[dict]:
    """Each optimizer's path in its colour, a ring where they all start and a star on the minimum."""
    data = []
    for i, (label, points) in enumerate(paths.items()):
        color = PALETTE[i % len(PALETTE)]
        data.append(
            dict(type="scatter", x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                 name=label, line=dict(color=color, width=2), marker=dict(size=4, color=color))
        )  # fmt: skip
    marks = []  # (point, name, symbol, fill, outline): where the paths start, the surface's lowest point
    if paths:
        marks.append((next(iter(paths.values()))[0], "start", "circle-open", BLACK, 2))
    if minimum is not None:
        marks.append((minimum, "global minimum", "star", GOLD, 1))
    for (x, y), name, symbol, fill, width in marks:
        marker = dict(symbol=symbol, size=14, color=fill, line=dict(color=BLACK, width=width))
        data.append(dict(type="scatter", x=[x], y=[y], mode="markers", name=name, marker=marker))
    return data


def _path_frames(paths: Mapping[str, Sequence[tuple[float, float]]], count: int = 40) -> list[dict]:
    """Animation frames that grow every path together, for the chart's replay button."""
    longest = max((len(points) for points in paths.values()), default=0)
    if longest < 3:
        return []
    cuts = sorted({max(1, round(longest * (i + 1) / count)) for i in range(count)})
    traces = list(range(1, len(paths) + 1))  # trace 0 is the contour
    grown = [(cut, [points[:cut] for points in paths.values()]) for cut in cuts]
    return [
        dict(
            name=str(cut),
            traces=traces,
            data=[dict(x=[p[0] for p in pts], y=[p[1] for p in pts]) for pts in parts],
        )
        for cut, parts in grown
    ]


def path_losses(losses: Mapping[str, Sequence[float]]) -> go.Figure:
    """Loss against step for each optimizer's path (symlog-free: a linear axis, clipped to the start)."""
    data = []
    for i, (label, values) in enumerate(losses.items()):
        data.append(
            dict(
                type="scatter",
                x=list(range(len(values))),
                y=list(values),
                name=label,
                mode="lines",
                line=dict(color=PALETTE[i % len(PALETTE)], width=2),
            )
        )
    starts = [v[0] for v in losses.values() if v]
    finite = [y for v in losses.values() for y in v if math.isfinite(y)]
    top = max(starts) if starts else None
    bottom = min(finite) if finite else None
    span = (
        None
        if top is None or bottom is None
        else [bottom - 0.05 * (top - bottom + 1e-9), top * 1.5 if top > 0 else top + 1]
    )
    layout = base_layout(
        "Loss along each path",
        height=460,
        legend=LEGEND_BELOW,
        xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text="loss"), range=span),
    )
    return figure(dict(data=data, layout=layout))  # fmt: skip
