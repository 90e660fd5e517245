"""Tables: scikit-learn's breast cancer and wine, and every way a user's CSV can be refused."""

from __future__ import annotations

import gzip
import io
import re
import zipfile

import numpy as np
import pytest
import torch

from core.config import DataConfig
from core.data import Dataset, tabular
from core.data.tabular import CsvError, dataset_from_frame, read_csv


def csv_bytes(rows: list[str], sep: str = ",", encoding: str = "utf-8") -> bytes:
    """Join rows of cells (given with ',' between them) into file bytes."""
    return "".join(row.replace(",", sep) + "\n" for row in rows).encode(encoding)


def animals(n: int = 40) -> list[str]:
    """A header and n rows: weight is about 1 for cats and 5 for dogs, height is noise."""
    rng = np.random.default_rng(0)
    rows = ["weight,height,animal"]
    for i in range(n):
        kind = "dog" if i % 2 else "cat"
        rows.append(f"{(5 if i % 2 else 1) + rng.uniform(-0.5, 0.5):.3f},{rng.uniform(10, 20):.3f},{kind}")
    return rows


def assert_one_sentence(error: CsvError, *fragments: str) -> None:
    """The message is a single readable sentence that contains each fragment."""
    message = str(error)
    assert message[0].isupper() and message.endswith("."), message
    assert "\n" not in message and "Traceback" not in message and "Error" not in message, message
    assert not re.search(r"\.\s+[A-Z]", message), message  # no second sentence
    for fragment in fragments:
        assert fragment in message, message


# ---- scikit-learn tables ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, n_rows, n_features, classes",
    [
        ("breast_cancer", 569, 30, ("malignant", "benign")),
        ("wine", 178, 13, ("class_0", "class_1", "class_2")),
    ],
)
def test_sklearn_tables_load_split_and_are_seeded(name, n_rows, n_features, classes):
    label, description, load = tabular.TABLES[name]
    assert label and description.endswith(".")
    cfg = DataConfig(name=name, test_fraction=0.25, seed=3)
    data = load(cfg)
    assert data.name == name and data.class_names == classes
    assert data.n_features == n_features and data.n_classes == len(classes)
    assert len(data.x_train) + len(data.x_test) == n_rows and len(data.x_test) == round(n_rows * 0.25)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.x_train.mean(dim=0).abs().max().item() < 1e-4  # standardised by the train split
    assert torch.equal(data.x_train, load(cfg).x_train)
    assert not torch.equal(data.x_train, load(DataConfig(name=name, test_fraction=0.25, seed=4)).x_train)


# ---- good CSV files ------------------------------------------------------------------------


def test_a_good_csv_round_trips_with_text_labels():
    df = read_csv(csv_bytes(animals(40)), "pets.csv")
    assert list(df.columns) == ["weight", "height", "animal"]
    data = dataset_from_frame(df, "animal", test_fraction=0.25, seed=1, name="pets")
    assert isinstance(data, Dataset) and data.name == "pets"
    assert data.class_names == ("cat", "dog") and data.n_features == 2
    assert len(data.x_train) == 30 and len(data.x_test) == 10
    heavy = data.x_train[:, 0] > 0  # dogs weigh about 5, cats about 1
    assert torch.equal(heavy, data.y_train == 1)
    again = dataset_from_frame(df, "animal", test_fraction=0.25, seed=1)
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_test, again.y_test)


def test_numeric_labels_sort_as_numbers():
    rows = ["x,grade"] + [f"{i},{[10, 2, 3][i % 3]}" for i in range(30)]
    data = dataset_from_frame(read_csv(csv_bytes(rows)), "grade", 0.3, 0)
    assert data.class_names == ("2", "3", "10")


