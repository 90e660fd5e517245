"""The Optimizers lab: racers' settings, presets, the uploaded CSV, and the charts."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
import streamlit as st

from core.charts import eval_curves
from core.config import OptimConfig, RunConfig, from_values, to_values
from core.data import Dataset
from core.data.catalog import DATASETS
from core.data.tabular import CsvError, dataset_from_frame, read_csv
from core.errors import ConfigError, escape_markdown, shorten
from core.optimizers import export, figures, race, surfaces
from core.optimizers.presets import RACE_BASE, RACE_PRESETS, RacePreset
from core.optimizers.race import MAX_RACERS, describe, racer_names, results_table
from core.presets import PresetBase, by_name
from core.registry import OPTIMIZERS, loss_name
from core.snapshots import Snapshot
from ui import fields
from ui.charts import chart
from ui.controls import Control, ControlStore
from ui.export import Export, code_pane
from ui.lab import Lab
from ui.live import before_lines, slow_panel
from ui.runs import load_dataset

LAB = "opt"
log = logging.getLogger(__name__)
BASE = RACE_BASE
LANES = (  # the default optimizer of each racer slot
    OptimConfig(name="sgd", lr=0.1, momentum=0.0),
    OptimConfig(name="sgd", lr=0.1, momentum=0.9),
    OptimConfig(name="adam", lr=0.01),
    OptimConfig(name="rmsprop", lr=0.001, momentum=0.0),
    OptimConfig(name="adagrad", lr=0.05),
    OptimConfig(name="adamw", lr=0.01, weight_decay=0.01),
)
DATA = [
    fields.choose_from("data.name", "Dataset", DATASETS),
    *(fields.DATA[k] for k in ("data.n_samples", "data.noise", "data.test_fraction", "data.seed")),
]
MODEL = [fields.MODEL[k] for k in ("model.depth", "model.width", "model.activation")]
TRAINING = [fields.TRAINING[k] for k in ("train.batch_size", "train.steps", "train.seed")]
RACERS = Control("racers", "Racers", "slider", low=2, high=MAX_RACERS, step=1)
TARGET = Control(
    "target", "Target train loss (for the table)", "choice", (0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5)
)
SURFACE = [
    fields.choose_from("surface", "Surface", surfaces.SURFACES),
    Control("start_x", "Start x", "number", low=-5.0, high=5.0, step=0.1),
    Control("start_y", "Start y", "number", low=-5.0, high=5.0, step=0.1),
    Control("path_steps", "Steps", "choice", (10, 25, 50, 60, 80, 100, 150, 200, 300, 500, 1000)),
]
RACE_KEYS = [c.key for c in DATA + MODEL + TRAINING]


def lane_values(i: int, optim: OptimConfig) -> dict[str, object]:
    return {f"r{i}.{k}": v for k, v in to_values(RunConfig(optim=optim)).items() if k.startswith("optim.")}


def race_values(base: RunConfig, lanes: tuple[OptimConfig, ...]) -> dict[str, object]:
    """Store values for a race: shared data/model/training keys, then one optimizer per lane."""
    values = {k: v for k, v in to_values(base).items() if k in RACE_KEYS}
    for i, optim in enumerate(lanes + LANES[len(lanes) :]):
        values |= lane_values(i, optim)
    return values | {"racers": len(lanes)}


DEFAULTS = race_values(BASE, LANES[:3]) | {
    "target": 0.1,
    "surface": "bowl",
    "start_x": -1.6,
    "start_y": 1.2,
    "path_steps": 100,
}
CONTROLS = (
    {c.key: c for c in DATA + MODEL + TRAINING + SURFACE + [RACERS, TARGET]}
    | {f"r{i}.{c.key}": c for i in range(MAX_RACERS) for c in fields.OPTIMIZER.values()}
)  # fmt: skip


def lanes(s: ControlStore) -> dict[str, OptimConfig]:
    """Racer label -> optimizer settings; the label starts with the racer's slot, so a racer
    whose optimizer changes keeps its place and no other racer's run moves to it."""
    configs = [from_values(s.section(f"r{i}.")).optim for i in range(s.values["racers"])]
    return {
        f"{i + 1} · {OPTIMIZERS.get(c.name).label}"
        + (" + momentum" if c.name == "sgd" and c.momentum else ""): c
        for i, c in enumerate(configs)
    }


def setup_summary(s: ControlStore) -> str:
    """One line naming the shared setup, as the label of the box that changes it."""
    v = s.values
    return (
        f"Shared by every racer: {DATASETS.get(v['data.name']).label}; "
        f"{v['model.depth']} × {v['model.width']} {v['model.activation']} network; "
        f"batch {v['train.batch_size']}, {v['train.steps']} steps"
    )


def shared_config(s: ControlStore) -> RunConfig:
    """The setup every racer shares (its optimizer section is the default's, and unused)."""
    return from_values({k: v for k, v in s.values.items() if k in RACE_KEYS}, BASE)


