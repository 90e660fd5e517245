"""The Images lab's controls, presets, data sources and drawings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from core import checkpoint, mosaic
from core.charts import eval_curves
from core.cnn import POOLS, layer_table
from core.config import to_values
from core.data.catalog import IMAGE_DATASETS
from core.data.images import ImageSet
from core.errors import ConfigError, escape_html, escape_markdown, shorten
from core.images import figures
from core.images.augment import AUGMENTATIONS, pipeline_code
from core.images.kernels import build_augmenter, preview
from core.images.presets import IMAGE_PRESETS
from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig
from core.metrics import AVERAGES
from core.registry import ACTIVATIONS, INITIALIZERS
from core.snapshots import RunView, Snapshot
from core.training import Status
from ui import fields
from ui.charts import chart, present_first
from ui.compare import ab_configs, ab_preset_values, ab_values, compare_toggle, write_ab_link
from ui.controls import Control, ControlStore
from ui.lab import Lab
from ui.labs.images.data import LAB, SOURCES, torch_index
from ui.live import before_lines, slow_panel
from ui.page import show_refusals

LABELS = ("A", "B")
log = logging.getLogger(__name__)

DATA = [
    Control("data.name", "Images", "select", tuple(SOURCES), SOURCES),
    Control(
        "data.per_class",
        "Images per class",
        "choice",
        (20, 50, 100, 150, 200, 300, 400, 500, 1000, 2000),
        help="Train and test together. MNIST ships 500 per class.",
    ),
    Control("data.size", "Image size (pixels)", "choice", (16, 20, 24, 28, 32, 40, 48, 64)),
    Control("data.noise", "Noise", "slider", low=0.0, high=1.0, step=0.05),
    Control("data.test_fraction", "Test share", "slider", low=0.1, high=0.5, step=0.05),
    Control("data.seed", "Data seed", "number", low=0, high=99999, step=1),
]
TRAINING = [
    Control("train.batch_size", "Batch size", "choice", (2, 4, 8, 16, 32, 64, 128, 256)),
    Control(
        "train.steps", "Steps", "choice", (50, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000)
    ),
    Control(
        "train.eval_every",
        "Test metrics every k steps",
        "choice",
        (10, 25, 50, 100, 200),
        help="A pass over the test set costs about as much as 15 training steps.",
    ),
    Control("train.seed", "Weights, batches and augmentation seed", "number", low=0, high=99999, step=1),
]
MODEL = [
    Control("model.blocks", "Conv blocks", "slider", low=1, high=4, step=1),
    Control(
        "model.channels",
        "Channels of block 1 (doubling per block)",
        "choice",
        (1, 2, 4, 8, 16, 24, 32, 48, 64),
    ),
    Control("model.kernel", "Kernel size", "choice", (1, 3, 5, 7)),
    Control(
        "model.padding",
        "Padding",
        "slider",
        low=0,
        high=3,
        step=1,
        help="Zero pixels added on every side; kernel // 2 keeps the image size.",
    ),
    Control("model.pool", "Pooling (2x2)", "select", POOLS, {"max": "Max", "avg": "Average", "none": "None"}),
    fields.choose_from("model.activation", "Activation", ACTIVATIONS),
    Control("model.batchnorm", "BatchNorm", "toggle"),
    Control("model.dropout", "Dropout (head)", "slider", low=0.0, high=0.9, step=0.05),
    Control("model.head", "Hidden units of the head", "choice", (0, 16, 32, 64, 128, 256), {0: "none"}),
    fields.choose_from(
        "model.init", "Initializer", INITIALIZERS, ("default", "xavier_uniform", "kaiming_uniform")
    ),
]
OPTIM = [fields.OPTIMIZER[k] for k in ("optim.name", "optim.lr", "optim.momentum", "optim.weight_decay")]
AUGMENT = [
    Control(f"augment.{name}", f"{spec.label} ({spec.parameter})", "slider", low=spec.low, high=spec.high,
            step=spec.step, help=spec.caution)
    for name, spec in AUGMENTATIONS.items()
]  # fmt: skip
SHARED = DATA + TRAINING
PER_CONFIG = MODEL + OPTIM + AUGMENT
COMPARE = compare_toggle("A and B see the same images, batches and augmentation draws.")
ALL_CONTROLS: dict[str, Control] = (
    {c.key: c for c in SHARED}
    | {f"{p}.{c.key}": c for p in ("a", "b") for c in PER_CONFIG}
    | {"compare": COMPARE}
)  # fmt: skip


def values_of(a: ImageRunConfig, b: ImageRunConfig | None = None) -> dict[str, object]:
    """Store values: shared keys plain, per-configuration keys under a. and b."""
    return ab_values(to_values(a), to_values(b or a), SHARED, PER_CONFIG)


DEFAULTS = values_of(ImageRunConfig()) | {"compare": False}


preset_values = ab_preset_values(values_of)


PAGE = Lab(LAB, DEFAULTS, ALL_CONTROLS, IMAGE_PRESETS, preset_values)
write_link = write_ab_link  # B's settings only in compare mode


def configs(s: ControlStore) -> dict[str, ImageRunConfig]:
    return ab_configs(s, SHARED, ImageRunConfig())


def _hidden(key: str, values: Mapping[str, object]) -> bool:
    """The image settings that the chosen dataset does not use (the optimizer's: ui.fields.hidden)."""
    name = values.get("data.name")
    generated = name in IMAGE_DATASETS and IMAGE_DATASETS.get(name).generated
    if key == "data.noise":
        return not generated
    if key == "data.size":
        return not (generated or name == "zip")
    if key == "data.per_class":
        return name == "zip"
    return False


def _draw(s: ControlStore, group, prefix: str, container) -> None:
    fields.draw(s, group, prefix, container, also_hidden=_hidden)


def sidebar(s: ControlStore) -> None:
    s.widget(COMPARE)
    with st.expander("Images and training (shared)"):
        _draw(s, SHARED, "", st)
    labels = LABELS if s.values["compare"] else LABELS[:1]
    tabs = st.tabs(list(labels)) if len(labels) > 1 else [st.container()]
    for tab, label in zip(tabs, labels, strict=True):
        prefix = f"{label.lower()}."
        with tab:
            with st.expander("CNN", expanded=True):
                _draw(s, MODEL, prefix, st)
            with st.expander("Optimizer"):
                _draw(s, OPTIM, prefix, st)
            with st.expander("Augmentation (training images only)", expanded=True):
                _draw(s, AUGMENT, prefix, st)


def data_config(s: ControlStore) -> ImageDataConfig:
    """The images every run of the lab trains on (A's and B's are the same)."""
    return next(iter(configs(s).values())).data


# ---- tabs outside the live loop -----------------------------------------------------------------


def draw_architecture(cfgs: Mapping[str, ImageRunConfig], images: ImageSet) -> None:
    cols = st.columns(len(cfgs))
    for col, (label, cfg) in zip(cols, cfgs.items(), strict=True):
        with col:
            if len(cfgs) > 1:
                st.subheader(f"Configuration {label}")
            try:
                rows = layer_table(cfg.model, images.image_shape, images.n_classes)
            except ConfigError as err:
                st.error(str(err))
                continue
            table = pd.DataFrame(
                {
                    "layer": [r.name for r in rows],
                    "what": [r.kind for r in rows],
                    "output shape": [" x ".join(map(str, r.shape)) for r in rows],
                    "parameters": [r.params for r in rows],
                }
            )
            st.caption(
                f"Input: {' x '.join(map(str, images.image_shape))} (channels x height x width). "
                f"Parameters in all: **{sum(r.params for r in rows):,}**."
            )
            st.dataframe(table, hide_index=True, width="stretch")


def draw_augmentation(cfgs: Mapping[str, ImageRunConfig], images: ImageSet, index: int) -> None:
    st.caption(
        "One training image under 16 random draws of each pipeline. Augmentation applies to the training "
        "batches only: the test images are never changed."
    )
    cols = st.columns(len(cfgs))
    image = images.x_train[index % len(images.x_train)].cpu()
    for col, (label, cfg) in zip(cols, cfgs.items(), strict=True):
        with col:
            if len(cfgs) > 1:
                st.subheader(f"Configuration {label}")
            try:
                augmenter = build_augmenter(cfg.augment, images.image_shape[0])
            except ConfigError as err:
                st.error(str(err))
                continue
            tiles = mosaic.to_uint8(preview(augmenter, image, 16, seed=index))
            st.image(mosaic.grid(tiles, 8, scale=max(1, 64 // images.image_shape[-1])), width="stretch")
            st.code(pipeline_code(cfg.augment), language="python")
            for name in cfg.augment.active():
                st.caption(f"**{AUGMENTATIONS.get(name).label}.** {AUGMENTATIONS.get(name).caution}")


def draw_evaluation(runs: Mapping[str, ImageRun], label_of_data: str) -> None:
    """Averages, the clickable confusion matrix with its misclassified images, and the checkpoint."""
    if not runs:
        st.info("No model to evaluate: the settings above could not be built (see the Training tab).")
        return
    cols = st.columns(len(runs)) if len(runs) > 1 else [st.container()]
    for col, (label, run) in zip(cols, runs.items(), strict=True):
        with col:
            if len(runs) > 1:
                st.subheader(f"Configuration {label}")
            report = run.report
            if report is None or report.step == 0:
                st.info("Train first: press **Play**. The metrics are computed on the test set.")
                continue
            st.dataframe(averages_table(report), hide_index=True, width="stretch")
            st.caption(AVERAGES_GLOSS)
            fig = figures.confusion_matrix(report, run.class_names)
            event = chart(fig, key=f"confusion-{label}", on_select="rerun", selection_mode="points")
            cell = _clicked(event, run.class_names)
            if cell is None:
                st.caption("Click a cell of the confusion matrix to see its test images.")
            else:
                _misclassified(run, *cell)
            _checkpoint_download(run, label, label_of_data)


def _checkpoint_download(run: ImageRun, label: str, label_of_data: str) -> None:
    """The run's checkpoint to download; a run that diverged has none (its weights answer nothing), and
    a sentence says so."""
    name = f"cnn-{label_of_data.split(' ')[0].lower()}-step{run.step}-{label.lower()}.pt"
    saved = None
    if run.status is not Status.DIVERGED:  # to_bytes refuses non-finite weights too (it may diverge later)
        with contextlib.suppress(checkpoint.CheckpointError), run.reading():  # weights between two steps
            saved = checkpoint.to_bytes(
                run.model, run.cfg.model, run.images.image_shape, run.class_names, label_of_data,
                run.report.accuracy,
            )  # fmt: skip
    if saved is None:
        st.caption("This run diverged, so it has no checkpoint to download: its weights are not numbers.")
        return
    st.download_button(
        "Download the trained model (checkpoint)",
        data=saved,
        file_name=name,
        mime="application/octet-stream",
        key=f"checkpoint-{label}",
        icon=":material/download:",
        help="Weights and architecture, for the Predict page or your own PyTorch code.",
    )


AVERAGES_GLOSS = (
    "Precision: of the images given a class, the share that were that class. Recall: of a class's "
    "images, the share found. **micro**: counted over all test images at once (equal to accuracy when "
    "each image has one class); **macro**: the plain mean over classes, so a small class counts as much "
    "as a big one; **weighted**: the mean over classes, each weighted by its number of test images."
)


def averages_table(report) -> pd.DataFrame:
    rows = [{"average": "accuracy", "precision": report.accuracy, "recall": report.accuracy}]
    for a in AVERAGES:
        rows.append({"average": a, "precision": report.precision[a], "recall": report.recall[a]})
    frame = pd.DataFrame(rows)
    frame[["precision", "recall"]] = (100 * frame[["precision", "recall"]]).round(1)
    return frame.rename(columns={"precision": "precision (%)", "recall": "recall (%)"})


def _clicked(event, class_names) -> tuple[int, int] | None:
    try:
        points = event.selection.points if event else []
    except AttributeError:
        return None
    if not points:
        return None
    point = points[0]
    names = [escape_html(name) for name in class_names]  # the chart's labels (core.images.figures)
    try:
        return names.index(str(point["y"])), names.index(str(point["x"]))
    except (KeyError, ValueError):
        return None


def _misclassified(run: ImageRun, true: int, pred: int) -> None:
    names = run.class_names
    idx = run.misclassified(true, pred)
    what = "correctly classified" if true == pred else f"predicted as '{escape_markdown(names[pred])}'"
    st.markdown(f"**True '{escape_markdown(names[true])}', {what}: {len(idx)} test images.**")
    if len(idx):
        tiles = mosaic.to_uint8(run.images.x_test[torch_index(idx[:40])])
        st.image(mosaic.grid(tiles, 10, scale=max(1, 56 // run.images.image_shape[-1])))


# ---- the live view ------------------------------------------------------------------------


def draw_live(snap: Snapshot, errors: Mapping[str, str], index: int) -> None:
    """Metrics, curves and per-class bars of all runs, then each run's feature maps."""
    runs = snap.runs
    show_refusals(errors, len(runs))
    if not runs:
        return
    multi = len(runs) > 1
    first_screen = present_first()  # presenter mode: the curves above the numbers
    cols = st.columns(len(runs)) if multi else [st.container()]
    for col, (label, run) in zip(cols, runs.items(), strict=True):
        last = run.evals[-1]
        with col:
            head = f"**Configuration {label}** · " if multi else ""
            st.markdown(f"{head}step {run.step} of {run.cfg.train.steps} · {run.n_parameters:,} parameters")
            m = st.columns(3)
            accuracy = f"{last.test_accuracy:.0%}" if multi else f"{last.test_accuracy:.1%}"
            m[0].metric(
                "Train loss", f"{last.train_loss:.3g}", help="Mean over the batches since the last check"
            )
            m[1].metric("Test loss", f"{last.test_loss:.3g}", help=f"Whole test set at step {last.step}")
            m[2].metric("Test accuracy", accuracy, help=f"Whole test set at step {last.step}")
            if run.status.value == "diverged":
                st.error(run.message)
    series = {(label if multi else ""): run.evals for label, run in runs.items()}
    left, right = (first_screen or st).columns(2)
    before = before_lines(snap.befores.values(), "test_loss", several=multi)
    loss = eval_curves(series, metric="loss", before=before, marks=snap.lr_changes, loss="cross-entropy loss")
    chart(loss, key="img-loss", where=left, present_height=300)
    accuracy = eval_curves(series, metric="accuracy", marks=snap.lr_changes)
    chart(accuracy, key="img-acc", where=right, present_height=300)
    first = next(iter(runs.values()))
    reports = {(label if multi else ""): run.report for label, run in runs.items() if run.report is not None}
    left, right = st.columns(2)
    chart(figures.class_bars(reports, first.class_names, metric="recall"), key="img-recall", where=left)
    chart(
        figures.class_bars(reports, first.class_names, metric="precision"),
        key="img-precision",
        where=right,
    )
    draw_feature_maps(snap, index)


def _model_views(run: RunView, image) -> tuple:
    """(class probabilities, conv-1 filters, [(layer, maps)]) of one test image, read between two steps."""
    with run.reading():
        return run.probabilities(image.unsqueeze(0))[0], run.filters(), run.feature_maps(image)


def draw_feature_maps(snap: Snapshot, index: int) -> None:
    runs = snap.runs
    first = next(iter(runs.values()))
    images = first.images
    index = index % len(images.x_test)
    image = images.x_test[index]
    true = escape_markdown(shorten(first.class_names[int(images.y_test[index])]))  # a zip's folder name
    st.markdown(f"#### Feature maps of test image {index} (a '{true}')")
    cols = st.columns(len(runs)) if len(runs) > 1 else [st.container()]
    for col, (label, run) in zip(cols, runs.items(), strict=True):
        with col:
            probs, filters, maps_of = slow_panel(
                f"img:{label}:maps:{index}", snap, run.step, lambda run=run: _model_views(run, image)
            )
            guess = int(probs.argmax())
            head = f"Configuration {label}: " if len(runs) > 1 else ""
            guessed = escape_markdown(shorten(run.class_names[guess]))
            st.caption(f"{head}predicts '{guessed}' ({probs[guess]:.0%}) at step {run.step}.")
            inner = st.columns([1, 3])
            inner[0].image(mosaic.grid(mosaic.to_uint8(image.unsqueeze(0)), 1, scale=4), caption="input")
            inner[1].image(
                mosaic.grid(mosaic.filter_tiles(filters), 8, scale=max(4, 40 // filters.shape[-1])),
                caption="learned filters of conv 1 (red positive, blue negative; colour kernels in RGB)",
            )
            for name, maps in maps_of:
                st.image(mosaic.feature_grid(maps, width=480 if len(runs) > 1 else 720), caption=f"{name}: "
                         f"{maps.shape[0]} maps of {maps.shape[1]}x{maps.shape[2]}")  # fmt: skip
