"""The look of every chart, in one place: the template (fonts, ink, grid), the presenter's larger
one, the palette, the legend below the plot, log axes, and the step chart with what happened mid-run.

Each figure is built from one dict in a single call, core.figures.figure(spec) (unvalidated in the
app, checked in the tests: see there). A lab's own charts live in its package (core/<lab>/figures.py)
and take their layout, colours and axes from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from core.figures import figure

MAX_POINTS = (
    300  # per line: a longer history is averaged over bins of steps (a browser redraw costs per point)
)
# ---- colours: every colour a chart uses is named here --------------------------------------

BLUE, RED, GREEN, PURPLE, ORANGE, CYAN = "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"
BROWN, PINK, GREY, DARK = "#8c564b", "#e377c2", "#7f7f7f", "#222222"
BLACK, GOLD = "black", "gold"  # a path's start ring, the star on a surface's lowest point
PALETTE = (BLUE, RED, GREEN, PURPLE, ORANGE, CYAN)  # one colour per racer, run or task, in this order
TRAIN, TEST = BLUE, ORANGE  # a training curve and a test curve
CLASS_0, CLASS_1 = "#b2182b", "#2166ac"  # the two classes of a 2-D dataset (the ends of RdBu)
CLEAR = "rgba(0,0,0,0)"  # an invisible marker that still takes a click
PICKED = "rgba(255,140,0,0.45)"  # what a click selected
PEN, PAPER = "#000000", "#ffffff"  # a drawn digit: black on white, as MNIST's are once inverted
LABEL_BG = "rgba(255,255,255,0.8)"  # behind a label written on a chart
MARK = "#444444"  # a vertical line where something happened mid-run (a new learning rate)
KEPT, DROPPED = "#9ecae1", "#08306b"  # a unit that dropout kept (pale) or zeroed (dark) on one step
INK, GRID = "#262730", "#dfe2e8"  # Streamlit's text colour; a grid that a projector still shows
# colour scales: plotly's, spelled out (a figure built unvalidated is sent as given, and the browser's
# Plotly.js knows fewer scales by name than plotly.py)
VIRIDIS, BLUES, GREYS, RDBU = (get_colorscale(name) for name in ("Viridis", "Blues", "Greys", "RdBu"))


def tint(color: str, alpha: float) -> str:
    """A palette colour ("#1f77b4") as a see-through fill: the area between two lines of one run."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


_AXIS = dict(
    gridcolor=GRID,
    linecolor="#9aa0ad",
    zerolinecolor="#c4c8d0",
    tickfont=dict(size=14, color=INK),
    title=dict(font=dict(size=15, color=INK)),
    automargin=True,  # room for the tick labels (layer names, 10^-8) that the fixed margins leave out
)
# Every figure is drawn with this small template, which ui.charts adds as JSON when it sends the
# figure (validating it inside each go.Figure took 2.5 ms of every chart of every live redraw; and
# a figure without one would get a copy of plotly's default template, so each has an empty one), never
# with Streamlit's theme (theme=None): the browser re-applied that to every figure on every redraw
# (~45% of a live chart's repaint in headless Chromium), and its ticks and legends are 12 px light
# grey, too faint for a projector. Text here is 14-18 px in Streamlit's ink colour on a clear
# background.
TEMPLATE = dict(
    layout=dict(
        font=dict(family='"Source Sans", "Source Sans Pro", sans-serif', size=15, color=INK),
        title=dict(font=dict(size=18, color=INK), x=0.01, xanchor="left", xref="container"),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        colorway=list(PALETTE),
        xaxis=_AXIS,
        yaxis=_AXIS,
        legend=dict(font=dict(size=14, color=INK)),
        hoverlabel=dict(font=dict(size=14)),
        coloraxis=dict(colorbar=dict(tickfont=dict(size=13, color=INK))),
    )
)


