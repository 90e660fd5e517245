"""Hostile uploads and links through the real pages (AppTest): what each element shows, the one sentence
a refusal gets, that a refusal is not paid for twice, and that the session's settings and runs survive.

Markdown-bearing elements (markdown, subheader, caption, error, warning, info) must hold every hostile
name only in its escaped form; the CSV download must start no cell with a formula character.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pandas as pd
import streamlit
import torch
from streamlit.testing.v1 import AppTest

from core import checkpoint
from core.cnn import CNNConfig, build_cnn
from core.errors import escape_markdown, shorten
from tests.apptest import click, open_page
from tests.apptest import runs as lab_runs
from tests.badfiles import MIB, forged_directory_zip, lying_entry_zip
from tests.test_hostile_checkpoints import recompressed, saved
from tests.test_predict import digit_photo

EVIL = "http://evil.example/x.png"
CLASSES = (f"![x]({EVIL})", f"[free marks]({EVIL})", "<img src=x onerror=alert(1)>", '=HYPERLINK("x")')
DOGS = "![dogs](evil.example)"  # a class folder's name (a folder name holds no '/')
FILES = ('=cmd|" /C calc"!A0.jpg', f"+[a]({EVIL}).jpg")
MARKDOWN_ELEMENTS = ("markdown", "subheader", "caption", "error", "warning", "info")


def markdown_texts(at: AppTest) -> list[str]:
    return [str(e.value) for kind in MARKDOWN_ELEMENTS for e in at.get(kind)]


ACTIVE = re.compile(r"[\\`*_\[\]<>#|~$&@]|:\S")  # a name with one of these would open a construct


def assert_never_raw(at: AppTest, hostile: tuple[str, ...]) -> None:
    """No Markdown element holds a hostile name as it is (only escaped), nor an unescaped link or tag."""
    for text in markdown_texts(at):
        bare = re.sub(r"\\.", "", text)
        assert "](" not in bare and "<img" not in bare, text
        for name in hostile:
            assert not ACTIVE.search(name) or shorten(name) not in text, (name, text)


def hostile_checkpoint() -> bytes:
    cfg = CNNConfig(blocks=1, channels=4, head=0)
    model = build_cnn(cfg, (3, 16, 16), len(CLASSES), seed=0)
    return checkpoint.to_bytes(model, cfg, (3, 16, 16), CLASSES, f"**pets** [site]({EVIL})", 0.5)


def upload(at: AppTest, key: str, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key=key).set_value([(name, data, "application/octet-stream") for name, data in files])
    at.run()
    assert not at.exception, at.exception
    return at


def test_predict_shows_a_shared_checkpoints_names_as_text_and_its_csv_holds_no_formula(monkeypatch):
    downloads = []
    original = streamlit.download_button

    def recording(label, data, *args, **kwargs):
        downloads.append(data)
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", recording)
    at = open_page("pages/predict.py")
    at.radio(key="pred:model").set_value("upload").run()
    upload(at, "pred:checkpoint", [(f"[evil]({EVIL}).pt", hostile_checkpoint())])
    upload(at, "pred:files", [(FILES[0], digit_photo(1)), (FILES[1], digit_photo(7, seed=7))])
    assert not at.error
    assert_never_raw(at, CLASSES + FILES + (f"[evil]({EVIL}).pt", f"[site]({EVIL})"))
    assert escape_markdown(shorten(CLASSES[0])) in " ".join(markdown_texts(at))  # shown, escaped
    table = at.dataframe[0].value
    assert table["file"].tolist() == list(FILES)  # the table on screen shows them as they are
    rows = list(csv.reader(io.StringIO(downloads[-1].decode())))
    assert rows[0] == ["file", "top class", "probability", "second class", "second probability"]
    assert all(not cell or cell[0] not in "=+-@\t\r" for row in rows[1:] for cell in row), rows
    assert rows[1][0] == "'" + FILES[0] and rows[2][0] == "'" + FILES[1]


def test_a_refused_checkpoint_is_read_once_and_the_page_keeps_its_settings(monkeypatch):
    calls = []
    original = checkpoint.from_bytes
    monkeypatch.setattr(checkpoint, "from_bytes", lambda *a, **k: calls.append(1) or original(*a, **k))
    inflating = recompressed(saved({"format": checkpoint.FORMAT, "w": torch.zeros(4 * MIB)}))  # 16 MiB
    at = open_page("pages/predict.py")
    at.radio(key="pred:model").set_value("upload").run()
    upload(at, "pred:files", [("digit.jpg", digit_photo(1))])
    calls.clear()  # the built-in model was read on the first run
    long_name = "x" * 500 + ".pt"
    upload(at, "pred:checkpoint", [(long_name, inflating)])
    for _ in range(2):
        (error,) = at.error
        assert error.value == (
            f"The file '{'x' * 39}…' holds compressed records, which PyTorch never writes, so it is not a "
            "checkpoint saved by this app."
        )
        at.run()
    assert len(calls) == 1  # the refusal was remembered by the file's digest
    assert at.radio(key="pred:model").value == "upload" and at.file_uploader(key="pred:files").value


def test_images_lab_offers_no_checkpoint_of_a_diverged_run_and_survives_hostile_zips():
    small = {"data.name": "shapes", "data.per_class": "20", "data.size": "16", "train.steps": "50",
             "train.eval_every": "25", "a.model.channels": "4"}  # fmt: skip
    at = click(open_page("pages/images.py", small), "Play")
    run = lab_runs(at, "img")["A"]
    assert run.done and any("checkpoint" in str(b.proto).lower() for b in at.get("download_button"))
    with torch.no_grad():  # as a run that diverged after its last evaluation leaves its weights
        run.model.output[-1].weight.fill_(float("nan"))
    at.run()
    assert not any("checkpoint" in str(b.proto).lower() for b in at.get("download_button"))
    assert any("This run diverged, so it has no checkpoint to download" in str(c.value) for c in at.caption)
    at.selectbox(key="img:w:data.name").set_value("zip").run()
    for name, data, words in [
        ("forged.zip", forged_directory_zip(100_000, classic_agrees=False), "end records that disagree"),
        ("lying.zip", lying_entry_zip(zipfile.ZIP_DEFLATED, 64 * MIB, ("cats", DOGS)), None),
    ]:
        at.file_uploader[0].set_value((name, data, "application/zip")).run()
        assert not at.exception, at.exception
        if words:
            (error,) = at.error
            assert words in error.value and lab_runs(at, "img")["A"] is run  # the run survives a refusal
    assert "Skipped 1 corrupt image: cats/liar.png." in " ".join(w.value for w in at.warning)
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert escape_markdown(DOGS) in captions  # the class's samples, captioned with its name as text
    assert_never_raw(at, (DOGS,))  # the feature maps' title and caption too


def test_optimizers_csv_labels_and_sequences_columns_are_shown_as_text():
    labels = (f"![x]({EVIL})", "[a](http://evil.example)")
    text = "weight,height,animal\n" + "".join(f"{i},{i % 7},{labels[i % 2]}\n" for i in range(40))
    at = open_page("pages/optimizers.py", {"data.name": "csv"})
    at.file_uploader[0].set_value(("pets.csv", text.encode(), "text/csv")).run()
    assert not at.exception and not at.error
    assert "classes: " in " ".join(shown_markdown(c.value) for c in at.caption)
    assert_never_raw(at, labels)

    times = [str(t) for t in pd.date_range("2024-01-01", periods=300, freq="500ms")]
    column = f"[load]({EVIL})"
    series = f"time,{column}\n" + "".join(f"{t},{i % 13}\n" for i, t in enumerate(times))
    query = {"data.name": "csv", "window.seq_len": "24", "window.horizon": "24", "train.steps": "10"}
    at = open_page("pages/sequences.py", query)
    at.file_uploader[0].set_value(("fast.csv", series.encode(), "text/csv")).run()
    assert not at.exception and not at.error
    described = " ".join(shown_markdown(c.value) for c in at.caption)
    assert "300 values every 500 ms." in described and "No daily season: a day is 172,800 steps" in described
    assert_never_raw(at, (column,))


def shown_markdown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", str(text))


def test_a_link_value_of_thousands_of_digits_is_quoted_short():
    at = open_page("pages/optimizers.py", {"racers": "9" * 4000, "data.seed": "x" * 20_000})
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all(len(w) < 200 for w in warnings), [len(w) for w in warnings]
    assert at.slider(key="opt:w:racers").value == 6
