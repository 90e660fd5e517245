"""The Optimizers lab through AppTest: presets, the race, the surface, and untrusted CSV files."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import chart_texts, click, open_page, refused, upload
from tests.apptest import runs as lab_runs
from ui.labs.optimizers import PRESETS

GOOD_CSV = "weight,height,animal\n" + "".join(
    f"{w},{h},{a}\n"
    for i in range(40)
    for w, h, a in [(10 + i % 7, 30 + i % 5, "cat"), (30 + i % 9, 60 + i % 4, "dog")]
)


def open_lab(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/optimizers.py", query)


def runs(at: AppTest):
    return lab_runs(at, "opt")


def test_lab_loads_with_three_racers_and_a_surface():
    at = open_lab()
    assert len(runs(at)) == 3
    charts = " ".join(chart_texts(at))
    assert (
        "Loss along each path" in charts and "Cross-entropy loss: train (solid) and test (dotted)" in charts
    )


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS.values()), ids=lambda p: p.short)
def test_each_preset_applies_and_its_race_runs_to_the_end(preset):
    at = click(open_lab(), preset.short)
    assert any(preset.name in i.value for i in at.info)
    assert len(runs(at)) == preset.values["racers"]
    click(at, "Play")
    assert all(run.done for run in runs(at).values())
    (table,) = [df.value for df in at.dataframe if "racer" in df.value.columns]
    assert len(table) == preset.values["racers"] and set(table["status"]) <= {"finished"} | {
        f"diverged at step {run.diverged_at}" for run in runs(at).values()
    }


def test_the_race_starts_every_racer_from_the_same_weights():
    at = open_lab()
    assert len({run.init_fingerprint for run in runs(at).values()}) == 1
    click(at, "Step")
    assert [run.step for run in runs(at).values()] == [1, 1, 1]


def test_changing_one_racer_keeps_the_others_in_their_places_and_restarts_the_race():
    at = open_lab({"r1.optim.lr": "0.3"})
    for _ in range(3):
        click(at, "Step")
    before = dict(runs(at))
    at.slider(key="opt:w:r0.optim.momentum").set_value(0.9).run()
    labels = list(runs(at))
    assert labels == ["1 · SGD + momentum", "2 · SGD + momentum", "3 · Adam"]
    assert runs(at)[labels[1]] is before["2 · SGD + momentum"]  # racer 2 kept its own run (lr 0.3)
    assert runs(at)[labels[1]].cfg.optim.lr == 0.3
    assert [run.step for run in runs(at).values()] == [0, 0, 0]  # and the race starts again together


def test_a_link_out_of_range_is_clamped_with_a_warning():
    at = open_lab({"racers": "99"})
    assert at.slider(key="opt:w:racers").value == 6
    assert any("The link set 'Racers' to 99; the most is 6, so it uses 6." in w.value for w in at.warning)


def test_a_link_restores_the_racers():
    at = open_lab({"racers": "4", "r3.optim.name": "adagrad", "r3.optim.lr": "0.05", "surface": "ravine"})
    assert list(runs(at)) == ["1 · SGD", "2 · SGD + momentum", "3 · Adam", "4 · Adagrad"]
    assert at.selectbox(key="opt:w:surface").value == "ravine"


def test_a_good_csv_trains_with_its_own_classes():
    at = open_lab({"data.name": "csv"})
    assert not runs(at)  # nothing to train before an upload
    upload(at, "pets.csv", GOOD_CSV.encode())
    assert not at.error
    assert any(s.label == "Label column" and s.value == "animal" for s in at.selectbox)
    run = next(iter(runs(at).values()))
    assert run.data.class_names == ("cat", "dog") and run.data.n_features == 2
    click(at, "Play")
    assert all(r.done for r in runs(at).values())


BAD_FILES = {
    "text in a feature": ("weight,colour,animal\n" + "1,red,cat\n2,blue,dog\n" * 10, "holds text"),
    "NaN": ("weight,height,animal\n" + "1,,cat\n2,3,dog\n" * 10, "missing"),
    "single class": ("weight,height,animal\n" + "1,2,cat\n" * 20, "single class"),
    "hundreds of classes": (
        "weight,height,id\n" + "".join(f"{i},{i},{i}\n" for i in range(300)),
        "300 different",
    ),
    "no rows": ("weight,height,animal\n", "no data rows"),
    "not a CSV": ("\x89PNG\r\n\x1a\n\x00\x00binary", "PNG"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_csv_gets_one_sentence_and_the_session_survives(case):
    at = click(open_lab({"racers": "2"}), "Play")  # a finished race on the built-in data
    finished = dict(runs(at))
    at.selectbox(key="opt:w:data.name").set_value("csv").run()
    content, words = BAD_FILES[case]
    refused(at, f"{case}.csv", content.encode("latin-1"), words)
    assert at.slider(key="opt:w:racers").value == 2  # the settings survive
    at.selectbox(key="opt:w:data.name").set_value("moons").run()
    assert runs(at) == finished and all(run.done for run in runs(at).values())  # and so does the race
    at.selectbox(key="opt:w:data.name").set_value("csv").run()
    upload(at, "pets.csv", GOOD_CSV.encode())  # a good file afterwards trains
    assert not at.error and len(runs(at)) == 2


def test_every_preset_value_is_one_its_widget_can_show():
    from core.gradients.presets import GRADIENT_PRESETS
    from ui.labs import gradients
    from ui.labs.optimizers import CONTROLS

    grad_presets = [gradients.values_of(p.a, p.b) for p in GRADIENT_PRESETS.values()]
    for values, controls in [(p.values, CONTROLS) for p in PRESETS.values()] + [
        (v, gradients.ALL_CONTROLS) for v in grad_presets
    ]:
        for key, value in values.items():
            if key in controls:
                assert controls[key].coerce(value) == value, (key, value)