def _scaled(template: dict, ticks: int, text: int, title: int) -> dict:
    """The template with other font sizes (the presenter's, for a projector at the back of a room)."""
    axis = _AXIS | dict(tickfont=dict(size=ticks, color=INK), title=dict(font=dict(size=text, color=INK)))
    layout = template["layout"] | dict(
        font=template["layout"]["font"] | dict(size=text),
        title=template["layout"]["title"] | dict(font=dict(size=title, color=INK)),
        xaxis=axis,
        yaxis=axis,
        legend=dict(font=dict(size=ticks, color=INK)),
        hoverlabel=dict(font=dict(size=ticks)),
        coloraxis=dict(colorbar=dict(tickfont=dict(size=ticks, color=INK))),
    )
    return dict(layout=layout)


PRESENTER = _scaled(TEMPLATE, ticks=17, text=18, title=22)  # ui.charts applies it in presenter mode

# A horizontal legend at the foot of the figure: plotly shrinks the plot to make room for it, so it
# never sits on the x axis title whatever the font size or the number of entries.
LEGEND_BELOW = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")


def base_layout(title: str, height: int = 320, **extra) -> dict:
    """A figure's layout; its template (TEMPLATE, or PRESENTER) is added when ui.charts sends it."""
    return dict(
        title=dict(text=title),
        height=height,
        margin=dict(l=10, r=10, t=44, b=10),
        template={},  # ours comes with the JSON (ui.charts.spec); an empty one keeps plotly's default out
        **extra,
    )


