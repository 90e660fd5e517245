"""Every chart on every page goes through `chart`: our template (never Streamlit's theme), and in
presenter mode larger type and thicker lines for a projector.

Presenter mode is a session setting: the sidebar's "Presenter mode" toggle or `?present=1` in the
link (kept in the link while on, so a teacher's bookmark opens in it).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import threading
import weakref
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
import streamlit as st
from plotly.basedatatypes import BaseFigure
from streamlit.delta_generator import DeltaGenerator
from streamlit.elements.lib.form_utils import current_form_id
from streamlit.elements.lib.layout_utils import LayoutConfig
from streamlit.elements.lib.utils import compute_and_register_element_id
from streamlit.proto.PlotlyChart_pb2 import PlotlyChart as PlotlyChartProto

from core.charts import PRESENTER, TEMPLATE
from core.figures import copied, figure

log = logging.getLogger(__name__)

PRESENT = "present"  # session key and link parameter
CONFIG = {"displaylogo": False}  # Plotly's own toolbar without its logo; it shows on hover only
_CONFIG_JSON = json.dumps(CONFIG)


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT))


def read_present_link() -> None:
    """Before the toggle is drawn: `?present=1` in the link turns presenter mode on (a teacher's
    bookmark, or a link opened in a session that already runs)."""
    if st.query_params.get(PRESENT) == "1":
        st.session_state[PRESENT] = True
    else:
        st.session_state.setdefault(PRESENT, False)


def _toggled() -> None:
    if not st.session_state[PRESENT] and PRESENT in st.query_params:
        del st.query_params[PRESENT]  # before the next read_present_link would turn it back on


def present_toggle() -> None:
    """The sidebar switch; the link carries `present=1` while it is on."""
    st.toggle(
        "Presenter mode",
        key=PRESENT,
        on_change=_toggled,
        help="For a projector: larger text and lines, and each lab's key chart beside its controls "
        "at 1366 × 768. The link keeps it (present=1).",
    )


def write_present_link() -> None:
    """Keep `present=1` in the address while presenting (the labs rewrite their own parameters)."""
    if presenting() and st.query_params.get(PRESENT) != "1":
        st.query_params[PRESENT] = "1"


# Presenter mode's page: Streamlit's empty header and its 6rem top padding give way to the lab, so
# that at 1366 x 768 the transport buttons and the key chart fit on the first screen.
_PRESENTER_CSS = """<style>
header[data-testid="stHeader"] { background: transparent; height: 2.25rem; }
[data-testid="stMainBlockContainer"] { padding-top: 0.75rem; padding-bottom: 2rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 2rem; padding: 0 0 0.25rem 0; }
[data-testid="stMainBlockContainer"] [data-testid="stAlert"] p { font-size: 1.05rem; }
</style>"""


PRESENT_MIN_PX = 16  # the smallest chart text in presenter mode (a figure's own 13 px labels grow to it)
_FONTS = ("font", "textfont", "tickfont", "insidetextfont", "outsidetextfont")


def _at_least(node, px: int):
    """A copy of a figure's dict (or list) in which no font's explicit size is below px."""
    if isinstance(node, list):
        return [_at_least(item, px) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _FONTS and isinstance(value, dict) and isinstance(value.get("size"), (int, float)):
            value = dict(value, size=max(value["size"], px))
        if key == "template":
            out[key] = value
        elif isinstance(value, (dict, list)):
            out[key] = _at_least(value, px)
        else:
            out[key] = value
    return out


# On a phone (390 px): the preset buttons wrap as a strip of small buttons and the four transport
# buttons share one row, instead of nine full-width buttons stacked above the first chart; the
# sidebar opens as a sheet over the lower half of the screen, so the chart a control changes stays
# in view above it; the chart toolbars (Plotly's and Streamlit's) no longer cover the chart titles.
PHONE_CSS = """<style>
@media (max-width: 640px) {
  .st-key-presets [data-testid="stHorizontalBlock"],
  .st-key-transport [data-testid="stHorizontalBlock"] { flex-direction: row !important;
    flex-wrap: wrap !important; gap: 0.35rem !important; }
  .st-key-presets [data-testid="stColumn"] { flex: 1 1 auto !important; width: auto !important;
    min-width: 0 !important; }
  .st-key-presets button { min-height: 2rem !important; padding: 0.15rem 0.6rem !important; }
  .st-key-presets button p { font-size: 0.85rem !important; }
  .st-key-transport [data-testid="stColumn"] { flex: 1 1 20% !important; width: auto !important;
    min-width: 0 !important; }
  .st-key-transport [data-testid="stColumn"]:last-child { flex: 1 1 100% !important; }
  .st-key-transport button { padding: 0.25rem 0.3rem !important; }
  section[data-testid="stSidebar"][data-collapsed="false"] { position: fixed !important; top: 45vh !important;
    left: 0 !important; height: 55vh !important; max-height: 55vh !important; width: 100vw !important;
    min-width: 100vw !important; border-top: 2px solid #d0d3da; box-shadow: 0 -6px 18px rgba(0,0,0,0.15); }
  .modebar-container, [data-testid="stElementToolbar"] { display: none !important; }
}
</style>"""


def present_style() -> None:
    """The page's own CSS: the phone layout always (PHONE_CSS), the presenter's in presenter mode."""
    st.html(PHONE_CSS + (_PRESENTER_CSS if presenting() else ""))


def present_first():
    """In presenter mode, a container drawn above whatever the caller draws next (a lab's key chart
    goes there, before its metrics); outside it, None."""
    return st.container() if presenting() else None


def _projected(data: list, layout: dict, height: int | None) -> tuple[list, dict]:
    """The presenter's figure: PRESENTER's type, no text under PRESENT_MIN_PX, lines half as thick
    again, `height` px if given."""
    layout = dict(layout, template=PRESENTER)
    if height:
        layout["height"] = height
    layout = _at_least(layout, PRESENT_MIN_PX)
    out = []
    for trace in data:
        trace = _at_least(dict(trace), PRESENT_MIN_PX)
        if isinstance(trace.get("line"), dict):
            trace["line"] = dict(trace["line"], width=1.5 * trace["line"].get("width", 2))
        if isinstance(trace.get("marker"), dict) and "size" in trace["marker"]:
            size = trace["marker"]["size"]
            if isinstance(size, (int, float)):
                trace["marker"] = dict(trace["marker"], size=size * 1.3)
        out.append(trace)
    return out, layout


def spec(fig, present: bool = False, height: int | None = None) -> dict:
    """The figure as the browser gets it: a plain dict with our template (PRESENTER's when `present`)."""
    if isinstance(fig, BaseFigure):
        data, layout = copied(fig._data), copied(fig._layout)  # no deepcopy of the arrays
    else:
        data, layout = copied(list(fig.get("data", []))), copied(dict(fig.get("layout", {})))
    if present:
        data, layout = _projected(data, layout, height)
    else:
        layout["template"] = TEMPLATE
    return {"data": data, "layout": layout}


def for_projector(fig, height: int | None = None) -> go.Figure:
    """A copy of fig as presenter mode draws it (for tests and for reading)."""
    return figure(spec(fig, True, height))


# id(fig) -> {(presenter, height): its JSON}: a figure drawn again unchanged (a slow panel between two
# of its updates) is not serialised again; the entry goes when the figure does (figures compare by
# value and cannot be hashed, hence the id and a finalizer rather than a WeakKeyDictionary).
_JSON: dict[int, dict] = {}
_JSON_LOCK = threading.Lock()  # every session's script thread draws


def spec_json(fig, present: bool = False, height: int | None = None) -> str:
    """The JSON the browser gets for fig (see spec), made once per figure and mode."""
    key = (present, height)
    if not isinstance(fig, BaseFigure):
        return pio.to_json(spec(fig, present, height), validate=False, engine="orjson")
    with _JSON_LOCK:
        cache = _JSON.get(id(fig))
        if cache is None:
            cache = _JSON[id(fig)] = {}
            weakref.finalize(fig, _JSON.pop, id(fig), None)
        if key in cache:
            return cache[key]
    text = pio.to_json(spec(fig, present, height), validate=False, engine="orjson")
    with _JSON_LOCK:
        cache[key] = text
    return text


# ---- charts that change in place: the live view's ------------------------------------------------
# Streamlit's own chart element draws a changed figure from scratch (Plotly's newPlot: 100-120 ms of
# the browser's main thread per chart inside a lab page on a 2-core machine, so a live page managed
# 1-1.5 redraws a second). The live view's charts are drawn instead by a small component of our own
# (st.components.v2) that keeps one plot per chart and hands each new figure to Plotly.react, which
# updates the plot in place. Its Plotly.js is the one plotly.py ships (the version its figures are
# written for), served by Streamlit's static file serving (.streamlit/config.toml) from static/, a
# copy made at the first use (generated, not in git).

STATIC = Path(__file__).resolve().parent.parent / "static"  # Streamlit serves <app.py's folder>/static
PLOTLY_JS = f"plotly-{plotly.offline.get_plotlyjs_version()}.min.js"
_IN_PLACE = contextvars.ContextVar("charts_in_place", default=False)
_SERVED: bool | None = None  # whether static/PLOTLY_JS is there (None: not looked yet)
_SERVED_LOCK = threading.Lock()

_IN_PLACE_JS = """
const SRC = "app/static/%(file)s";
const CONFIG = %(config)s;
let loading = null;
function plotly() {  // one copy of Plotly.js per page, loaded at the first chart
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!loading) loading = new Promise((ok, fail) => {
    const script = document.createElement("script");
    script.src = new URL(SRC, document.baseURI).href;
    script.onload = () => ok(window.Plotly);
    script.onerror = () => { loading = null; fail(new Error("no plotly")); };
    document.head.appendChild(script);
  });
  return loading;
}
export default function ({ data, parentElement }) {
  let plot = parentElement.querySelector(":scope > .gp-chart");
  if (!plot) {
    plot = document.createElement("div");
    plot.className = "gp-chart";
    plot.style.width = "100%%";
    parentElement.appendChild(plot);
  }
  const text = new TextDecoder().decode(data);
  if (text !== plot.gpText) {  // not the same figure again (a slow panel between two of its updates)
    plot.gpText = text;
    plotly().then((Plotly) => {
      if (plot.gpText !== text) return;  // a newer figure came while Plotly.js loaded
      const fig = JSON.parse(text);
      fig.layout.uirevision ??= "kept";  // a zoom or a hidden legend entry survives the redraws
      return Plotly.react(plot, fig.data, fig.layout, CONFIG);
    }).catch(() => {
      plot.textContent = "This chart could not be drawn: reload the page.";
    });
  }
  // Streamlit calls this when the chart leaves the page (and sometimes while it stays): a plot that
  // is gone lets go of Plotly's window listeners, or every page visit would leave its charts behind
  return () => setTimeout(() => {
    if (!plot.isConnected && window.Plotly) window.Plotly.purge(plot);
  }, 1000);
}
"""


def plotly_served() -> bool:
    """Put Plotly.js in static/ once per process (an atomic copy: several servers may share a checkout);
    False if that cannot be done, and the live charts are then drawn by Streamlit's element."""
    global _SERVED
    with _SERVED_LOCK:
        if _SERVED is None:
            source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
            target = STATIC / PLOTLY_JS
            try:
                if not target.is_file() or target.stat().st_size != source.stat().st_size:
                    STATIC.mkdir(exist_ok=True)
                    part = target.with_suffix(f".{os.getpid()}.part")
                    part.write_bytes(source.read_bytes())
                    os.replace(part, target)
                _SERVED = True
            except OSError:
                log.exception(
                    "cannot serve %s from %s; live charts fall back to st.plotly_chart", PLOTLY_JS, STATIC
                )
                _SERVED = False
        return _SERVED


_in_place_chart = st.components.v2.component(
    "gp_chart",
    js=_IN_PLACE_JS % {"file": PLOTLY_JS, "config": json.dumps(CONFIG | {"responsive": True})},
    isolate_styles=False,
)


@contextlib.contextmanager
def in_place():
    """Charts drawn inside this block change in place in the browser (the live view's redraws)."""
    token = _IN_PLACE.set(True)
    try:
        yield
    finally:
        _IN_PLACE.reset(token)


def chart(fig, *, key: str, where=None, present_height: int | None = None, **kwargs):
    """Draw a figure with our template (never Streamlit's theme, see core.charts.TEMPLATE); in presenter
    mode with PRESENTER's type and lines, and `present_height` px if given (a key chart that must fit
    the projector's first screen).

    A live page redraws its charts twice a second for every student, so this is the server's hottest
    path, and st.plotly_chart does for each figure what it has done already: it validates the figure
    again, deep-copies it, serialises it, and hashes the JSON into the element's id. Here the figure
    is serialised once (its template added as plain JSON: core.charts builds figures without one,
    which took 2.5 ms a figure to validate) and sent as Streamlit's own PlotlyChart element, its id
    made from the key and Python's string hash of the JSON (Streamlit's frontend draws a chart again
    only when its id changes: an id from the key alone froze every live chart at its first picture).
    A chart that selects (on_select) goes through st.plotly_chart, which registers it as a widget. Inside
    in_place() (the live view) the same JSON goes to the in-place component instead, under "chart-" + key.
    """
    where = st if where is None else where
    present = presenting()
    if kwargs:
        fig = for_projector(fig, present_height) if present else figure(spec(fig))
        return where.plotly_chart(fig, theme=None, key=key, config=CONFIG, **kwargs)
    dg = where if isinstance(where, DeltaGenerator) else st._main
    height = present_height if present and present_height else _height(fig)
    text = spec_json(fig, present, present_height if present else None)
    if _IN_PLACE.get() and plotly_served():
        # the chart's key names a widget (the component's state): prefixed, apart from the app's keys
        with where if isinstance(where, DeltaGenerator) else contextlib.nullcontext():
            return _in_place_chart(key=f"chart-{key}", data=text.encode(), height=height, width="stretch")
    proto = PlotlyChartProto()
    proto.theme = ""
    proto.form_id = current_form_id(dg)
    proto.spec = text
    proto.config = _CONFIG_JSON
    proto.id = compute_and_register_element_id(  # a new figure, a new id: the browser draws it anew
        "plotly_chart", user_key=key, key_as_main_identity=False, dg=dg, spec=hash(proto.spec), theme=""
    )
    return dg._enqueue("plotly_chart", proto, layout_config=LayoutConfig(width="stretch", height=height))


def _height(fig) -> int:
    layout = fig._layout if isinstance(fig, BaseFigure) else fig.get("layout", {})
    return int(layout.get("height") or 450)
