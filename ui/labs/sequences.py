"""The Sequences lab: settings, presets, the series (built-in or uploaded), and the charts."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from collections.abc import Callable, Mapping

import pandas as pd
import streamlit as st

from core.config import from_values, to_values
from core.data.series import SERIES, Series, SeriesConfig, series_from_frame, timestamp_columns
from core.data.tabular import CsvError, read_csv
from core.errors import ConfigError, escape_markdown, shorten
from core.sequences import export
from core.sequences import figures as figs
from core.sequences.compare import honest_run, lab_configs, results_rows, verdict
from core.sequences.config import SPLITS, SeqConfig
from core.sequences.models import CELLS
from core.sequences.presets import SEQ_BASE, SEQ_PRESETS, SeqPreset
from core.sequences.run import Forecast, SeqRun, series_run
from core.sequences.windows import Windows, make_windows
from core.snapshots import Snapshot
from ui import fields
from ui.charts import chart, present_first
from ui.controls import Control, ControlStore
from ui.export import code_pane, per_config
from ui.lab import Lab
from ui.live import before_lines, slow_panel
from ui.runs import SHARED_DATA, in_engine

LAB = "seq"
log = logging.getLogger(__name__)
BOTH = "both"
SPLIT = Control(
    "split", "Train / test split", "select", (*SPLITS, BOTH),
    {**SPLITS, BOTH: "Both, side by side"},
    help="By time: the model learns on the past and is tested on the future, as in real use. "
    "Shuffled: windows are dealt at random, so test targets sit inside training windows.",
)  # fmt: skip
CELL_TOGGLES = [
    Control(f"cells.{name}", spec.label, "toggle", help=spec.memory) for name, spec in CELLS.items()
]
DATA = [
    Control("data.name", "Series", "select", tuple(SERIES.names()), {n: s.label for n, s in SERIES.items()}),
    Control("data.days", "Days (generated)", "choice", (14, 21, 28, 42, 56, 70, 90, 120, 180)),
    Control("data.seed", "Series seed", "number", low=0, high=99999, step=1),
]
SEQ_LENS = (12, 24, 48, 72, 96, 120, 168, 192, 288)
WINDOW = [
    Control("window.seq_len", "Sequence length (input steps)", "choice", SEQ_LENS,
            help="How many past values one window holds; 96 is one day at 15 minutes, 24 a day hourly."),
    Control("window.horizon", "Horizon (steps predicted at once)", "choice", (1, 2, 4, 8, 12, 24, 48, 96),
            help="The model outputs this many future values; longer forecasts feed predictions back in."),
    Control("window.stride", "Stride (steps between training windows)", "choice", (1, 2, 4, 8, 16, 24)),
    Control("window.test_fraction", "Test share (the series' end)", "slider", low=0.1, high=0.5, step=0.05),
    SPLIT,
]  # fmt: skip
MODEL = [
    Control("model.layers", "Recurrent layers", "slider", low=1, high=3, step=1),
    Control("model.hidden", "Hidden size", "choice", (4, 8, 12, 16, 24, 32, 48, 64)),
    fields.OPTIMIZER["optim.name"],
    fields.OPTIMIZER["optim.lr"],
]
TRAINING = [
    Control("train.batch_size", "Batch size", "choice", (8, 16, 32, 64, 128, 256)),
    Control("train.steps", "Steps", "choice", (10, 20, 50, 100, 120, 150, 200, 300, 500, 1000)),
    Control("train.clip_norm", "Gradient clipping (max norm)", "choice", (0.0, 0.5, 1.0, 5.0), {0.0: "off"}),
    Control("train.seed", "Weights and batches seed", "number", low=0, high=99999, step=1,
            help="Cells with the same seed see the same batches in the same order."),
]  # fmt: skip
CONTROLS = {c.key: c for c in [*CELL_TOGGLES, *DATA, *WINDOW, *MODEL, *TRAINING]}


def preset_values(p: SeqPreset) -> dict[str, object]:
    """Store values for a preset: its config's fields that have a widget, its cells and its split."""
    values = {k: v for k, v in to_values(p.base).items() if k in CONTROLS}
    cells = {f"cells.{name}": name in p.cells for name in CELLS.names()}
    return values | cells | {"split": p.splits[0] if len(p.splits) == 1 else BOTH}


DEFAULTS = preset_values(SeqPreset("", "", "", SEQ_BASE, tuple(CELLS.names())))


PAGE = Lab(LAB, DEFAULTS, CONTROLS, SEQ_PRESETS, preset_values)


def base_config(s: ControlStore) -> SeqConfig:
    return from_values({k: v for k, v in s.values.items() if k in CONTROLS}, SEQ_BASE)


