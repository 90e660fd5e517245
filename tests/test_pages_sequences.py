"""The Sequences lab through AppTest: the page, presets, link state, and untrusted CSV files."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.sequences.presets import SEQ_PRESETS as PRESETS
from tests.apptest import chart_texts, click, open_page, refused, upload
from tests.apptest import runs as lab_runs
from ui.labs.sequences import CONTROLS, preset_values

FAST = {
    "train.steps": "10",
    "train.batch_size": "16",
}  # a few quick steps: the lessons train in full elsewhere
HOURS = [str(t) for t in pd.date_range("2024-01-01", periods=300, freq="h")]


def hourly_csv(times=HOURS, values=None, header="time,load") -> bytes:
    values = (
        values
        if values is not None
        else [round(10 + (i % 24) / 3 + (i * 7 % 5) / 10, 2) for i in range(len(times))]
    )
    return (header + "\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True))).encode()


def open_lab(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/sequences.py", FAST | (query or {}))


def runs(at: AppTest):
    return lab_runs(at, "seq")


def chart_titles(at: AppTest) -> str:
    return " ".join(chart_texts(at))


def test_the_lab_trains_three_cells_side_by_side():
    at = click(open_lab(), "Play")
    assert list(runs(at)) == ["RNN", "LSTM", "GRU"] and all(run.done for run in runs(at).values())
    assert any("one fused kernel" in c.value for c in at.caption)  # why the LSTM steps faster than the GRU
    titles = chart_titles(at)
    for words in (
        "Where the split falls",
        "One step ahead",
        "Mean squared error",
        "Why the plain RNN forgets",
    ):
        assert words in titles
    (table,) = [df.value for df in at.dataframe]
    assert list(table["model"]) == [
        "RNN",
        "LSTM",
        "GRU",
        "Last value (naive)",
        "Same time the day before (naive)",
    ]
    assert list(table["train MSE"])[-2:] == ["—", "—"]  # no training, no train MSE: a dash, not "None"
    assert any("(16, 96, 1) = (batch, sequence, features)" in c.value for c in at.caption)
    assert not at.error


@pytest.mark.parametrize("preset", list(PRESETS.values()), ids=lambda p: p.short)
def test_each_preset_sets_its_lesson_up_and_steps(preset):
    at = click(open_lab(), preset.short)
    assert any(preset.name in i.value for i in at.info)
    labels = list(runs(at))
    assert len(labels) == len(preset.cells) * len(preset.splits)
    assert all(run.cfg.window.seq_len == preset.base.window.seq_len for run in runs(at).values())
    click(at, "Step")
    assert [run.step for run in runs(at).values()] == [1] * len(labels)
    assert not at.error


def test_every_preset_value_is_one_its_widget_can_show():
    for preset in PRESETS.values():
        for key, value in preset_values(preset).items():
            assert CONTROLS.get(key) is None or CONTROLS[key].coerce(value) == value, (
                preset.short,
                key,
                value,
            )


def test_a_link_restores_the_setup_and_a_changed_setting_goes_into_the_link():
    at = open_lab({"cells.rnn": "0", "window.horizon": "24", "data.name": "seattle", "split": "both"})
    assert list(runs(at)) == [
        "LSTM · time split",
        "GRU · time split",
        "LSTM · shuffled split",
        "GRU · shuffled split",
    ]
    assert at.selectbox(key="seq:w:data.name").value == "seattle"
    at.select_slider(key="seq:w:model.hidden").set_value(8).run()
    assert at.query_params["model.hidden"] == "8" and at.query_params["window.horizon"] == "24"
    assert all(run.cfg.model.hidden == 8 for run in runs(at).values())


def test_a_link_out_of_range_is_clamped_with_a_warning():
    at = open_lab({"model.layers": "9"})
    assert at.slider(key="seq:w:model.layers").value == 3
    said = "The link set 'Recurrent layers' to 9; the most is 3, so it uses 3."
    assert any(said in w.value for w in at.warning)


def test_no_cell_switched_on_says_so():
    at = open_lab({"cells.rnn": "0", "cells.lstm": "0", "cells.gru": "0"})
    assert any("at least one cell" in w.value for w in at.warning) and not runs(at)


def test_a_good_csv_trains_on_its_own_series():
    at = open_lab({"data.name": "csv", "window.seq_len": "24", "window.horizon": "24", "cells.rnn": "0"})
    assert not runs(at)
    upload(at, "load.csv", hourly_csv())
    assert not at.error
    run = next(iter(runs(at).values()))
    assert len(run.series) == 300 and run.series.step_text == "1 h"
    click(at, "Play")
    assert all(r.done for r in runs(at).values())


BAD_FILES = {
    "unsorted": (hourly_csv([*HOURS[:10], HOURS[11], HOURS[10], *HOURS[12:]]), "not in time order"),
    "duplicate": (hourly_csv([*HOURS[:10], HOURS[9], *HOURS[11:]]), "appears more than once"),
    "gaps": (hourly_csv([*HOURS[:10], *HOURS[11:], "2024-02-01 00:00:00"]), "not evenly spaced"),
    "text value": (
        hourly_csv(values=["broken" if i == 7 else i for i in range(300)]),
        "holds text ('broken' in row 8)",
    ),
    "NaN": (hourly_csv(values=["NaN" if i == 7 else i for i in range(300)]), "1 missing value"),
    "too short": (hourly_csv(HOURS[:30]), "fewer than one window needs"),
    "no timestamps": (hourly_csv([str(i) for i in range(300)], header="step,load"), "holds dates and times"),
    "not a CSV": (b"\x89PNG\r\n\x1a\n\x00\x00binary", "PNG"),
    "too large": (b"time,load\n" + b"2024-01-01 00:00:00,1\n" * 1_000_000, "the limit is 20 MB"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_csv_gets_one_sentence_and_the_session_survives(case):
    at = click(open_lab({"cells.rnn": "0", "cells.gru": "0", "window.seq_len": "48"}), "Play")
    finished = dict(runs(at))
    at.selectbox(key="seq:w:data.name").set_value("csv").run()
    content, words = BAD_FILES[case]
    refused(at, f"{case}.csv", content, words)
    assert at.select_slider(key="seq:w:window.seq_len").value == 48  # the settings survive
    at.selectbox(key="seq:w:data.name").set_value("electricity").run()
    assert runs(at) == finished and all(run.done for run in runs(at).values())  # and so do the runs
