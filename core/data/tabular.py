"""Tables: scikit-learn's breast cancer and wine sets, and a user's own CSV with a chosen label column."""

from __future__ import annotations

import csv
import io
import itertools
import re

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from core.data import Dataset, split_and_standardise
from core.errors import shorten

MAX_BYTES = 20_000_000  # larger uploads are refused before decoding
MAX_ROWS = 200_000  # data rows; more would make every epoch slow on a shared CPU
MAX_COLUMNS = 500  # label column included
MAX_CLASSES = 50  # more distinct label values means a measurement, not a category
MIN_ROWS = 10  # fewer cannot give a training and a test split worth reading
MIN_CLASS_ROWS = 2  # each class needs a row that can land in training and one that can land in test
MAX_ABS_VALUE = 1e30  # far beyond any measurement; keeps the float64 sums of standardisation finite
SEPARATORS = (",", ";", "\t")  # tried in this order; ties go to the earlier one
SNIFF_CHARS = 64_000  # the start of the text (to the end of its line) that decides the separator
SNIFF_ROWS = 50  # rows of that start compared for a consistent width
SIGNATURES = {  # leading bytes of files students upload by mistake -> what they are
    b"PK\x03\x04": "an Excel workbook or a zip archive",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # characters no text table holds
PARSER_WIDTH = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")  # pandas' C parser message


class CsvError(ValueError):
    """A table that cannot be used; its message is one sentence shown to the user as it is."""


# ---- scikit-learn tables ------------------------------------------------------------------


def load_breast_cancer(cfg) -> Dataset:
    """Load the Wisconsin breast cancer table (cfg.n_samples and cfg.noise do not apply)."""
    from sklearn.datasets import load_breast_cancer as load

    return _from_bunch("breast_cancer", load(), cfg)


def load_wine(cfg) -> Dataset:
    """Load the wine recognition table (cfg.n_samples and cfg.noise do not apply)."""
    from sklearn.datasets import load_wine as load

    return _from_bunch("wine", load(), cfg)


def _from_bunch(name: str, bunch, cfg) -> Dataset:
    """Split a scikit-learn bunch by cfg.test_fraction and cfg.seed, class names from the bunch."""
    names = tuple(str(c) for c in bunch.target_names)
    x = bunch.data.astype(np.float64)
    return split_and_standardise(name, x, bunch.target, names, cfg.test_fraction, cfg.seed)


TABLES = {  # name -> (label, one-sentence description, loader)
    "breast_cancer": (
        "Breast cancer (30 features)",
        "569 breast tumour samples from Wisconsin, malignant or benign, shipped with scikit-learn.",
        load_breast_cancer,
    ),
    "wine": (
        "Wine (13 features)",
        "178 Italian wines from three grape cultivars, shipped with scikit-learn.",
        load_wine,
    ),
}


# ---- the user's CSV: bytes -> frame ---------------------------------------------------------


def read_csv(data: bytes, name: str = "") -> pd.DataFrame:
    """Parse untrusted bytes as a CSV table with a header row, or raise CsvError.

    Separators ',', ';' and tab are recognised; with ';' or tab, '1,5' is read as 1.5.
    Columns without a name or with a repeated name are refused, except wholly empty
    unnamed columns (trailing separators), which are dropped.
    """
    the = f"the file '{shorten(name)}'" if name else "the file"
    if len(data) > MAX_BYTES:
        raise CsvError(f"{_cap(the)} is {len(data) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:g} MB.")
    text = _decode(data, the)
    if not text.strip():
        raise CsvError(f"{_cap(the)} is empty.")
    sep, rows = _sniff(text, the)
    header = [cell.strip() for cell in rows[0][1]]
    _check_header(header, rows, the)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=0,
            index_col=False,
            skipinitialspace=True,
            nrows=MAX_ROWS + 1,
            low_memory=False,
        )
    except pd.errors.ParserError as e:
        match = PARSER_WIDTH.search(str(e))
        if match:
            width, line, seen = match.groups()
            raise CsvError(
                f"Line {line} of {the} has {seen} values but the header has {width} columns."
            ) from None
        raise CsvError(
            f"{_cap(the)} could not be read as a table; check its quotes and separators."
        ) from None
    if df.shape[1] != len(header):
        raise CsvError(f"{_cap(the)} could not be read as a table; check its quotes and separators.")
    df.columns = header
    return _tidy(df, sep, the)


