"""How every figure is built: from one dict, in one call, without plotly's validation in the app.

Plotly validates every property of a figure as it is built: ~1 ms a figure built from one dict (and
~40-90 ms one built by add_trace / update_layout calls), a quarter to a third of a live page's redraw,
which runs twice a second for every student on the server. So the app builds figures unvalidated,
and the tests validate every one: with GP_CHECK_FIGURES=1 (set by tests/conftest.py, and passed on to
the servers the browser tests start) each figure any test makes is built both ways, and the two must
give the same JSON. A wrong property name or value fails the test that drew it.
"""

from __future__ import annotations

import json
import math
import os

import plotly.graph_objects as go
import plotly.io as pio

CHECK_FIGURES = os.environ.get("GP_CHECK_FIGURES") == "1"  # the tests' setting: see figure()


def copied(node):
    """A copy of a figure's dicts and lists, sharing its arrays (plotly's encoder and validators rewrite
    dicts in place)."""
    if isinstance(node, dict):
        return {key: copied(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [copied(item) for item in node]
    return node


def figure(spec: dict) -> go.Figure:
    """The figure of a dict ("data", "layout", "frames"), built without plotly's validation (see the
    module's note). With CHECK_FIGURES (the tests) it is also built validated, which raises on any
    property plotly does not know or any value it refuses, and the two must mean the same: the same
    JSON, up to the order of keys and the layout's template (ui.charts puts ours in when it sends one).
    """
    if not CHECK_FIGURES:
        return go.Figure(_unset(spec), _validate=False)
    checked = go.Figure(copied(spec))
    fig = go.Figure(_unset(spec), _validate=False)
    if (where := _difference(_meaning(fig), _meaning(checked))) is not None:
        raise AssertionError(
            f"a figure built unvalidated differs from its validated build (unvalidated | validated): {where}"
        )
    return fig


_ITEMS = {"shapes", "annotations", "images", "selections", "sliders", "updatemenus"}  # lists of objects


def _unset(node):
    """The spec without what validation leaves out: properties set to None (None means "not set"),
    empty objects and empty lists of objects. Lists of values (a line's y, where None is a gap) stay, and
    so does an empty template (without one plotly would put in a copy of its default)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            value = _unset(value)
            empty = (isinstance(value, dict) and key != "template") or (
                key in _ITEMS and isinstance(value, list)
            )
            if not (value is None or (empty and not value)):
                out[key] = value
        return out
    if isinstance(node, (list, tuple)) and any(isinstance(item, dict) for item in node):
        return [_unset(item) for item in node]
    return node


def _meaning(fig: go.Figure) -> dict:
    out = json.loads(pio.to_json(fig, validate=False, engine="orjson"))
    out.get("layout", {}).pop("template", None)
    return out


def _difference(a, b, path: str = "") -> str | None:
    """Where two JSON values first differ ("data[0].colorscale: 'Viridis' | [[0.0, ...]]"); None if
    they do not (numbers equal to float32's precision: a float32 is written with fewer digits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if (found := _difference(a.get(key, ...), b.get(key, ...), f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (found := _difference(x, y, f"{path}[{i}]")) is not None:
                return found
        return None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if a == b or (numbers and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-30)):
        return None
    return f"{path.lstrip('.')}: {repr(a)[:200]} | {repr(b)[:200]}"