def binned(
    steps: Sequence[float], values: Sequence[float], most: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most `most` (step, value) pairs: means over bins of consecutive steps; the last bin may be shorter,
    so the newest steps always show."""
    x, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    size = math.ceil(len(x) / most)
    if size <= 1:
        return x, y
    edges = np.arange(0, len(x), size)
    counts = np.diff(np.append(edges, len(x)))
    return np.add.reduceat(x, edges) / counts, np.add.reduceat(y, edges) / counts


def log_axis(span: tuple[float, float] | None, title: str) -> dict:
    """A log axis labelled 10^n at powers of ten (at most ~7) when it spans a decade or more.

    Plotly's default log ticks mix 2 and 5 with powers of ten ("2, 5, 10^-1, 2"), which
    students read as plain numbers; a short span keeps plain numbers ("0.6, 0.8").
    """
    wide = span is None or span[1] - span[0] >= 1
    axis = dict(type="log", title=dict(text=title), range=list(span) if span else None)
    if not wide:
        return axis | dict(tickformat=".2g", dtick="D1")  # 0.3, 0.4, ...: plotly alone may label only "1"
    decades = (span[1] - span[0]) if span else 1
    return axis | dict(dtick=max(1, math.ceil(decades / 6)), exponentformat="power")  # at most ~7 labels


def log_range(values: Sequence[float], pad: float = 0.2) -> tuple[float, float] | None:
    """(low, high) in log10 units spanning the finite positive values, or None."""
    array = np.fromiter(values, dtype=float)  # every step's values at every live redraw: no Python loop
    array = array[np.isfinite(array) & (array > 0)]
    if not array.size:
        return None
    return math.log10(array.min()) - pad, math.log10(array.max()) + pad


BEFORE = dict(color=GREY, width=2.5, dash="dot")  # a run that a change replaced: faded grey


def with_events(
    figure: dict,
    before: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    marks: Mapping[str, Sequence] | None = None,
) -> dict:
    """A figure's dict plus what happened mid-run, for a chart whose x axis is the step.

    before: name -> (steps, values) of a run that a change of settings replaced, drawn as a faded
    dotted grey line. marks: label -> LrChange-like events (.step, .text), each a dashed vertical
    line at its step labelled "lr 0.01 → 0.1" ("A: lr ..." when several labels have marks).
    Built into the dict, so the figure is still built in one call.
    """
    data = list(figure["data"])
    layout = dict(figure["layout"])
    for name, (xs, ys) in (before or {}).items():
        data.append(
            dict(type="scatter", x=list(xs), y=list(ys), name=name, mode="lines", line=BEFORE, opacity=0.6)
        )
    _widen(layout, [v for _, values in (before or {}).values() for v in values])
    events = [(label, change) for label, changes in (marks or {}).items() for change in changes]
    shapes, notes = list(layout.get("shapes", [])), list(layout.get("annotations", []))
    rows = _label_rows([change.step for _, change in events])
    for i, (label, change) in enumerate(events):
        shapes.append(
            dict(type="line", x0=change.step, x1=change.step, yref="paper", y0=0, y1=1,
                 line=dict(color=MARK, width=1.5, dash="dash"))
        )  # fmt: skip
        text = f"{label}: {change.text}" if len(marks) > 1 else change.text
        notes.append(
            dict(x=change.step, y=1 - 0.09 * rows[i], yref="paper", text=text, showarrow=False,
                 xanchor="left", yanchor="top", bgcolor=LABEL_BG, font=dict(size=13))
        )  # fmt: skip
    if shapes:
        layout["shapes"] = shapes
    if notes:
        layout["annotations"] = notes
    return dict(data=data, layout=layout)


def _label_rows(steps: Sequence[float], rows: int = 4) -> list[int]:
    """A row (0 at the top) for each mark's label, in order: a label goes to the first row whose last
    label is far enough to its left (an eighth of the marks' span), so labels of marks a few steps
    apart stack instead of printing over each other."""
    gap = max((max(steps, default=0) - min(steps, default=0)) / 8, max(steps, default=1) / 12, 1e-9)
    last: list[float | None] = [None] * rows
    out = []
    for step in steps:
        row = next((r for r in range(rows) if last[r] is None or abs(step - last[r]) >= gap), len(out) % rows)
        last[row] = step
        out.append(row)
    return out


def step_figure(
    data: list[dict],
    title: str,
    yaxis: dict,
    *,
    height: int = 320,
    before: Mapping | None = None,
    marks: Mapping | None = None,
    **layout,
) -> go.Figure:
    """A chart over training steps (x from 0, legend below), with what happened mid-run (with_events).
    Before step MIN_STEPS_SHOWN it spans that many steps, so that a run at step 0 shows whole steps
    on its axis rather than 0.2, 0.4, ... (what Plotly makes of a single point at 0)."""
    xaxis = dict(title=dict(text="step"), rangemode="tozero")
    layout = base_layout(title, height, xaxis=xaxis, yaxis=yaxis, legend=LEGEND_BELOW, **layout)
    spec = with_events(dict(data=data, layout=layout), before, marks)
    if _last_x(spec["data"]) < MIN_STEPS_SHOWN:
        spec["layout"]["xaxis"] = xaxis | dict(range=[0, MIN_STEPS_SHOWN])
    return figure(spec)


MIN_STEPS_SHOWN = 10


def _last_x(data: Sequence[dict]) -> float:
    """The largest x of any trace (0 for none)."""
    last = 0.0
    for trace in data:
        try:
            x = np.asarray(trace.get("x", ()), dtype=float)
        except (TypeError, ValueError):  # not steps
            continue
        if x.size and np.isfinite(x).any():
            last = max(last, float(np.nanmax(x)))
    return last


def _widen(layout: dict, values: Sequence[float]) -> None:
    """Stretch a fixed y range so that these values (a 'before' line) show too."""
    axis = layout.get("yaxis") or {}
    if not axis.get("range") or axis["range"][0] is None:
        return
    log = axis.get("type") == "log"
    good = [math.log10(v) if log else v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if good:
        low, high = axis["range"]
        layout["yaxis"] = axis | {"range": [min(low, min(good)), max(high, max(good))]}


# What the red-blue colours of a decision boundary mean: the model's score (its probability) for class 1.
SCORE_KEY = dict(
    title=dict(text="model's score<br>for class 1", side="top"),
    tickvals=[0, 0.5, 1],
    ticktext=["0: class 0", "0.5", "1: class 1"],
    thickness=12,
    len=0.75,
)
FEATURES = ("feature x₁", "feature x₂")  # the axes of a 2-D dataset (standardised)


def boundary_traces(
    xs, ys, score, points, labels, axis: str = "", size: int = 5, key: bool = True
) -> list[dict]:
    """A class-1 score heatmap (blue = class 1, with its colour key when `key`) and the test points of
    each class, on axes x{axis}/y{axis}."""
    axes = dict(xaxis=f"x{axis}", yaxis=f"y{axis}")
    traces = [
        dict(
            type="heatmap",
            x=xs,
            y=ys,
            z=score,
            zmin=0,
            zmax=1,
            colorscale=RDBU,
            opacity=0.7,
            showscale=key,
            colorbar=SCORE_KEY,
            hovertemplate="score for class 1: %{z:.2f}<extra></extra>",
            **axes,
        )
    ]
    for cls, color in ((0, CLASS_0), (1, CLASS_1)):
        mask = labels == cls
        traces.append(
            dict(
                type="scatter",
                x=points[mask, 0],
                y=points[mask, 1],
                mode="markers",
                name=f"class {cls}",
                marker=dict(color=color, size=size, line=dict(color="white", width=0.5)),
                **axes,
            )
        )
    return traces  # fmt: skip


def eval_curves(
    series: Mapping[str, Sequence],
    *,
    metric: str = "loss",
    accuracy: Sequence[str] = ("train", "test"),
    before: Mapping | None = None,
    marks: Mapping | None = None,
    height: int = 340,
    loss: str = "loss",
) -> go.Figure:
    """The one chart of evaluations (EvalRecord-like: step, train/test loss and accuracy) over steps,
    for every lab that compares runs: each run in its palette colour, train solid and test dotted.

    metric "loss" (log axis) or "accuracy" (%, the splits in `accuracy`). Several runs get one
    legend entry each (the title says which line is train and which is test); a single unnamed run
    ("") gets one per split. `loss` names the loss in the title ("cross-entropy loss"; the axis
    has no room for it in presenter mode). `before` and
    `marks` as in with_events."""
    splits = ("train", "test") if metric == "loss" else tuple(accuracy)
    several = len(series) > 1 or any(series)
    data, values = [], []
    for i, (label, evals) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        for split in splits:
            field = f"{split}_loss" if metric == "loss" else f"{split}_accuracy"
            good = [e for e in evals if math.isfinite(getattr(e, field))]
            ys = [getattr(e, field) * (1 if metric == "loss" else 100) for e in good]
            values += ys
            first = split == splits[0]
            line = dict(color=color, width=2, dash="solid" if split == "train" else "dot")
            hover = f"{label + ', ' if label else ''}{split}: %{{y:.3g}} at step %{{x}}<extra></extra>"
            data.append(
                dict(type="scatter", x=[e.step for e in good], y=ys, name=label if several else split,
                     mode="lines+markers", legendgroup=label, showlegend=first or not several,
                     hovertemplate=hover, marker=dict(size=4), line=line)
            )  # fmt: skip
    lines = " and ".join(f"{split} ({'solid' if split == 'train' else 'dotted'})" for split in splits)
    if metric == "loss":
        yaxis = log_axis(log_range(values), "loss (log scale)")
        title = f"{loss[0].upper()}{loss[1:]}: {lines}"  # "Cross-entropy loss: train (solid) and ..."
    else:
        yaxis = dict(title=dict(text=f"{'test ' if splits == ('test',) else ''}accuracy (%)"), range=[0, 101])
        title = "Test accuracy" if splits == ("test",) else f"Accuracy: {lines}"
    return step_figure(data, title, yaxis, height=height, before=before, marks=marks)