def _decode(data: bytes, the: str) -> str:
    """Bytes -> text (UTF-8, UTF-16 with a byte-order mark, or Windows-1252), refusing binary files."""
    for signature, kind in SIGNATURES.items():
        if data.startswith(signature):
            raise CsvError(f"{_cap(the)} is {kind}, not a CSV file; save the table as CSV first.")
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise CsvError(f"{_cap(the)} is not a text file, so it cannot be a CSV table.") from None
    if CONTROL.search(text):
        raise CsvError(f"{_cap(the)} is not a text file, so it cannot be a CSV table.")
    return text


def _sniff(text: str, the: str) -> tuple[str, list[tuple[int, list[str]]]]:
    """Pick the separator giving 2+ columns, rows that agree with the header, the most columns, in order.

    Returns the separator and the first rows as (line number, cells) pairs.
    """
    end = text.find("\n", SNIFF_CHARS)
    sample = text if end < 0 else text[: end + 1]  # whole lines, however long the header
    best = None
    for sep in SEPARATORS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=sep, skipinitialspace=True)
        try:  # blank lines are skipped before counting, and "\r" alone ends a line (Excel for Mac)
            rows = list(itertools.islice(((reader.line_num, row) for row in reader if row), SNIFF_ROWS))
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0][1])
        score = (width >= 2, all(len(row) == width for _, row in rows), width)
        if best is None or score > best[0]:
            best = (score, sep, rows)
    if best is None:
        raise CsvError(f"{_cap(the)} could not be read as a table; check its quotes and separators.")
    return best[1], best[2]


def _check_header(header: list[str], rows: list[tuple[int, list[str]]], the: str) -> None:
    """Refuse a table too narrow or too wide, a header of numbers, or early rows longer than it."""
    if len(header) < 2:
        raise CsvError(
            f"{_cap(the)} has a single column ('{shorten(header[0])}'); a table needs feature columns and "
            "a label column, separated by commas, semicolons or tabs."
        )
    if len(header) > MAX_COLUMNS:
        raise CsvError(f"{_cap(the)} has {len(header)} columns; the limit is {MAX_COLUMNS}.")
    if all(_is_number(cell) for cell in header):
        shown = ", ".join(f"'{shorten(cell)}'" for cell in header[:3]) + (", …" if len(header) > 3 else "")
        raise CsvError(
            f"{_cap(the)} has no header row: its first line holds numbers ({shown}); add a first line "
            "with a name for each column."
        )
    for line, row in rows[1:]:
        if len(row) > len(header):
            raise CsvError(
                f"Line {line} of {the} has {len(row)} values but the header has {len(header)} columns."
            )


def _tidy(df: pd.DataFrame, sep: str, the: str) -> pd.DataFrame:
    """Drop wholly empty unnamed columns, refuse other unnamed or repeated ones and bad row counts."""
    empty = [i for i, column in enumerate(df.columns) if column == "" and df.iloc[:, i].isna().all()]
    df = df.drop(columns=df.columns[empty]) if empty else df
    unnamed = [i + 1 for i, column in enumerate(df.columns) if column == ""]
    if unnamed:
        raise CsvError(
            f"Column {unnamed[0]} of {the} has no name; give every column a name in the first line."
        )
    repeated = df.columns[df.columns.duplicated()]
    if len(repeated):
        raise CsvError(
            f"{_cap(the)} has more than one column named '{shorten(repeated[0])}'; give each its own name."
        )
    if df.shape[1] < 2:
        raise CsvError(
            f"{_cap(the)} has fewer than 2 named columns; a table needs feature columns and a label column."
        )
    if len(df) == 0:
        raise CsvError(f"{_cap(the)} has a header but no data rows.")
    if len(df) > MAX_ROWS:
        raise CsvError(f"{_cap(the)} has more than {MAX_ROWS:,} rows; use a sample of at most {MAX_ROWS:,}.")
    if sep != ",":
        df = _comma_decimals(df)
    return df


