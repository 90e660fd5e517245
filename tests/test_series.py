"""Built-in series and a user's CSV series: evenly spaced, seeded, and one sentence per bad file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.data.series import (
    SERIES,
    SeriesConfig,
    electricity,
    seattle_temperatures,
    series_from_frame,
    timestamp_columns,
)
from core.data.tabular import CsvError, read_csv


def frame(text: str) -> pd.DataFrame:
    return read_csv(text.encode(), "load.csv")


def hourly(n: int = 48, start: str = "2024-01-01") -> list[str]:
    return [str(t) for t in pd.date_range(start, periods=n, freq="h")]


def table(times, values, header="time,load") -> str:
    return header + "\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True))


def test_electricity_is_seeded_evenly_spaced_and_quieter_at_weekends():
    a, b = electricity(SeriesConfig(days=28)), electricity(SeriesConfig(days=28))
    c = electricity(SeriesConfig(days=28, seed=1))
    assert len(a) == 28 * 96 and a.season == 96 and a.step_text == "15 min" and a.unit == "kW"
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values, c.values)
    assert set(np.diff(a.times)) == {np.timedelta64(15, "m")}
    weekday = pd.DatetimeIndex(a.times).day_of_week.to_numpy()
    assert a.values[weekday >= 5].mean() < 0.85 * a.values[weekday < 5].mean()
    assert np.isfinite(a.values).all() and a.values.min() > 0


def test_seattle_is_a_whole_year_hourly_with_its_missing_hour_filled():
    s = seattle_temperatures()
    assert len(s) == 8760 and s.season == 24 and s.step_text == "1 h" and s.unit == "°F"
    assert set(np.diff(s.times)) == {np.timedelta64(1, "h")} and np.isfinite(s.values).all()
    assert 15 < s.values.min() < s.values.max() < 95
    assert np.abs(s.values[24:] - s.values[:-24]).max() <= 0.7 + 1e-9  # what its note tells the student


def test_every_built_in_series_loads_from_the_registry():
    for name in ("electricity", "seattle"):
        assert len(SERIES.get(name).load(SeriesConfig(name=name))) > 1000
    with pytest.raises(CsvError, match="Upload a CSV"):
        SERIES.get("csv").load(SeriesConfig(name="csv"))


def test_a_good_csv_becomes_a_series_with_its_step():
    df = frame("when,site,load\n" + "".join(f"{t},north,{i}\n" for i, t in enumerate(hourly(48))))
    assert timestamp_columns(df) == ["when"]
    s = series_from_frame(df, "when", "load", "load.csv")
    assert len(s) == 48 and s.step_text == "1 h" and s.season == 24 and s.values[5] == 5.0


def test_timestamps_with_time_zones_and_day_first_text_read():
    utc = [f"2024-03-01T{h:02d}:00:00+01:00" for h in range(24)]
    s = series_from_frame(frame(table(utc, range(24))), "time", "load")
    assert s.step_text == "1 h" and str(s.times[0]) == "2024-02-29T23:00:00.000000000"


BAD = {
    "unsorted": (table(hourly(20)[:5] + hourly(20)[6:7] + hourly(20)[5:6] + hourly(20)[7:], range(20)),
                 "not in time order: row 7"),
    "duplicate": (table(hourly(20)[:6] + hourly(20)[5:6] + hourly(20)[7:], range(20)),
                  "appears more than once (rows 6 and 7)"),
    "gap": (table(hourly(20)[:8] + hourly(20)[9:] + ["2024-01-01 20:00:00"], range(20)),
            "not evenly spaced: most are 1 h apart, but rows 8 and 9 are 2 h apart"),
    "text": (table(hourly(20), [*range(9), "broken", *range(10)]), "holds text ('broken' in row 10)"),
    "NaN": (table(hourly(20), [*range(3), "", "NaN", *range(15)]),
            "2 missing values (empty, NA or NaN cells), the first in row 4"),
    "bad timestamp": (table([*hourly(20)[:3], "soon", *hourly(20)[4:]], range(20)),
                      "Row 4 of the timestamp column 'time' ('soon') cannot be read"),
    "too few rows": (table(hourly(5), range(5)), "a series needs at least 10"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_a_bad_csv_series_gets_one_sentence(case):
    text, words = BAD[case]
    with pytest.raises(CsvError) as err:
        series_from_frame(frame(text), "time", "load", "load.csv")
    assert words in str(err.value), str(err.value)
    assert str(err.value).count(". ") == 0  # one sentence


def test_a_table_without_timestamps_says_so():
    with pytest.raises(CsvError, match=r"No column of the file 'load\.csv' holds dates and times"):
        timestamp_columns(frame("step,load\n" + "".join(f"{i},{i}\n" for i in range(20))), "load.csv")


def test_the_same_column_twice_is_refused():
    with pytest.raises(CsvError, match="other than the timestamp"):
        series_from_frame(frame(table(hourly(20), range(20))), "time", "time")


@pytest.mark.parametrize(
    ("freq", "n", "step_text", "season"),
    [("500ms", 300, "500 ms", None), ("250ms", 2000, "250 ms", None), ("1us", 50, "1 µs", None),
     ("1500ms", 50, "1,500 ms", None), ("1min", 2880, "1 min", 1440), ("1min", 2000, "1 min", None),
     ("2D", 20, "2 days", None), ("7min", 500, "7 min", None)],
)  # fmt: skip
def test_steps_below_a_second_are_described_and_a_day_longer_than_half_the_series_is_no_season(
    freq, n, step_text, season
):
    times = [str(t) for t in pd.date_range("2024-01-01", periods=n, freq=freq)]
    s = series_from_frame(frame(table(times, range(n))), "time", "load", "fast.csv")
    assert s.step_text == step_text and s.season == season
    note = s.season_note
    assert (note == "") == (season is not None)
    if season is None:  # one sentence saying why there is no 'day before' to compare with
        assert note.startswith("No daily season: ") and note.endswith("not the day before.")
        assert note.count(". ") == 0
    if freq == "500ms":
        assert "a day is 172,800 steps, more than half of the series' 300" in note
