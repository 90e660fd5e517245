"""Evenly spaced time series: Seattle's hourly temperatures, a generated electricity load, a user's CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from core.data.tabular import CsvError, counted
from core.errors import shorten
from core.registry import Registry

DAY = np.timedelta64(1, "D")
MAX_POINTS = 100_000  # a longer series makes every evaluation slow on a shared CPU
MIN_POINTS = 10  # fewer cannot hold a window, a target and a test period
MAX_ABS_VALUE = 1e30  # far beyond any measurement; keeps the float64 statistics finite
TIME_HINT = "such as 2024-03-01 14:15"
STEP_UNITS = (  # (nanoseconds, unit) in which a time step is described, the largest that divides it
    (86_400 * 10**9, "day"), (3_600 * 10**9, "h"), (60 * 10**9, "min"), (10**9, "s"), (10**6, "ms"),
    (10**3, "µs"), (1, "ns"),
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Series:
    """One quantity measured at evenly spaced times."""

    name: str  # shown on charts: "Electricity consumption"
    unit: str  # "kW", "°F" or "" for a user's column
    times: np.ndarray  # (N,) datetime64[ns], strictly increasing, evenly spaced
    values: np.ndarray  # (N,) float64, finite
    note: str = ""  # one sentence on where it comes from

    def __len__(self) -> int:
        return len(self.values)

    @property
    def step(self) -> np.timedelta64:
        return self.times[1] - self.times[0]

    @property
    def steps_per_day(self) -> float:
        return float(DAY / self.step)

    @property
    def season(self) -> int | None:
        """Steps in one day (96 at 15 min, 24 hourly) when the step divides a day and the series holds
        at least two days, else None: there is no 'same time the day before' to forecast from."""
        steps = self.steps_per_day
        return int(steps) if 2 <= steps <= len(self) / 2 and steps.is_integer() else None

    @property
    def season_note(self) -> str:
        """One sentence when the series has no daily season, else ''."""
        steps = self.steps_per_day
        if self.season is not None:
            return ""
        if steps < 2:
            why = f"one step is {self.step_text}"
        elif steps > len(self) / 2:
            why = f"a day is {steps:,.0f} steps, more than half of the series' {len(self):,}"
        else:
            why = f"a day is not a whole number of {self.step_text} steps"
        return (
            f"No daily season: {why}, so the naive forecast repeats the stretch before, not the day before."
        )

    @property
    def step_text(self) -> str:
        return describe_step(self.step)


def describe_step(step: np.timedelta64) -> str:
    """'15 min', '1 h', '2 days', '500 ms' for a positive time step (datetime64[ns] resolution)."""
    ns = int(step / np.timedelta64(1, "ns"))
    for size, unit in STEP_UNITS:
        if ns % size == 0:
            n = ns // size
            return f"{n:,} {unit}" + ("s" if unit == "day" and n != 1 else "")
    return f"{ns:,} ns"  # unreachable: every whole number of nanoseconds divides by 1


# ---- built-in series --------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesConfig:
    """Which series, and for the generated one its length and seed."""

    name: str = "electricity"  # electricity (generated, 15 min), seattle (hourly, 2010) or csv
    days: int = 70  # electricity only: days of 96 readings
    seed: int = 0  # electricity only: noise and the holidays' dates


def seattle_temperatures(cfg: SeriesConfig | None = None) -> Series:
    """Seattle's hourly temperatures of 2010 (NOAA), shipped by vega_datasets; offline."""
    from vega_datasets import local_data

    frame = local_data("seattle-temps")  # 8,759 rows: the hour that summer time skips is missing
    hourly = frame.set_index("date")["temp"].asfreq("h").interpolate()
    return Series(
        "Seattle temperature",
        "°F",
        hourly.index.to_numpy(dtype="datetime64[ns]"),
        hourly.to_numpy(dtype=np.float64),
        "Hourly temperatures of Seattle in 2010 (NOAA, shipped with vega_datasets). They are so smooth "
        "that every hour lies within 0.7 °F of the same hour the day before, like long-term normals "
        "rather than one year's weather, so 'the same time the day before' is very hard to beat. The "
        "one hour that summer time skips is filled in between its neighbours.",
    )


