"""Hostile text: user text is shown as written (never Markdown or HTML), short, and never a formula.

The three helpers of core.errors, the places that quote user text through them, and the Predict batch
table's CSV. Rendering is checked against CommonMark's rule that a backslash before ASCII punctuation
shows that character, and against the raw-source patterns by which Streamlit's frontend decides to load
its emoji plugin; the page tests (test_hostile_pages.py) check what reaches each element.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest

from core.data.series import describe_step
from core.data.tabular import CsvError, dataset_from_frame, read_csv
from core.errors import SHOWN, escape_html, escape_markdown, shorten, spreadsheet_safe
from core.predict import predictor as predict
from ui.controls import Control, parse_link

HOSTILE = [
    "![x](http://evil.example/x.png)",  # every viewer's browser would fetch it
    "[free marks](http://evil.example)",  # a live link
    "<img src=http://evil.example/x.png> <b>bold</b> &amp;",
    "**loud** _slanted_ `code` ~~gone~~ $x^2$ | a | b |",
    ":red[alarm] :material/warning: :smile: :+1: http://evil.example www.evil.example me@evil.example",
    "# heading",
    "- a list",
    "1. a numbered list",
    "> a quote",
    "line one\nline two\r\n\tand a tab",
    "back\\slash \\[not escaped\\]",
]
ACTIVE = re.compile(r"[\\`*_\[\]<>#|~$&@]|:\S")  # characters that open a construct (':' before text)
EMOJI = re.compile(r":(?!material/|streamlit:)[\w+-][\w_+-]*:")  # Streamlit's own test for loading emoji


def shown(markdown: str) -> str:
    """What CommonMark shows for text without constructs: each backslash escape as its character."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_shows_as_written_and_opens_no_construct(text):
    escaped = escape_markdown(text)
    assert shown(escaped) == " ".join(text.split())  # the same characters, on one line
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)  # what is left once every escape is taken out
    assert not ACTIVE.search(bare), bare
    assert not EMOJI.search(escaped)  # Streamlit would not even load its emoji plugin
    assert not re.match(r"[-+=>#]|\d+[.)]", escaped)  # no list, quote or heading at the start
    assert "www." not in escaped.lower() and "http:" not in escaped


def test_plain_sentences_are_left_as_they_are():
    for sentence in (
        "Skipped 1 corrupt image: cats/broken.jpg.",
        "The file 'pets.csv' has 3 columns; the limit is 500 (see the table).",
        "It costs 5% more, about 1.5 s!",
    ):
        assert escape_markdown(sentence) == sentence


def test_shorten_keeps_one_line_of_forty_characters():
    assert shorten("a" * 100) == "a" * (SHOWN - 1) + "…" and len(shorten("b" * 10**6)) == SHOWN
    assert shorten("two\nlines\t here") == "two lines here"
    assert shorten("short") == "short"


def test_spreadsheet_cells_never_start_a_formula():
    for cell in ('=HYPERLINK("http://evil.example")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(cell) == "'" + cell
    for cell in ("cat", "3", "", "a=b", 0.5, -0.5, None):
        assert spreadsheet_safe(cell) == cell


def test_escape_html_keeps_plotly_from_reading_tags():
    assert escape_html('<a href="http://evil.example">x</a> & co') == (
        '&lt;a href="http://evil.example"&gt;x&lt;/a&gt; &amp; co'
    )


def test_the_batch_tables_csv_neutralises_file_and_class_names():
    """The Predict page downloads `table.map(spreadsheet_safe)` (ui.labs.predict.batch): its CSV text."""
    names = ['=HYPERLINK("http://evil.example","x").png', "+cmd.png", "ok.png"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    table = predict.batch_table(names, probs, ("@SUM(A1)", "-dog"))
    text = table.map(spreadsheet_safe).to_csv(index=False)
    cells = [cell for line in text.splitlines()[1:] for cell in _csv_cells(line)]
    assert not any(cell[:1] in "=+-@\t\r" and cell for cell in cells), cells
    assert "'=HYPERLINK" in text and "'+cmd.png" in text and "'@SUM(A1)" in text and "'-dog" in text


def _csv_cells(line: str) -> list[str]:
    return next(csv.reader([line]))


def test_top_k_bars_show_class_names_as_text():
    fig = predict.top_k_bars(predict.top_k(np.array([0.7, 0.3]), ("<a href='x'>a</a>", "b" * 100), 2))
    assert list(fig.data[0].y) == ["&lt;a href='x'&gt;a&lt;/a&gt;", "b" * 39 + "…"]


def test_a_link_value_of_any_length_is_quoted_in_forty_characters():
    steps = Control("train.steps", "Steps", "choice", (50, 100))
    lr = Control("optim.lr", "Learning rate", "slider", low=0.001, high=1.0)
    controls = {"train.steps": steps, "optim.lr": lr}
    defaults = {"train.steps": 50, "optim.lr": 0.1}
    _, problems = parse_link({"train.steps": "9" * 4000, "optim.lr": "x" * 100_000}, controls, defaults)
    assert len(problems) == 2 and all(len(p) < 200 for p in problems), [len(p) for p in problems]
    assert problems[0].startswith("The link set 'Steps' to " + "9" * 39 + "…; the most is 100")


def test_csv_column_and_label_text_is_quoted_short():
    column = "c" * 5000
    label = "l" * 3000
    text = f"{column},{'x' * 10},animal\n" + "".join(f"1,2,{label}\n" for _ in range(12))
    frame = read_csv(text.encode(), "n" * 500 + ".csv")
    with pytest.raises(CsvError) as err:
        dataset_from_frame(frame, "animal", 0.25, 0)
    assert len(str(err.value)) < 200 and "lllll…" in str(err.value)
    with pytest.raises(CsvError) as err:
        read_csv(b"only\n1\n", "n" * 500 + ".csv")
    assert len(str(err.value)) < 250 and "nnnnn…" in str(err.value)


@pytest.mark.parametrize(
    ("step", "text"),
    [(np.timedelta64(500, "ms"), "500 ms"), (np.timedelta64(1, "ns"), "1 ns"),
     (np.timedelta64(90, "s"), "90 s"), (np.timedelta64(36, "h"), "36 h"), (np.timedelta64(2, "D"), "2 days"),
     (np.timedelta64(1500, "us"), "1,500 µs")],
)  # fmt: skip
def test_every_step_is_described_in_its_largest_whole_unit(step, text):
    assert describe_step(step.astype("timedelta64[ns]")) == text


def test_a_frame_of_hostile_names_survives_the_csv_round_trip():
    frame = pd.DataFrame({"file": ["=1+1"], "top class": ["-x"]})
    back = pd.read_csv(io.StringIO(frame.map(spreadsheet_safe).to_csv(index=False)))
    assert back.values.tolist() == [["'=1+1", "'-x"]]
