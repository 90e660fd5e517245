"""Every chart on every page goes through `chart`: our template (never Streamlit's theme), and in
presenter mode larger type and thicker lines for a projector.

Presenter mode is a session setting: the sidebar's "Presenter mode" toggle or `?present=1` in the
link (kept in the link while on, so a teacher's bookmark opens in it).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.figures import PRESENTER

PRESENT = "present"  # session key and link parameter
CONFIG = {"displaylogo": False}  # Plotly's own toolbar without its logo; it shows on hover only


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


def for_projector(fig, height: int | None = None):
    """A copy of fig with the presenter template and lines half as thick again."""
    spec = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else dict(fig)
    layout = dict(spec.get("layout", {}))
    layout["template"] = PRESENTER
    if height:
        layout["height"] = height
    layout = _at_least(layout, PRESENT_MIN_PX)
    data = []
    for trace in spec.get("data", []):
        trace = _at_least(dict(trace), PRESENT_MIN_PX)
        if isinstance(trace.get("line"), dict):
            trace["line"] = dict(trace["line"], width=1.5 * trace["line"].get("width", 2))
        if isinstance(trace.get("marker"), dict) and "size" in trace["marker"]:
            size = trace["marker"]["size"]
            if isinstance(size, (int, float)):
                trace["marker"] = dict(trace["marker"], size=size * 1.3)
        data.append(trace)
    return go.Figure(dict(spec, data=data, layout=layout))  # one validation, as core.figures does


def chart(fig, *, key: str, where=None, present_height: int | None = None, **kwargs):
    """st.plotly_chart with our template (theme=None): see core.figures.TEMPLATE. In presenter mode
    the figure gets PRESENTER's type and lines, and `present_height` px if given (a key chart that
    must fit the projector's first screen)."""
    where = st if where is None else where
    if presenting():
        fig = for_projector(fig, present_height)
    return where.plotly_chart(fig, theme=None, key=key, config=CONFIG, **kwargs)
