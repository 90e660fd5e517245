"""The run budget through the pages (AppTest): each lab's largest legal settings, reached by a link or
by the widgets, are refused in one sentence, and the session's settings and other runs stay."""

from __future__ import annotations

from core import budget
from tests.apptest import click, open_page
from tests.apptest import runs as lab_runs

SHAPES = {
    "data.name": "shapes",
    "data.per_class": "20",
    "data.size": "16",
    "train.steps": "50",
    "train.eval_every": "25",
    "a.model.channels": "4",
}
HEAVY_CNN = {
    "a.model.blocks": "4",
    "a.model.channels": "64",
    "a.model.kernel": "7",
    "a.model.padding": "3",
    "a.model.pool": "none",
    "a.model.head": "256",
    "train.batch_size": "256",
}


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_an_image_set_too_large_is_one_sentence_and_the_trained_run_stays():
    at = click(open_page("pages/images.py", SHAPES), "Play")
    trained = lab_runs(at, "img")["A"]
    assert trained.done and trained.step == 50
    at.select_slider(key="img:w:data.per_class").set_value(2000)
    at.select_slider(key="img:w:data.size").set_value(64).run()
    assert not at.exception
    (error,) = errors(at)
    assert "would take 750 MB of memory" in error and "choose fewer images per class" in error
    assert lab_runs(at, "img") == {"A": trained}  # nothing was made or replaced
    assert at.select_slider(key="img:w:data.per_class").value == 2000  # the settings stay as chosen
    at.select_slider(key="img:w:data.per_class").set_value(20).run()
    assert not errors(at) and lab_runs(at, "img")["A"].cfg.data.size == 64


def test_the_largest_cnn_from_a_link_is_one_sentence_and_the_other_labs_keep_their_runs():
    at = click(open_page("pages/sequences.py", {"cells.rnn": "0", "cells.gru": "0"}), "Step")
    lstm = lab_runs(at, "seq")
    assert [run.step for run in lstm.values()] == [1]
    at.switch_page("pages/images.py")
    for key, value in (SHAPES | HEAVY_CNN).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception and not lab_runs(at, "img")
    (error,) = errors(at)
    assert error.startswith("Too heavy for a server the whole class shares: each training step would take")
    assert error.count(". ") == 0 and error.endswith("or fewer images.")
    assert lab_runs(at, "seq") == lstm  # another lab's run is untouched


def test_the_sequences_labs_maxima_are_refused_run_by_run_in_one_sentence_each():
    maxima = {
        "data.days": "180",
        "window.seq_len": "288",
        "window.horizon": "96",
        "window.stride": "1",
        "model.layers": "3",
        "model.hidden": "64",
        "train.batch_size": "256",
        "split": "both",
    }
    at = open_page("pages/sequences.py", maxima)
    assert not at.exception and not lab_runs(at, "seq")
    refused = errors(at)
    assert len(refused) == 3  # three cells on two splits: one box per sentence, naming both splits
    assert [e.split(":")[0] for e in refused] == [
        f"{cell} · time split and {cell} · shuffled split" for cell in ("RNN", "LSTM", "GRU")
    ]
    assert all("Too heavy for a server the whole class shares" in e and e.count(". ") == 0 for e in refused)
    assert at.select_slider(key="seq:w:window.seq_len").value == 288


def test_the_two_inputs_labs_largest_net_is_refused_and_fewer_channels_train():
    big = {"model.blocks": "3", "model.channels": "32", "model.hidden": "256", "train.batch_size": "128"}
    at = open_page("pages/multitask.py", big)
    assert not at.exception and not lab_runs(at, "mt")
    (error,) = errors(at)
    assert "as up to 5 runs step side by side" in error and "fewer channels" in error
    at.select_slider(key="mt:w:model.channels").set_value(8).run()
    assert not errors(at) and list(lab_runs(at, "mt")) == ["A"]


def test_a_students_runs_in_every_lab_share_one_budget_and_the_sentence_says_where(monkeypatch):
    """Runs in another lab count against the student's session budget (here shrunk to fit the default
    runs): the new lab's run is refused in one sentence naming that lab, and the first lab keeps its
    run; lighter settings there make room."""
    at = click(open_page("pages/sequences.py", {"cells.rnn": "0", "cells.gru": "0"}), "Step")
    lstm = lab_runs(at, "seq")
    at.switch_page("pages/images.py")
    for key, value in SHAPES.items():
        at.query_params[key] = value
    at.run()
    alone = lab_runs(at, "img")["A"].cost.bytes
    held = sum(run.cost.bytes for run in lstm.values())
    monkeypatch.setattr(budget, "SESSION_BYTES", held + alone / 2)  # the Images run fits alone, not beside
    at.select_slider(key="img:w:data.per_class").set_value(50).run()
    assert not at.exception
    (error,) = errors(at)
    assert error.startswith("Too heavy for a server the whole class shares: the run would hold about")
    assert "beside your other runs'" in error and "in the Sequences lab" in error and error.count(". ") == 0
    assert error.endswith("or choose lighter settings where your other runs are.")
    assert not lab_runs(at, "img") and lab_runs(at, "seq") == lstm  # the first lab's run stays
    monkeypatch.setattr(budget, "SESSION_BYTES", held + 2 * alone)
    at.select_slider(key="img:w:data.per_class").set_value(20).run()
    assert not errors(at) and lab_runs(at, "img")["A"].cfg.data.per_class == 20