def electricity(cfg: SeriesConfig | None = None) -> Series:
    """A generated office building's load every 15 min: daily and weekly cycles, trend, holidays, noise."""
    cfg = cfg or SeriesConfig()
    if not 14 <= cfg.days <= 365:
        raise CsvError(f"The generated series needs 14 to 365 days, not {cfg.days}.")
    rng = np.random.default_rng(cfg.seed)
    per_day = 96
    n = cfg.days * per_day
    start = np.datetime64("2024-01-08T00:00", "ns")  # a Monday
    times = start + np.arange(n) * np.timedelta64(15, "m")
    hour = (np.arange(n) % per_day) / 4.0  # 0.0 .. 23.75
    day = np.arange(n) // per_day
    weekday = day % 7  # 0 = Monday
    holidays = rng.choice(
        np.flatnonzero(np.arange(cfg.days) % 7 < 5), size=max(1, cfg.days // 25), replace=False
    )
    rest = (weekday >= 5) | np.isin(day, holidays)  # weekends and holidays: the building sleeps in

    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((hour - centre) / width) ** 2)

    workday = 0.35 + 0.55 * bump(9.0, 1.5) + 0.35 * bump(13.0, 2.5) + 0.6 * bump(18.5, 1.8)
    restday = 0.32 + 0.25 * bump(12.0, 3.0) + 0.3 * bump(19.5, 2.0)
    profile = np.where(rest, restday, workday)
    trend = 1.0 + 0.15 * np.arange(n) / n  # the building slowly uses more
    weather = 1.0 + 0.05 * np.sin(2 * np.pi * np.arange(n) / (per_day * 17.0))  # a cold spell now and then
    drift = np.zeros(n)  # slow AR(1) wander: what the last hour says that the clock does not
    shocks = rng.normal(0.0, 0.012, n)
    for i in range(1, n):
        drift[i] = 0.97 * drift[i - 1] + shocks[i]
    load = 400.0 * (profile * trend * weather + drift) + rng.normal(0.0, 6.0, n)
    return Series(
        "Electricity consumption",
        "kW",
        times,
        load,
        f"A generated office building, every 15 minutes for {cfg.days} days: busy weekdays, quiet "
        f"weekends and {counted(len(holidays), 'holiday')}, a slow upward trend and noise.",
    )


@dataclass(frozen=True)
class SeriesSpec:
    """A built-in series: its label, a one-line description and its loader."""

    label: str
    description: str
    load: Callable[[SeriesConfig], Series]


def _needs_upload(cfg: SeriesConfig) -> Series:
    raise CsvError("Upload a CSV file and pick its timestamp and value columns first.")


SERIES: Registry[SeriesSpec] = Registry("series")
SERIES.add(
    "electricity",
    SeriesSpec(
        "Electricity (generated, 15 min)",
        "An office building's load: daily and weekly cycles, holidays, a trend and noise.",
        electricity,
    ),
)
SERIES.add(
    "seattle",
    SeriesSpec(
        "Seattle temperature (hourly, 2010)",
        "8,760 hourly temperatures measured in Seattle in 2010.",
        seattle_temperatures,
    ),
)
SERIES.add(
    "csv",
    SeriesSpec(
        "Your CSV file", "A timestamp column and a value column from a file you upload.", _needs_upload
    ),
)


# ---- the user's CSV: frame -> series -------------------------------------------------------