def configs(s: ControlStore) -> dict[str, SeqConfig]:
    cells = [name for name in CELLS.names() if s.values[f"cells.{name}"]]
    split = s.values["split"]
    return lab_configs(base_config(s), cells, list(SPLITS) if split == BOTH else [split])


def sidebar(s: ControlStore) -> None:
    st.markdown("**Cells, side by side**")
    for control in CELL_TOGGLES:
        s.widget(control)
    for control in MODEL + TRAINING:
        s.widget(control)


# ---- the series ------------------------------------------------------------------------------


def load_series(cfg: SeriesConfig) -> Series:
    """A built-in series, made once for every session (ui.runs.SHARED_DATA)."""
    return SHARED_DATA.get(("series", cfg), lambda: SERIES.get(cfg.name).load(cfg))


def data_box(s: ControlStore) -> tuple[Series | None, str | None, Windows | None]:
    """Series and window settings, the uploaded file, the split plot: (series, data key, windows).

    None where the series or the windows cannot be made; the reason is on screen in one sentence.
    """
    cols = st.columns(3)
    name = s.widget(DATA[0], container=cols[0])
    if name == "electricity":
        s.widget(DATA[1], container=cols[1])
        s.widget(DATA[2], container=cols[2])
    series, key = uploaded_series() if name == "csv" else (load_series(base_config(s).data), None)
    cols = st.columns(len(WINDOW))
    for col, control in zip(cols, WINDOW, strict=True):
        s.widget(control, container=col)
    if series is None:
        return None, None, None
    cfg = base_config(s)
    split = "shuffled" if s.values["split"] == "shuffled" else "time"
    try:
        windows = make_windows(series.values, dataclasses.replace(cfg.window, split=split), cfg.train.seed)
    except ConfigError as err:
        st.error(escape_markdown(err))
        return None, None, None
    chart(figs.series_split(series.times, series.values, windows.split_at, name=series.name, unit=series.unit,
                          shuffled=split == "shuffled"), key="seq-split")  # fmt: skip
    st.caption(describe_windows(series, windows, cfg))
    return series, key, windows


def describe_windows(series: Series, w: Windows, cfg: SeqConfig) -> str:
    """Where the series comes from, its step, the shapes and the normalisation (Markdown-escaped: the
    note and the unit may quote an uploaded file's name and column)."""
    unit = f" {series.unit}" if series.unit else ""
    source = (
        "the training period only" if w.split == "time" else "the whole series (a shuffled split has no past)"
    )
    return escape_markdown(
        f"{series.note} {len(series):,} values every {series.step_text}. {series.season_note} "
        f"{len(w.train_starts):,} training and {len(w.test_starts):,} test windows; a batch has shape "
        f"({cfg.train.batch_size}, {w.seq_len}, 1) = (batch, sequence, features) and its targets "
        f"({cfg.train.batch_size}, {w.horizon}). Normalised as (value − {w.mean:.4g}) / {w.std:.4g}{unit}, "
        f"the mean and standard deviation of {source}; the plots show{unit or ' the values'} again."
    )


def uploaded_series() -> tuple[Series | None, str | None]:
    """(series, key) from the uploaded CSV and its chosen columns, or one sentence on screen."""
    upload = st.file_uploader("Your CSV: a timestamp column and a value column", type=["csv", "txt"])
    if upload is None:
        st.info("Upload a CSV file, then pick its timestamp and value columns. Nothing leaves this server.")
        return None, None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        frame = read_csv(data, upload.name)
        times = timestamp_columns(frame, upload.name)
        cols = st.columns(2)
        time_column = cols[0].selectbox("Timestamp column", times, key=f"{LAB}:csv_time:{digest}")
        others = [c for c in frame.columns if c != time_column]
        if not others:
            raise CsvError("The file has no column besides its timestamps; a series needs a value column.")
        numeric = [i for i, c in enumerate(others) if pd.api.types.is_numeric_dtype(frame[c])]
        value_column = cols[1].selectbox(
            "Value column", others, index=numeric[0] if numeric else 0, key=f"{LAB}:csv_value:{digest}"
        )
        series = series_from_frame(frame, time_column, value_column, upload.name)
    except CsvError as err:
        st.error(escape_markdown(err))
        return None, None
    except Exception:  # a file the reader did not foresee: one sentence here, the trace in the log
        log.exception("could not read the uploaded series")
        st.error(escape_markdown(f"The file '{shorten(upload.name)}' could not be read as a time series."))
        return None, None
    return series, f"{digest}:{time_column}:{value_column}"