def _comma_decimals(df: pd.DataFrame) -> pd.DataFrame:
    """Read text columns whose every value is a number with a decimal comma ('1,5') as numbers."""
    for column in df.columns:
        values = df[column]
        if is_numeric_dtype(values):
            continue
        numbers = pd.to_numeric(values.astype(str).str.replace(",", ".", regex=False), errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            df[column] = numbers
    return df


# ---- frame + label column -> Dataset ------------------------------------------------------


def dataset_from_frame(
    df: pd.DataFrame, label_column: str, test_fraction: float, seed: int, name: str = "csv"
) -> Dataset:
    """Classes from `label_column` (sorted values), every other column a numeric feature; split by seed."""
    if label_column not in df.columns:
        raise CsvError(f"There is no column '{shorten(label_column)}'; the columns are {_names(df.columns)}.")
    features = df.drop(columns=[label_column])
    if features.shape[1] == 0:
        raise CsvError(
            f"Besides the label '{shorten(label_column)}' the table needs at least one feature column."
        )
    if len(df) < MIN_ROWS:
        raise CsvError(f"The table has {len(df)} rows; training and testing need at least {MIN_ROWS}.")
    y, class_names = _classes(df[label_column], label_column)
    x = _features(features)
    return split_and_standardise(name, x, y, class_names, test_fraction, seed)


def _classes(label: pd.Series, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class index per row and class names, from the sorted distinct values of the label."""
    missing = int(label.isna().sum())
    if missing:
        raise CsvError(
            f"The label column '{shorten(column)}' has {counted(missing, 'missing value')} "
            "(empty, NA or NaN cells); fill them or remove those rows."
        )
    if not is_numeric_dtype(label):
        label = label.astype(str)
    codes, values = pd.factorize(label, sort=True)
    if len(values) < 2:
        raise CsvError(
            f"The label column '{shorten(column)}' holds a single class "
            f"('{shorten(_class_name(values[0]))}'); a classifier needs at least 2."
        )
    if len(values) > MAX_CLASSES:
        raise CsvError(
            f"The label column '{shorten(column)}' has {len(values)} different values; a label needs 2 to "
            f"{MAX_CLASSES} classes, so this looks like a measurement rather than a category."
        )
    counts = np.bincount(codes, minlength=len(values))
    rare = int(counts.argmin())
    if counts[rare] < MIN_CLASS_ROWS:
        raise CsvError(
            f"Class '{shorten(_class_name(values[rare]))}' of the label '{shorten(column)}' has only "
            f"{counted(int(counts[rare]), 'row')}; every class needs at least {MIN_CLASS_ROWS}."
        )
    return codes.astype(np.int64), tuple(_class_name(v) for v in values)


def _features(features: pd.DataFrame) -> np.ndarray:
    """The feature columns as float64, refusing text, missing, infinite and huge values."""
    columns = []
    for column in features.columns:
        values = features[column]
        numbers = values if is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
        text = values[numbers.isna() & values.notna()]
        if len(text):
            raise CsvError(
                f"Column '{shorten(column)}' holds text ('{shorten(text.iloc[0])}'), so it cannot be a "
                "feature; drop it or choose it as the label."
            )
        columns.append(numbers.to_numpy(dtype=np.float64))
    x = np.column_stack(columns)
    gaps = np.isnan(x).sum(axis=0)
    if gaps.any():
        first = int(np.flatnonzero(gaps)[0])
        others = int((gaps > 0).sum()) - 1
        also = f", as {'does' if others == 1 else 'do'} {counted(others, 'other column')}" if others else ""
        raise CsvError(
            f"Column '{shorten(features.columns[first])}' has {counted(int(gaps[first]), 'missing value')} "
            f"(empty, NA or NaN cells){also}; fill them or remove those rows."
        )
    huge = ~(np.abs(x) <= MAX_ABS_VALUE)
    if huge.any():
        first = int(np.flatnonzero(huge.any(axis=0))[0])
        bad = x[huge[:, first], first]
        verb = "is" if len(bad) == 1 else "are"
        raise CsvError(
            f"Column '{shorten(features.columns[first])}' holds {counted(len(bad), 'value')} that {verb} "
            f"infinite or beyond ±{MAX_ABS_VALUE:.0e} (such as {bad[0]:g}); fix or remove those rows."
        )
    return x


# ---- small text helpers ------------------------------------------------------------------------


def _cap(text: str) -> str:
    """The text with its first letter capitalised, the rest (a file name) untouched."""
    return text[0].upper() + text[1:]


def counted(n: int, noun: str) -> str:
    """'1 row', '3 rows'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _is_number(cell: str) -> bool:
    """Whether a header cell reads as a number, as in a file whose first line is data."""
    try:
        float(cell.replace(",", "."))
    except ValueError:
        return False
    return True


def _class_name(value) -> str:
    """A label value as a class name: 1.0 -> '1', 'cat' -> 'cat'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _names(columns) -> str:
    """Up to ten column names in quotes, then how many more."""
    shown = ", ".join(f"'{shorten(c)}'" for c in list(columns)[:10])
    return shown + (f" and {len(columns) - 10} more" if len(columns) > 10 else "")