def race_configs(s: ControlStore) -> dict[str, RunConfig]:
    return race.race_configs(shared_config(s), lanes(s))


def draw_code(s: ControlStore, dataset: Dataset | None) -> None:
    """The race as course-style PyTorch code (one training function, called once per racer) and its zip;
    `dataset` is the uploaded table, or None for a built-in dataset."""
    setup = shared_config(s), lanes(s)
    data = dataset if dataset is not None else load_dataset(setup[0].data)
    code_pane(
        LAB,
        {
            "race": Export(
                setup,
                lambda setup: export.script(*setup, data),
                export.changes,
                lambda: export.bundle(*setup, data),
                "optimizers-race.zip",
                help="Run it with OMP_NUM_THREADS=1 on the CPU: every racer's losses equal this race's, "
                "bit for bit.",
            )
        },
        title="PyTorch code for this race",
    )


# ---- presets -----------------------------------------------------------------------------


RACE_TAB, SURFACE_TAB = "Race", "Loss surface"


@dataclasses.dataclass(frozen=True)
class LabPreset(PresetBase):
    """One click: the race's or the surface's settings for one lesson."""

    values: Mapping[str, object]
    tab: str = RACE_TAB  # the page tab the lesson is on (ui.presets opens it)


def _surface_preset(p: surfaces.SurfacePreset) -> LabPreset:
    values = {"surface": p.surface, "start_x": p.start[0], "start_y": p.start[1], "path_steps": p.steps}
    for i, (_, optim) in enumerate(p.racers):
        values |= lane_values(i, optim)
    return LabPreset(
        p.name, p.short, p.lesson + " (Loss surface tab.)", values | {"racers": len(p.racers)}, SURFACE_TAB
    )


def _race_preset(p: RacePreset) -> LabPreset:
    return LabPreset(p.name, p.short, p.lesson + " (Race tab: press Play.)", race_values(p.base, p.racers))


PRESETS = by_name(
    *(_race_preset(p) for p in RACE_PRESETS.values()),
    *(_surface_preset(p) for p in surfaces.SURFACE_PRESETS.values()),
)


PAGE = Lab(LAB, DEFAULTS, CONTROLS, PRESETS, lambda preset: preset.values)


# ---- the user's CSV ----------------------------------------------------------------------


def uploaded_dataset(s: ControlStore) -> tuple[Dataset | None, str | None]:
    """(dataset, key) from the uploaded CSV and its chosen label column, or an error on screen."""
    upload = st.file_uploader("Your CSV: numeric feature columns and a label column", type=["csv", "txt"])
    if upload is None:
        st.info("Upload a CSV file, then pick its label column. Nothing leaves this server.")
        return None, None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        frame = read_csv(data, upload.name)
    except CsvError as err:
        st.error(escape_markdown(err))
        return None, None
    except Exception:  # a file the reader did not foresee: one sentence here, the trace in the log
        log.exception("could not read the uploaded CSV")
        st.error(escape_markdown(f"The file '{shorten(upload.name)}' could not be read as a table."))
        return None, None
    columns = list(frame.columns)
    label = st.selectbox("Label column", columns, index=len(columns) - 1, key=f"{LAB}:csv_label:{digest}")
    fraction, seed = s.values["data.test_fraction"], s.values["data.seed"]
    try:
        dataset = dataset_from_frame(frame, label, fraction, seed, name=upload.name)
    except CsvError as err:
        st.error(escape_markdown(err))
        return None, None
    except Exception:
        log.exception("could not build a dataset from the uploaded CSV")
        st.error(
            escape_markdown(
                f"The table in '{shorten(upload.name)}' could not be turned into features and labels."
            )
        )
        return None, None
    classes = ", ".join(f"{shorten(name)} ({count})" for name, count in _class_counts(dataset).items())
    st.caption(escape_markdown(f"{len(frame):,} rows, {dataset.n_features} features, classes: {classes}"))
    return dataset, f"{digest}:{label}:{fraction}:{seed}"


def _class_counts(dataset: Dataset) -> dict[str, int]:
    counts = np.bincount(
        np.concatenate([dataset.y_train.numpy(), dataset.y_test.numpy()]), minlength=dataset.n_classes
    )
    return dict(zip(dataset.class_names, counts.tolist(), strict=True))


# ---- charts ------------------------------------------------------------------------------