def _parse_times(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC datetime64, NaT where a cell cannot be read; numbers are not times."""
    if is_numeric_dtype(values):
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, errors="coerce", utc=True)
    if parsed.isna().sum() > text.isna().sum():  # one format inferred from the first cell did not fit all
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def timestamp_columns(frame: pd.DataFrame, name: str = "") -> list[str]:
    """The columns whose first filled cell reads as a date and time, or CsvError when none does."""
    found = []
    for column in frame.columns:
        filled = frame[column].dropna()
        if len(filled) and _parse_times(filled.iloc[:1]).notna().all():
            found.append(column)
    if not found:
        the = f"the file '{shorten(name)}'" if name else "the file"
        raise CsvError(
            f"No column of {the} holds dates and times ({TIME_HINT}); a series needs a timestamp column."
        )
    return found


def series_from_frame(frame: pd.DataFrame, time_column: str, value_column: str, name: str = "") -> Series:
    """An evenly spaced series from two columns of an uploaded table, or CsvError with one sentence.

    Refused: unreadable or missing timestamps, timestamps out of order, repeated or unevenly
    spaced, and a value column with text, missing, infinite or huge values. Rows are counted
    from 1 after the header, as a spreadsheet shows them less one.
    """
    if len(frame) < MIN_POINTS:
        raise CsvError(f"The table has {counted(len(frame), 'row')}; a series needs at least {MIN_POINTS}.")
    if len(frame) > MAX_POINTS:
        raise CsvError(f"The table has {len(frame):,} rows; the limit for a series is {MAX_POINTS:,}.")
    if time_column == value_column:
        raise CsvError("Pick a value column other than the timestamp column.")
    times = _checked_times(frame[time_column], time_column)
    values = _checked_values(frame[value_column], value_column)
    source = f"'{shorten(name)}'" if name else "your file"
    return Series(shorten(value_column), "", times, values, f"Column '{shorten(value_column)}' of {source}.")


def _checked_times(column: pd.Series, label: str) -> np.ndarray:
    raw = column.reset_index(drop=True)
    parsed = _parse_times(raw)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        row = int(bad[0])
        cell = raw.iloc[row]
        what = "is empty" if pd.isna(cell) else f"('{shorten(cell)}') cannot be read as a date and time"
        raise CsvError(
            f"Row {row + 1} of the timestamp column '{shorten(label)}' {what}; use dates {TIME_HINT}."
        )
    times = parsed.to_numpy(dtype="datetime64[ns]")
    steps = np.diff(times)
    zero = np.timedelta64(0, "ns")
    if (steps < zero).any():
        i = int(np.flatnonzero(steps < zero)[0])
        raise CsvError(
            f"The timestamps are not in time order: row {i + 2} ({_when(times[i + 1])}) comes after row "
            f"{i + 1} ({_when(times[i])}); sort the file by time."
        )
    if (steps == zero).any():
        i = int(np.flatnonzero(steps == zero)[0])
        raise CsvError(
            f"The timestamp {_when(times[i])} appears more than once (rows {i + 1} and {i + 2}); a series "
            "needs one value per time."
        )
    kinds, counts = np.unique(steps, return_counts=True)
    usual = kinds[counts.argmax()]
    if len(kinds) > 1:
        i = int(np.flatnonzero(steps != usual)[0])
        raise CsvError(
            f"The timestamps are not evenly spaced: most are {describe_step(usual)} apart, but rows "
            f"{i + 1} and {i + 2} are {describe_step(steps[i])} apart; fill the gap or resample the file "
            "to one step."
        )
    return times


def _checked_values(column: pd.Series, label: str) -> np.ndarray:
    raw = column.reset_index(drop=True)
    numbers = raw if is_numeric_dtype(raw) else pd.to_numeric(raw, errors="coerce")
    text = np.flatnonzero((numbers.isna() & raw.notna()).to_numpy())
    if len(text):
        row = int(text[0])
        raise CsvError(
            f"Column '{shorten(label)}' holds text ('{shorten(raw.iloc[row])}' in row {row + 1}), so it "
            "cannot be forecast; pick a column of numbers."
        )
    values = numbers.to_numpy(dtype=np.float64)
    missing = np.flatnonzero(np.isnan(values))
    if len(missing):
        raise CsvError(
            f"Column '{shorten(label)}' has {counted(len(missing), 'missing value')} (empty, NA or NaN "
            f"cells), the first in row {missing[0] + 1}; fill them in, since a series needs a value at every "
            "time."
        )
    huge = np.flatnonzero(~(np.abs(values) <= MAX_ABS_VALUE))
    if len(huge):
        raise CsvError(
            f"Column '{shorten(label)}' holds a value that is infinite or beyond ±{MAX_ABS_VALUE:.0e} "
            f"({values[huge[0]]:g} in row {huge[0] + 1}); fix or remove it."
        )
    return values


def _when(time: np.datetime64) -> str:
    return str(pd.Timestamp(time)).removesuffix(":00").removesuffix(" 00:00")