def builder(series: Series, data_key: str | None) -> Callable[[SeqConfig], SeqRun]:
    """How the lab's runs are made: on `series` (uploaded: data_key is the file's), except a built-in
    series in a live engine, which the engine makes itself rather than receive (series_run)."""
    return functools.partial(series_run, None if data_key is None and in_engine(LAB) else series)


# ---- charts ----------------------------------------------------------------------------------


TABLE_FORMATS = {"ms per step": "{:.1f}", "train MSE": "{:.4f}", "test MSE": "{:.4f}", "test RMSE": "{:.1f}"}


def draw_runs(snap: Snapshot) -> None:
    """The results table, the forecasts, the MSE curves and the input-gradient profiles (a chart that
    cannot be drawn is one sentence from ui.live.live_view)."""
    runs = snap.runs
    if not runs:
        return
    first = next(iter(runs.values()))
    unit = first.series.unit
    first_screen = present_first()  # presenter mode: the forecast above the table
    table = pd.DataFrame(results_rows(runs))
    # the baselines have no training: a dash in their timing and train-MSE cells, not "None" (Streamlit
    # 1.67 draws a missing number as "None" whatever a Styler's na_rep says, so the cells are text)
    labels = {"test RMSE": f"test RMSE ({unit})" if unit else "test RMSE"}
    config = {}
    for column, form in TABLE_FORMATS.items():
        table[column] = [form.format(v) if pd.notna(v) else "—" for v in table[column]]
        config[column] = st.column_config.TextColumn(labels.get(column, column), alignment="right")
    st.dataframe(table, hide_index=True, key="seq-table", column_config=config)
    timing = ""
    cells = {run.cfg.model.cell for run in runs.values()}
    if {"lstm", "gru"} <= cells and first.device.type == "cpu":
        timing = (
            " On a CPU the LSTM steps faster than the GRU although it computes more: PyTorch runs it as "
            "one fused kernel (oneDNN), while the GRU is many small matrix products."
        )
    st.caption(
        " · ".join(f"**{label}** {verdict(run)}" for label, run in runs.items())
        + ". MSE in normalised units: 1 is as bad as always guessing the training mean."
        + timing
    )
    step = min(run.step for run in runs.values())
    forecasts = slow_panel(
        "seq:forecasts", snap, step, lambda: {label: run.forecast() for label, run in runs.items()}
    )
    chart(figs.forecast_chart(forecasts, kind="multi", unit=unit), key="seq-multi", where=first_screen,
          present_height=360)  # fmt: skip
    (first_screen or st).caption(
        long_forecast_caption(forecasts, "the day before" if first.series.season else "the stretch before")
    )
    left, right = st.columns(2)
    evals = {label: run.evals for label, run in runs.items()}
    before = before_lines(snap.befores.values(), "test_mse", several=True)
    mse = figs.mse_curves(evals, honest_run(runs).baselines, before=before, marks=snap.lr_changes)
    chart(mse, key="seq-mse", where=left)
    grads = {label: run.evals[-1].input_grads for label, run in runs.items()}
    chart(figs.input_gradient_chart(grads), key="seq-grads", where=right)
    if any(g == 0 for profile in grads.values() for g in profile):
        right.caption(
            "Gradients that underflow to exactly 0 (below float32's smallest number) are not drawn."
        )
    chart(figs.forecast_chart(forecasts, kind="one_step", unit=unit), key="seq-one")


def long_forecast_caption(forecasts: Mapping[str, Forecast], naive: str) -> str:
    """The long forecasts' MSE beside the naive one, and what feeding predictions back does."""
    first = next(iter(forecasts.values()))
    scores = ", ".join(f"{label} {f.multi_mse:.3f}" for label, f in forecasts.items())
    text = f"MSE over the {first.length}-step forecasts drawn above: {scores}; {naive}: "
    text += f"{first.seasonal_multi_mse:.3f}."
    if first.length > first.horizon:
        text += " Fed its own predictions, a model's errors pile up."
    return text


# ---- the setup as PyTorch code ----------------------------------------------------------


def draw_code(cfgs: Mapping[str, SeqConfig], series: Series) -> None:
    """Each run's setup as the course's PyTorch code, reproducing its losses and MSE, and its zip."""
    code_pane(
        LAB,
        per_config(
            cfgs,
            export.script,
            export.changes,
            lambda cfg: export.bundle(cfg, series),
            lambda label, cfg: f"sequences-{cfg.model.cell}-{cfg.window.split}.zip",
            help="Run it with OMP_NUM_THREADS=1 on the CPU: its losses and its train and test MSE "
            "equal this run's, bit for bit.",
        ),
    )
