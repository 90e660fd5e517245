"""The Images lab through AppTest: presets, links, impossible shapes, zip uploads, downloads, checkpoints."""

from __future__ import annotations

import urllib.error

import pytest
from streamlit.testing.v1 import AppTest

from core import checkpoint
from core.data import tvsets
from tests.apptest import chart_texts, click, open_page, refused, upload
from tests.apptest import runs as lab_runs
from tests.badfiles import bad_zips, good_zip, noted_zips

SMALL = {"data.per_class": "20", "train.steps": "50", "train.eval_every": "25", "a.model.channels": "4"}


def open_lab(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/images.py", query)


def runs(at: AppTest) -> dict:
    return lab_runs(at, "img")


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_lab_loads_with_one_run_and_every_tab():
    at = open_lab()
    assert list(runs(at)) == ["A"] and not at.error
    tabs = ["Training", "Evaluation", "Augmentation", "Architecture", "Data"]
    assert [t.label for t in at.tabs][:5] == tabs
    assert "Parameters in all" in texts(at.caption)
    charts = " ".join(chart_texts(at))
    assert "Cross-entropy loss: train (solid) and test (dotted)" in charts and "Images per class" in charts


def test_training_fills_the_evaluation_and_offers_a_checkpoint_that_loads_back():
    at = click(open_lab(SMALL), "Play")
    run = runs(at)["A"]
    assert run.done and run.report.step == 50
    assert "macro" in at.dataframe[0].value["average"].tolist() or any(
        "macro" in df.value.to_string() for df in at.dataframe
    )
    assert "**macro**: the plain mean over classes" in texts(at.caption)  # the averages, glossed
    button = next(b for b in at.get("download_button") if "checkpoint" in str(b.proto).lower())
    assert button is not None
    shape, names = run.images.image_shape, run.class_names
    data = checkpoint.to_bytes(run.model, run.cfg.model, shape, names, "MNIST", 0.5)
    restored = checkpoint.from_bytes(data, "cnn.pt")
    assert restored.class_names == run.class_names and restored.image_shape == run.images.image_shape


def test_a_link_sets_up_the_lab_and_a_bad_value_keeps_its_default():
    at = open_lab({"a.model.blocks": "3", "a.augment.hflip": "0.5", "a.model.pool": "sideways"})
    cfg = runs(at)["A"].cfg
    assert cfg.model.blocks == 3 and cfg.augment.hflip == 0.5 and cfg.model.pool == "max"
    assert "sideways" in texts(at.warning)


def test_impossible_shapes_get_a_sentence_not_a_crash():
    at = open_lab({"a.model.blocks": "4", "a.model.kernel": "7", "a.model.padding": "0"})
    assert not runs(at)
    assert "does not fit" in texts(at.error) or "below one pixel" in texts(at.error)


def choose_zip(at: AppTest) -> AppTest:
    at.selectbox(key="img:w:data.name").set_value("zip").run()
    assert not at.exception
    return at


def test_a_good_zip_trains_on_its_own_classes():
    at = choose_zip(open_lab(SMALL))
    assert "Upload a zip" in texts(at.info)
    assert "`clouds/cirrus/*.jpg`" in at.get("file_uploader")[0].proto.label  # the wildcards stay as typed
    upload(at, "pets.zip", good_zip(classes=("cats", "dogs", "owls"), per_class=6, size=40))
    run = runs(at)["A"]
    assert run.class_names == ("cats", "dogs", "owls") and run.images.image_shape == (3, 28, 28)
    click(at, "Play")
    assert runs(at)["A"].done


@pytest.mark.parametrize("name,data,message", bad_zips(), ids=[z[0] for z in bad_zips()])
def test_every_bad_zip_gets_its_sentence_and_the_runs_survive(name, data, message):
    at = click(open_lab(SMALL), "Play")
    trained = runs(at)["A"]
    refused(choose_zip(at), name, data, message, name)
    at.selectbox(key="img:w:data.name").set_value("mnist").run()
    assert runs(at)["A"] is trained and trained.done  # the finished run is still there


@pytest.mark.parametrize("name,data,message", noted_zips(), ids=[z[0] for z in noted_zips()])
def test_zips_with_skipped_entries_train_and_say_what_was_skipped(name, data, message):
    at = upload(choose_zip(open_lab(SMALL)), name, data)
    assert message in texts(at.warning) and runs(at)


def test_a_torchvision_set_offline_gets_a_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv(tvsets.DATA_DIR_ENV, str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.datasets.utils.urlopen", offline, raising=False)
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    at = open_lab(SMALL)
    at.selectbox(key="img:w:data.name").set_value("tv:mnist").run()
    assert "one-time download" in texts(at.info)
    click(at, "Download MNIST")
    assert "MNIST" in texts(at.error) and not at.exception
