"""Pure functions from records to plotly figures; no Streamlit, no tensors.

Each figure is built from one dict in a single go.Figure(...) call: plotly validates
once (~5 ms) instead of once per add_trace / update_layout call (~40-90 ms a figure),
which matters when a live run redraws five figures a few times a second.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.records import ActivationStats, EvalRecord, StepRecord

ZERO_FLOOR = -30.0  # log10 used for an exactly-zero gradient norm
MAX_COLUMNS = 200  # heatmap columns; longer runs are averaged into bins of steps
COLORS = {"train": "#1f77b4", "test": "#ff7f0e", "dead": "#d62728", "saturated": "#9467bd"}
MAX_POINTS = (
    300  # per line: a longer history is averaged over bins of steps (a browser redraw costs per point)
)
INK, GRID = "#262730", "#dfe2e8"  # Streamlit's text colour; a grid that a projector still shows
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
        colorway=["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"],
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


def _layout(title: str, height: int = 320, **extra) -> dict:
    """A figure's layout; its template (TEMPLATE, or PRESENTER) is added when ui.charts sends it."""
    return dict(
        title=dict(text=title),
        height=height,
        margin=dict(l=10, r=10, t=44, b=10),
        template={},  # ours comes with the JSON (ui.charts.spec); an empty one keeps plotly's default out
        **extra,
    )


def _layer_height(n_layers: int, base: int = 120) -> int:
    return max(260, min(640, base + 16 * n_layers))


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
    layout = {}
    if diverged_at is not None:
        layout["shapes"] = [
            dict(
                type="line",
                x0=diverged_at,
                x1=diverged_at,
                yref="paper",
                y0=0,
                y1=1,
                line=dict(color="red", dash="dash"),
            )
        ]
        layout["annotations"] = [
            dict(
                x=diverged_at,
                y=1,
                yref="paper",
                text=f"diverged at step {diverged_at}",
                showarrow=False,
                font=dict(color="red"),
                xanchor="left",
                yanchor="top",
            )
        ]
    return step_figure(data, title, yaxis, before=before, marks=marks, **layout)


BEFORE = dict(color="#7f7f7f", width=2.5, dash="dot")  # a run that a change replaced: faded grey


