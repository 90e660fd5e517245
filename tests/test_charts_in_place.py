"""The live view's charts change in place (ui.charts.in_place): a small component of ours hands each new
figure to Plotly.js's react, served from static/ (a copy of the Plotly.js that plotly.py ships); when
that copy cannot be made, the same charts go out as Streamlit's own chart element."""

from __future__ import annotations

import logging
from pathlib import Path

import plotly
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import chart_texts
from ui import charts


@pytest.fixture
def static(tmp_path, monkeypatch):
    folder = tmp_path / "static"
    monkeypatch.setattr(charts, "STATIC", folder)
    monkeypatch.setattr(charts, "_SERVED", None)
    return folder


def test_plotly_js_is_copied_once_into_the_static_folder(static):
    assert charts.plotly_served()
    served = static / charts.PLOTLY_JS
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert served.read_bytes() == shipped.read_bytes()
    version = plotly.offline.get_plotlyjs_version()
    assert charts.PLOTLY_JS.endswith(f"-{version}.min.js")  # a new version, a new name: no stale cache
    served.write_bytes(b"")  # the process has looked once: it does not look again
    assert charts.plotly_served() and served.read_bytes() == b""
    assert not list(static.glob("*.part")), "the copy is written aside and renamed into place"


def test_a_folder_that_cannot_be_written_falls_back_to_streamlits_chart(tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(charts, "STATIC", blocked / "static")
    monkeypatch.setattr(charts, "_SERVED", None)
    with caplog.at_level(logging.ERROR, logger="ui.charts"):
        assert not charts.plotly_served()
    assert "fall back" in caplog.text


def _page():
    import plotly.graph_objects as go
    import streamlit as st

    from ui.charts import chart, in_place

    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[3, 1, 2]), layout=dict(title=dict(text="Loss · A")))
    chart(fig, key="still")
    left, _ = st.columns(2)
    with in_place():
        chart(fig, key="live", where=left)


def test_charts_in_the_live_view_go_out_as_the_in_place_component(static):
    at = AppTest.from_function(_page, default_timeout=30).run()
    assert not at.exception
    kinds = [element.type for element in at.main if element.type in ("plotly_chart", "bidi_component")]
    assert kinds == ["plotly_chart", "bidi_component"]
    live = next(element for element in at.main if element.type == "bidi_component")
    assert live.proto.component_name == "gp_chart" and live.key == "chart-live"  # apart from the app's keys
    assert charts.PLOTLY_JS in live.proto.js_content
    still, moving = chart_texts(at)
    assert still == moving  # the same figure either way,
    assert "Loss · A" in moving and '"template"' in moving  # with our template


def test_without_plotly_js_the_live_charts_are_streamlits_own(static, monkeypatch):
    monkeypatch.setattr(charts, "_SERVED", False)
    at = AppTest.from_function(_page, default_timeout=30).run()
    assert not at.exception
    kinds = [element.type for element in at.main if element.type in ("plotly_chart", "bidi_component")]
    assert kinds == ["plotly_chart", "plotly_chart"]