@pytest.mark.parametrize(
    "sep, encoding",
    [(";", "utf-8"), ("\t", "utf-8"), ("\t", "utf-16"), (",", "cp1252"), (",", "utf-8-sig")],
)
def test_semicolons_tabs_and_common_encodings_work(sep, encoding):
    rows = [row.replace("animal", "animal é") for row in animals(20)]
    if sep == ";":  # Excel in much of Europe: ';' between cells, ',' as the decimal mark
        rows = [rows[0]] + [row.replace(".", "#") for row in rows[1:]]
        raw = csv_bytes(rows, sep, encoding).replace(b"#", b",")
    else:
        raw = csv_bytes(rows, sep, encoding)
    df = read_csv(raw)
    assert list(df.columns) == ["weight", "height", "animal é"]
    assert df["weight"].dtype == np.float64
    data = dataset_from_frame(df, "animal é", 0.25, 0)
    assert data.class_names == ("cat", "dog") and data.n_features == 2


def test_trailing_separators_do_not_add_a_column():
    df = read_csv(csv_bytes([row + "," for row in animals(12)]))
    assert list(df.columns) == ["weight", "height", "animal"]


# ---- files that are not usable tables --------------------------------------------------------


def zip_bytes() -> bytes:
    """A real zip archive holding a CSV, as an .xlsx is."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("table.csv", "a,b\n1,2\n")
    return buffer.getvalue()


BAD_FILES = {
    "random bytes": (np.random.default_rng(0).bytes(2000), ["is not a text file"]),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), ["is a PNG image, not a CSV file"]),
    "zip": (zip_bytes(), ["is an Excel workbook or a zip archive, not a CSV file"]),
    "gzip": (gzip.compress(b"a,b\n1,2\n"), ["is a gzip archive"]),
    "nul inside text": (b"a,b\n1,\x002\n", ["is not a text file"]),
    "control characters": (b"a,b\n\x01\x02,\x1b[0m\n", ["is not a text file"]),
    "empty": (b"", ["is empty"]),
    "blank lines": (b"\n  \n\n", ["is empty"]),
    "header only": (b"weight,animal\n", ["has a header but no data rows"]),
    "one column": (b"weight\n1\n2\n", ["has a single column ('weight')"]),
    "no header": (b"5.1,3.5,1\n4.9,3.0,0\n", ["has no header row", "'5.1'"]),
    "long early row": (
        b"a,b\n1,2\n3,4,5\n",
        ["Line 3 of the file has 3 values but the header has 2 columns"],
    ),
    "long late row": (
        csv_bytes(["a,b"] + ["1,2"] * 100 + ["3,4,5"]),
        ["Line 102 of the file has 3 values but the header has 2 columns"],
    ),
    "open quote": (b'a,b\n"1,2\n3,4\n', ["could not be read as a table"]),
    "too many columns": (
        csv_bytes([",".join(f"c{i}" for i in range(501)), ",".join(["1"] * 501)]),
        ["has 501 columns; the limit is 500"],
    ),
    "unnamed column": (b"a,,label\n1,2,x\n", ["Column 2 of the file has no name"]),
    "repeated name": (b"a,a,label\n1,2,x\n", ["more than one column named 'a'"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unusable_files_get_one_sentence(case):
    data, fragments = BAD_FILES[case]
    with pytest.raises(CsvError) as caught:
        read_csv(data)
    assert_one_sentence(caught.value, *fragments)


def test_the_file_name_is_named():
    with pytest.raises(CsvError) as caught:
        read_csv(b"", "pets.csv")
    assert_one_sentence(caught.value, "The file 'pets.csv' is empty.")


def test_too_many_bytes_and_rows_are_refused(monkeypatch):
    monkeypatch.setattr(tabular, "MAX_BYTES", 100)
    with pytest.raises(CsvError) as caught:
        read_csv(csv_bytes(animals(40)))
    assert_one_sentence(caught.value, "MB; the limit is")
    monkeypatch.setattr(tabular, "MAX_BYTES", 10_000)
    monkeypatch.setattr(tabular, "MAX_ROWS", 20)
    with pytest.raises(CsvError) as caught:
        read_csv(csv_bytes(animals(40)))
    assert_one_sentence(caught.value, "more than 20 rows")


# ---- tables whose label or features cannot train ---------------------------------------------


def with_cell(row: int, column: int, value: str, rows: list[str] | None = None) -> list[str]:
    """animals() with one cell replaced; row 1 is the first data row."""
    rows = list(rows or animals(40))
    cells = rows[row].split(",")
    cells[column] = value
    rows[row] = ",".join(cells)
    return rows


BAD_TABLES = {
    "text feature": (
        ["weight,colour,animal"]
        + [f"{i},{'red' if i % 2 else 'blue'},{'cat' if i % 2 else 'dog'}" for i in range(20)],
        "animal",
        [
            "Column 'colour' holds text ('blue'), so it cannot be a feature;",
            "drop it or choose it as the label.",
        ],
    ),
    "a '?' among numbers": (with_cell(7, 1, "?"), "animal", ["Column 'height' holds text ('?')"]),
    "missing feature": (
        with_cell(9, 0, "", with_cell(3, 0, "NA")),
        "animal",
        ["Column 'weight' has 2 missing values (empty, NA or NaN cells); fill them or remove those rows."],
    ),
    "gaps in two columns": (
        with_cell(9, 1, "", with_cell(3, 0, "")),
        "animal",
        ["Column 'weight' has 1 missing value", ", as does 1 other column;"],
    ),
    "short row": (
        [*animals(40)[:5], "2.5", *animals(40)[6:]],
        "animal",
        ["The label column 'animal' has 1 missing value"],
    ),
    "missing label": (with_cell(4, 2, ""), "animal", ["The label column 'animal' has 1 missing value"]),
    "infinite feature": (
        with_cell(5, 0, "inf"),
        "animal",
        ["Column 'weight' holds 1 value that is infinite"],
    ),
    "huge feature": (with_cell(5, 1, "1e300"), "animal", ["Column 'height'", "such as 1e+300"]),
    "single class": (
        [row.replace("dog", "cat") for row in animals(40)],
        "animal",
        ["The label column 'animal' holds a single class ('cat'); a classifier needs at least 2."],
    ),
    "hundreds of classes": (
        ["price,animal"] + [f"{100 + i * 0.5},{'cat' if i % 2 else 'dog'}" for i in range(312)],
        "price",
        ["The label column 'price' has 312 different values; a label needs 2 to 50 classes"],
    ),
    "too few rows": (animals(6), "animal", ["The table has 6 rows; training and testing need at least 10."]),
    "a class of one row": (
        with_cell(3, 2, "bird"),
        "animal",
        ["Class 'bird' of the label 'animal' has only 1 row"],
    ),
    "label column missing": (
        animals(40),
        "species",
        ["There is no column 'species'; the columns are 'weight', 'height', 'animal'."],
    ),
}


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_tables_that_cannot_train_get_one_sentence(case):
    rows, label, fragments = BAD_TABLES[case]
    df = read_csv(csv_bytes(rows))
    with pytest.raises(CsvError) as caught:
        dataset_from_frame(df, label, test_fraction=0.3, seed=0)
    assert_one_sentence(caught.value, *fragments)


def test_mangled_files_give_a_table_or_one_sentence():
    """Random edits of a good file never escape as anything but a frame, a Dataset or CsvError."""
    rng = np.random.default_rng(1)
    good = "\n".join(animals(30))
    junk = list(',;\t"\n\r x.-e9é')
    for _ in range(150):
        text = list(good)
        for _ in range(int(rng.integers(1, 8))):
            text.insert(int(rng.integers(len(text))), junk[int(rng.integers(len(junk)))])
        try:
            df = read_csv("".join(text).encode())
            label = df.columns[-1]
            dataset_from_frame(df, label, test_fraction=0.3, seed=0)
        except CsvError as error:
            assert_one_sentence(error)


@pytest.mark.parametrize(
    "content",
    [b"\n" * 60 + b"a,b\n1,0\n2,1\n", b"\r\n" * 60 + b"a,b\r\n1,0\r\n", b"a,b\r1,0\r2,1\r"],
    ids=["60 blank lines first", "60 blank CRLF lines first", "CR-only line ends (Excel for Mac)"],
)
def test_blank_lead_lines_and_old_mac_line_ends_are_read(content):
    frame = read_csv(content)
    assert list(frame.columns) == ["a", "b"] and len(frame) >= 1