def with_events(
    figure: dict,
    before: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    marks: Mapping[str, Sequence] | None = None,
) -> dict:
    """A figure's dict plus what happened mid-run, for a chart whose x axis is the step.

    before: name -> (steps, values) of a run that a change of settings replaced, drawn as a faded
    dotted grey line. marks: label -> LrChange-like events (.step, .text), each a dashed vertical
    line at its step labelled "lr 0.01 → 0.1" ("A: lr ..." when several labels have marks).
    Built into the dict, so plotly still validates the figure once.
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
    for i, (label, change) in enumerate(events):
        shapes.append(
            dict(type="line", x0=change.step, x1=change.step, yref="paper", y0=0, y1=1,
                 line=dict(color="#444", width=1.5, dash="dash"))
        )  # fmt: skip
        text = f"{label}: {change.text}" if len(marks) > 1 else change.text
        notes.append(
            dict(x=change.step, y=1 - 0.09 * (i % 3), yref="paper", text=text, showarrow=False,
                 xanchor="left", yanchor="top", bgcolor="rgba(255,255,255,0.8)", font=dict(size=13))
        )  # fmt: skip
    if shapes:
        layout["shapes"] = shapes
    if notes:
        layout["annotations"] = notes
    return dict(data=data, layout=layout)


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
    """A chart over training steps (x from 0, legend below), with what happened mid-run (with_events)."""
    xaxis = dict(title=dict(text="step"), rangemode="tozero")
    layout = _layout(title, height, xaxis=xaxis, yaxis=yaxis, legend=LEGEND_BELOW, **layout)
    figure = dict(data=data, layout=layout)
    return go.Figure(with_events(figure, before, marks))


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
    if size > 1:
        edges = range(0, len(records), size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN bin (diverged) stays NaN
            logs = np.stack([np.nanmean(logs[i : i + size], axis=0) for i in edges])  # (C, L)
        steps = np.array([steps[min(i + size, len(records)) - 1] for i in edges])
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
        colorscale="Viridis",
        colorbar=dict(
            title=dict(text="gradient<br>norm", side="top"),
            tickvals=ticks,
            ticktext=[f"1e{t}" for t in ticks],
        ),
        hovertemplate="step %{x}<br>%{y}<br>log10 norm %{z:.2f}<extra></extra>",
    )
    layout = _layout(
        title,
        height=_layer_height(len(layer_names)),
        xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text="layer (input at bottom)"), type="category"),  # fits a 250 px chart
    )
    return go.Figure(dict(data=[heat], layout=layout))


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
    layout = _layout(
        f"Gradient norm per layer{step}",
        height=height,
        xaxis=log_axis(span, "gradient norm (log scale)"),
        yaxis=dict(type="category", categoryorder="array", categoryarray=list(layer_names)),
    )
    return go.Figure(dict(data=[bars], layout=layout))


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
    layout = _layout(
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
    return go.Figure(dict(data=data, layout=layout))


# What the red-blue colours of a decision boundary mean: the model's score (its probability) for class 1.
SCORE_KEY = dict(
    title=dict(text="model's score<br>for class 1", side="top"),
    tickvals=[0, 0.5, 1],
    ticktext=["0: class 0", "0.5", "1: class 1"],
    thickness=12,
    len=0.75,
)
FEATURES = ("feature x₁", "feature x₂")  # the axes of a 2-D dataset (standardised)


def _boundary_traces(
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
            colorscale="RdBu",
            opacity=0.7,
            showscale=key,
            colorbar=SCORE_KEY,
            hovertemplate="score for class 1: %{z:.2f}<extra></extra>",
            **axes,
        )
    ]
    for cls, color in ((0, "#b2182b"), (1, "#2166ac")):
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
    data = _boundary_traces(grid_x, grid_y, score, points, labels)
    layout = _layout(
        title,
        legend=LEGEND_BELOW,
        xaxis=dict(showgrid=False, title=dict(text=FEATURES[0])),
        yaxis=dict(scaleanchor="x", scaleratio=1, showgrid=False, title=dict(text=FEATURES[1])),
    )
    return go.Figure(dict(data=data, layout=layout))


# ---- the Optimizers lab ------------------------------------------------------------------

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")  # one colour per racer


def race_curves(
    series: Mapping[str, Sequence[EvalRecord]],
    *,
    metric: str = "loss",
    before: Mapping | None = None,
    marks: Mapping | None = None,
) -> go.Figure:
    """Every racer on one chart: whole-set train (solid) and test (dotted) loss, or test accuracy;
    `before` and `marks` as in with_events."""
    data = []
    for i, (label, evals) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = [e for e in evals if math.isfinite(e.train_loss)]
        steps = [e.step for e in good]
        if metric == "loss":
            for split, width, dash in (("train", 2, "solid"), ("test", 1.5, "dot")):
                data.append(  # one legend entry per racer: the title says which line is train or test
                    dict(type="scatter", x=steps, y=[getattr(e, f"{split}_loss") for e in good],
                         name=label, mode="lines", legendgroup=label, showlegend=split == "train",
                         hovertemplate=f"{label}, {split}: %{{y:.3g}} at step %{{x}}<extra></extra>",
                         line=dict(color=color, width=width, dash=dash))
                )  # fmt: skip
        else:
            data.append(
                dict(
                    type="scatter",
                    x=steps,
                    y=[100 * e.test_accuracy for e in good],
                    name=label,
                    mode="lines+markers",
                    marker=dict(size=4),
                    line=dict(color=color, width=2),
                )
            )
    if metric == "loss":
        losses = [y for trace in data for y in trace["y"]]
        yaxis = log_axis(log_range(losses), "loss (log scale)")
        title = "Loss: train solid, test dotted"
    else:
        yaxis = dict(title=dict(text="test accuracy (%)"), range=[0, 101])
        title = "Test accuracy"
    return step_figure(data, title, yaxis, height=360, before=before, marks=marks)


def boundary_grid(
    panels: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], points: np.ndarray, labels: np.ndarray
) -> go.Figure:
    """Small multiples: each racer's class-1 score over the same 2-D grid, test points on top."""
    cols = min(3, max(1, len(panels)))
    rows = math.ceil(len(panels) / cols)
    gap = 0.04
    data, layout = (
        [],
        _layout("What each racer predicts (test points)", height=60 + 250 * rows, showlegend=False),
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
        data += _boundary_traces(xs, ys, score, points, labels, axis=axis, size=4, key=i == 0)
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
    return go.Figure(dict(data=data, layout=layout))  # fmt: skip


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
            colorscale="Greys",
            reversescale=True,
            showscale=False,
            contours=dict(coloring="heatmap"),
            opacity=0.55,
            ncontours=25,
            hoverinfo="skip",
        )
    ]
    for i, (label, points) in enumerate(paths.items()):
        px = [p[0] for p in points]
        py = [p[1] for p in points]
        color = PALETTE[i % len(PALETTE)]
        data.append(
            dict(
                type="scatter",
                x=px,
                y=py,
                mode="lines+markers",
                name=label,
                line=dict(color=color, width=2),
                marker=dict(size=4, color=color),
            )
        )
    if paths:
        start = next(iter(paths.values()))[0]
        data.append(
            dict(
                type="scatter",
                x=[start[0]],
                y=[start[1]],
                mode="markers",
                name="start",
                marker=dict(symbol="circle-open", size=14, color="black", line=dict(width=2)),
            )
        )
    if minimum is not None:
        data.append(
            dict(
                type="scatter",
                x=[minimum[0]],
                y=[minimum[1]],
                mode="markers",
                name="global minimum",
                marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1)),
            )
        )
    layout = _layout(
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
    return go.Figure(dict(data=data, layout=layout, frames=frames))


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
    layout = _layout(
        "Loss along each path",
        height=460,
        legend=LEGEND_BELOW,
        xaxis=dict(title=dict(text="step")),
        yaxis=dict(title=dict(text="loss"), range=span),
    )
    return go.Figure(dict(data=data, layout=layout))  # fmt: skip