def draw_race(snap: Snapshot, target: float) -> None:
    """Loss and accuracy of every racer, their decision boundaries, and the results table."""
    runs = snap.runs
    if not runs:
        return
    # the legends, the panels and the table name each racer by its settings ("SGD, lr 0.1")
    names = dict(zip(runs, racer_names([run.cfg.optim for run in runs.values()]), strict=True))
    changes = {names[label]: c for label, c in snap.lr_changes.items() if label in names}
    snap = dataclasses.replace(snap, runs={names[k]: run for k, run in runs.items()}, lr_changes=changes)
    runs = snap.runs
    left, right = st.columns(2)
    evals = {label: run.evals for label, run in runs.items()}
    before = before_lines(snap.befores.values(), "train_loss", several=True)
    named = loss_name(next(iter(runs.values())).cfg.train.loss)  # one loss for every racer
    loss = eval_curves(evals, metric="loss", before=before, marks=snap.lr_changes, loss=named)
    chart(loss, key="race-loss", where=left, present_height=306)
    accuracy = eval_curves(evals, metric="accuracy", accuracy=("test",), marks=snap.lr_changes)
    chart(accuracy, key="race-acc", where=right, present_height=330)
    first = next(iter(runs.values()))
    if first.data.n_features == 2 and first.data.n_classes == 2:
        test = first.data.x_test.cpu().numpy(), first.data.y_test.cpu().numpy()
        grid = slow_panel(
            "opt:boundaries",
            snap,
            min(run.step for run in runs.values()),
            lambda: figures.boundary_grid(
                {label: run.predict_grid(resolution=40) for label, run in runs.items()}, *test
            ),
        )
        chart(grid, key="race-boundaries")
    table = pd.DataFrame(results_table(runs, target, snap.lr_changes))
    shown = table.copy()
    reach = f"steps to train loss {target:g}"
    if reach in shown:  # not reached yet: a dash, not "None" (the CSV keeps the empty cell)
        shown[reach] = ["—" if pd.isna(v) else f"{int(v):,}" for v in shown[reach]]
    st.dataframe(
        shown, hide_index=True, key="race-table",
        column_config={"train loss": st.column_config.NumberColumn(format="%.4f"),
                       "test loss": st.column_config.NumberColumn(format="%.4f"),
                       "test accuracy": st.column_config.NumberColumn(format="percent"),
                       reach: st.column_config.TextColumn(alignment="right")},
    )  # fmt: skip
    if all(run.done for run in runs.values()):
        st.download_button(
            "Download the table (CSV)", table.to_csv(index=False).encode(), "race.csv", "text/csv",
            key="race-download", icon=":material/download:",
        )  # fmt: skip


@st.cache_data(max_entries=512, show_spinner=False)
def surface_path(name: str, start: tuple[float, float], optim: OptimConfig, steps: int) -> surfaces.Path:
    """A pure function of its arguments, so sharing it between sessions is safe (1 ms a step)."""
    return surfaces.trajectory(name, start, optim, steps)


@st.cache_data(max_entries=16, show_spinner=False)
def surface_grid(name: str, view: tuple[tuple[float, float], tuple[float, float]]):
    return surfaces.grid(name, view=view)


def draw_surface(s: ControlStore) -> None:
    """Every racer's optimizer on the chosen 2-D surface: paths on the contours, loss per step."""
    v = s.values
    name = v["surface"]
    spec = surfaces.SURFACES.get(name)
    st.caption(spec.description)
    paths, problems = {}, []
    optims = list(lanes(s).values())
    named = dict(zip(racer_names(optims), optims, strict=True))  # "SGD, lr 0.1": legends say which is which
    for label, optim in named.items():
        try:
            path = surface_path(name, (v["start_x"], v["start_y"]), optim, v["path_steps"])
        except ConfigError as err:
            problems.append(f"{label}: {err}")
            continue
        paths[label] = path
        if path.diverged_at is not None:
            st.warning(
                f"{label} ({describe(optim)}) diverged at step {path.diverged_at}: "
                "its steps grew without bound."
            )
    for problem in problems:
        st.error(problem)
    xs, ys, z = surface_grid(name, surfaces.window(name, (v["start_x"], v["start_y"])))
    left, right = st.columns([3, 2])
    chart(figures.surface_paths(xs, ys, z, {k: p.points for k, p in paths.items()}, title=spec.label,
                              minimum=spec.global_min), key="surface-paths", where=left)  # fmt: skip
    chart(figures.path_losses({k: p.losses for k, p in paths.items()}), key="surface-losses", where=right)
    rows = [
        {"optimizer": label, "settings": describe(named[label]), "final x": _num(p.points[-1][0]),
         "final y": _num(p.points[-1][1]), "final loss": _num(p.losses[-1]),
         "first step length": _num(p.step_lengths()[0] if p.step_lengths() else None),
         "last step length": _num(p.step_lengths()[-1] if p.step_lengths() else None)}
        for label, p in paths.items()
    ]  # fmt: skip
    right_aligned = st.column_config.TextColumn(alignment="right")
    numbers = ("final x", "final y", "final loss", "first step length", "last step length")
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config=dict.fromkeys(numbers, right_aligned))


def _num(value: float | None) -> str:
    """A table cell: 3 significant digits ('8e-13', not '.0000000000008' cut on the left); '—' for none.
    Text cells, since Streamlit 1.67 draws a missing number as 'None' whatever a Styler says."""
    return "—" if value is None else f"{value:.3g}"
