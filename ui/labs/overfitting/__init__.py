"""The Overfitting lab's settings, presets, link state and live charts (training vs validation per epoch,
the gap, the best epoch, the weights' norm, dropout at work) and its look at the test set. The search
and the transfer comparison are in search.py and transfer.py."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import streamlit as st

from core.config import to_values, with_changes
from core.overfitting import export, figures
from core.overfitting.config import DATASETS, FitConfig, pool_size
from core.overfitting.data import Splits, load
from core.overfitting.models import parameter_count
from core.overfitting.presets import FIT_PRESETS, SMALL
from core.snapshots import RunView, Snapshot
from ui import fields
from ui.charts import chart, present_first, presenting
from ui.compare import ab_configs, ab_preset_values, ab_values, compare_toggle, write_ab_link
from ui.controls import Control, ControlStore
from ui.export import code_pane, per_config
from ui.lab import Lab
from ui.labs.overfitting import search, transfer
from ui.live import slow_panel
from ui.runs import SHARED_DATA, session_worker

LAB = "fit"
DECAYS = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3)
EXAMPLES = (10, 20, 30, 50, 100, 200, 300, 500, 600, 800, 1077)
SHARED = [
    Control("data.name", "Dataset", "select", tuple(DATASETS), {k: v[0] for k, v in DATASETS.items()}),
    Control("data.noise", "Noise (moons)", "slider", low=0.0, high=1.0, step=0.05),
    Control("data.seed", "Split seed", "number", low=0, high=99999, step=1,
            help="Which examples go to training, validation and test; the same seed, the same three sets."),
    Control("train.epochs", "Epochs", "choice", (5, 10, 20, 30, 40, 60, 80, 100, 150, 200)),
    Control("train.batch_size", "Batch size", "choice", (8, 16, 32, 64, 128, 256)),
    Control("train.seed", "Weights and batches seed", "number", low=0, high=99999, step=1,
            help="Runs with the same seed start from the same weights and see the same batches."),
]  # fmt: skip
MODEL = [
    Control("train.examples", "Training examples", "choice", EXAMPLES,
            {1077: "1,077 (every digit in the pool)"},
            help="How many examples the model trains on, taken from the training pool with the classes "
            "as even as possible. Validation and test keep their sizes."),
    Control("model.depth", "Hidden layers", "slider", low=1, high=6, step=1),
    Control("model.width", "Units per layer", "choice", (4, 8, 16, 32, 64, 128, 256, 512, 1024)),
    fields.choose_from("model.activation", "Activation", fields.ACTIVATIONS),
    Control("model.dropout", "Dropout p (after each hidden layer)", "slider", low=0.0, high=0.9, step=0.05,
            help="The share of each hidden layer's units zeroed on every training step (model.train()); "
            "none in model.eval()."),
    fields.OPTIMIZER["optim.name"],
    fields.OPTIMIZER["optim.lr"],
    fields.OPTIMIZER["optim.momentum"],
    Control("optim.weight_decay", "Weight decay", "choice", DECAYS, {0.0: "off"},
            help="Adds weight_decay × w to each gradient: every step pulls the weights towards 0."),
    Control("train.patience", "Early stopping: patience (epochs)", "choice", (0, 3, 5, 10, 20), {0: "off"},
            help="Stop after this many epochs without a lower validation loss, and put back the best "
            "epoch's weights."),
    Control("train.augment", "Augment (shift and turn the digits)", "toggle",
            help="Every training image shifted by up to half a pixel and turned by up to 10°, anew each "
            "epoch."),
]  # fmt: skip


def values_of(a: FitConfig, b: FitConfig | None = None) -> dict[str, object]:
    """Store values (shared keys unprefixed, per-run keys under a./b.) for configs A and B."""
    return ab_values(to_values(a), to_values(b or a), SHARED, MODEL)


COMPARE = compare_toggle(
    "Two runs on the same three sets, the same batches and the same initial weights where their "
    "layers match: change one thing and see what it does."
)
DEFAULTS = values_of(SMALL) | {"compare": False} | search.DEFAULTS | transfer.DEFAULTS


preset_values = ab_preset_values(values_of)


ALL = {c.key: c for c in [*SHARED, *search.CONTROLS, *transfer.CONTROLS]} | {
    p + c.key: c for p in ("a.", "b.") for c in MODEL
}
PAGE = Lab(LAB, DEFAULTS, ALL | {"compare": COMPARE}, FIT_PRESETS, preset_values)
write_link = write_ab_link


def configs(s: ControlStore) -> dict[str, FitConfig]:
    """Label -> FitConfig. A control the dataset hides does not apply: a training set larger than the
    dataset's pool takes all of it, and augmentation (digits only, hidden for points) is off, so that a
    student who switches to the moons with augmentation on is not left with a refusal and no toggle."""
    out = {}
    for label, cfg in ab_configs(s, SHARED, FitConfig()).items():
        pool = pool_size(cfg.data.name) if cfg.data.name in DATASETS else cfg.train.examples
        if cfg.train.examples > pool:
            cfg = with_changes(cfg, train={"examples": pool})
        if cfg.train.augment and cfg.data.name != "digits":
            cfg = with_changes(cfg, train={"augment": False})
        out[label] = cfg
    return out


def _hide(key: str, values: Mapping[str, object]) -> bool:
    digits = values.get("data.name") == "digits"
    return (key == "train.augment" and not digits) or (key == "data.noise" and digits)


def sidebar(s: ControlStore) -> None:
    s.widget(COMPARE)
    with st.expander("Data and training (shared)", expanded=False):
        fields.draw(s, SHARED, "", st, also_hidden=_hide)
    if s.values["compare"]:
        for tab, label in zip(st.tabs(["A", "B"]), ("a.", "b."), strict=True):
            fields.draw(s, MODEL, label, tab, also_hidden=_hide)
    else:
        fields.draw(s, MODEL, "a.", st, also_hidden=_hide)


def splits_of(data) -> Splits:
    """The three sets of a config, made once for every session (ui.runs.SHARED_DATA)."""
    return SHARED_DATA.get(("splits", data), lambda: load(data))


def sizes(cfgs: Mapping[str, FitConfig], splits: Splits) -> str:
    """The three sets' sizes in one sentence."""
    train = " and ".join(
        f"{cfg.train.examples:,}" + (f" ({label})" if len(cfgs) > 1 else "") for label, cfg in cfgs.items()
    )
    return (
        f"**Training:** {train} of a pool of {len(splits.x_pool):,} · **validation:** {len(splits.x_val):,} "
        f"(picks the settings and the epoch) · **test:** {len(splits.x_test):,} (kept aside: used only "
        "when you ask, below)."
    )


def capacity(cfgs: Mapping[str, FitConfig], splits: Splits) -> str:
    """Each run's weights, and how many per training example: the capacity that lets a model memorise."""
    parts = []
    for label, cfg in cfgs.items():
        n = parameter_count(splits.n_features, splits.n_classes, cfg.model)
        who = f"{label}: " if len(cfgs) > 1 else ""
        parts.append(f"{who}{n:,} weights, {n / cfg.train.examples:,.0f} per training example")
    return "**Capacity:** " + " · ".join(parts) + "."


def describe_sets(where, cfgs: Mapping[str, FitConfig], splits: Splits) -> None:
    """The three sets' sizes and each run's capacity under the buttons; one short line in presenter mode,
    so that the curves start on a projector's first screen."""
    if not presenting():
        where.caption(sizes(cfgs, splits))
        where.caption(capacity(cfgs, splits))
        return
    parts = [
        f"{label + ': ' if len(cfgs) > 1 else ''}{cfg.train.examples:,} training examples, "
        f"{parameter_count(splits.n_features, splits.n_classes, cfg.model):,} weights"
        for label, cfg in cfgs.items()
    ]
    where.caption(" · ".join(parts) + f" · validation {len(splits.x_val):,} · test {len(splits.x_test):,}")


# ---- the test set -----------------------------------------------------------------------


def look_at_test() -> None:
    """The button's callback: every run's test loss and accuracy, now (each look is kept by its run)."""
    for run in session_worker(LAB).snapshot(watching=False).runs.values():
        run.evaluate_test()
    st.session_state[f"{LAB}:looks"] = st.session_state.get(f"{LAB}:looks", 0) + 1


def test_panel(runs: Mapping[str, RunView]) -> None:
    """The test set behind a button, and why."""
    st.markdown(
        "**The test set** is for the very end: choose your settings and your epoch by the *validation* "
        "loss, then look at the test set once. Each look you use to choose makes its score a little more "
        "optimistic, and a test you tuned on no longer tells how the model does on new data."
    )
    st.button(
        "Evaluate on the test set",
        icon=":material/fact_check:",
        on_click=look_at_test,
        disabled=not runs,
        help="Loss and accuracy of the model as it is now, on the test examples it never saw.",
    )
    rows = [
        {
            "run": label,
            "after epoch": look.epoch,
            "test loss": look.loss,
            "test accuracy (%)": 100 * look.accuracy,
        }
        for label, run in runs.items()
        for look in run.test_looks
    ]
    if rows:
        looks = st.session_state.get(f"{LAB}:looks", 0)
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        if looks > 1:
            st.caption(
                f"You have looked at the test set {looks} times in this session. If a look made you change "
                "a setting, the next score is no longer a fair test."
            )


# ---- live charts --------------------------------------------------------------------------


def _metrics(run: RunView, label: str) -> None:
    last = run.evals[-1]
    cols = st.columns(5)
    title = f"{label}: epoch" if label else "Epoch"
    cols[0].metric(title, f"{last.epoch} / {run.cfg.train.epochs}")
    cols[1].metric("Training loss", f"{last.train_loss:.3f}", help="Mean of the epoch's batch losses.")
    cols[2].metric("Validation loss", f"{last.val_loss:.3f}")
    cols[3].metric("Validation accuracy", f"{last.val_accuracy:.0%}")
    cols[4].metric("Gap", f"{last.gap:.2f}", help="Validation loss minus training loss.")
    if run.stopped_at is not None:
        st.info(
            f"{label + ': ' if label else ''}early stopping stopped after epoch {run.stopped_at}, "
            f"{run.cfg.train.patience} epochs without a lower validation loss, and put back the weights "
            f"of epoch {run.restored_from} (the star)."
        )
    elif run.done and run.restored_from is not None:
        who = f"{label}: " if label else ""
        st.info(f"{who}the weights of the best epoch, {run.restored_from}, were put back.")
    if run.diverged_at is not None:
        st.error(
            f"{label + ': ' if label else ''}diverged at step {run.diverged_at}: the loss became NaN or "
            "infinite, so the run stopped there. Try a smaller learning rate."
        )


def _loss_range(runs: Mapping[str, RunView]) -> tuple[float, float] | None:
    values = [v for run in runs.values() for e in run.evals for v in (e.train_loss, e.val_loss)]
    good = [v for v in values if math.isfinite(v)]
    return (0.0, 1.05 * max(good)) if good else None


def draw_all(snap: Snapshot, errors: Mapping[str, str]) -> None:
    runs = snap.runs
    for label, error in errors.items():
        st.error(f"{label}: {error}" if len(errors) + len(runs) > 1 else error)
    if not runs:
        return
    several = len(runs) > 1
    series = {(label if several else ""): run.evals for label, run in runs.items()}
    best = {(label if several else ""): run.best for label, run in runs.items()}
    first = present_first()
    if first is None:
        for label, run in runs.items():
            _metrics(run, label if several else "")
    loss = figures.loss_curves(series, best, _loss_range(runs), height=360)
    where = first if first is not None else st.container()
    left, right = where.columns([3, 2])
    chart(loss, key="fit-loss", where=left, present_height=300)
    with right:
        if any(run.side is None for run in runs.values()):
            _boundaries(runs, snap)
        else:
            chart(figures.accuracy_curves(series), key="fit-acc", present_height=300)
    if first is not None:
        for label, run in runs.items():
            _metrics(run, label if several else "")
    cols = st.columns(2)
    chart(
        figures.weight_norms({label: run.evals for label, run in runs.items()}), key="fit-norm", where=cols[0]
    )
    with cols[1]:
        _dropout(runs, snap)


def _boundaries(runs: Mapping[str, RunView], snap: Snapshot) -> None:
    for label, run in runs.items():

        def make(run=run, label=label):
            xs, ys, score = run.predict_grid()
            x, y = run.x_train.cpu().numpy(), run.y_train.cpu().numpy()
            name = f"{label}: " if len(runs) > 1 else ""
            return figures.boundary(
                xs, ys, score, x, y, f"{name}what the model predicts (training points)", 300
            )

        chart(slow_panel(f"fit:boundary:{label}", snap, run.step, make), key=f"fit-boundary-{label}")


def _dropout(runs: Mapping[str, RunView], snap: Snapshot) -> None:
    """Dropout at work in the first run that uses it: the units a step zeroed, train vs eval mode."""
    label, run = next(((k, r) for k, r in runs.items() if r.cfg.model.dropout > 0), (None, None))
    if run is None:
        st.caption(
            "Dropout is off. With dropout on, this space shows which units a training step zeroed and "
            "one validation example's outputs in train mode (dropout on) and eval mode (off)."
        )
        return
    p = run.cfg.model.dropout
    masks = slow_panel(f"fit:masks:{label}", snap, run.step, run.dropout_masks)
    chart(figures.dropout_units(masks, p, run.step), key="fit-dropout")
    index, eval_p, train_p = slow_panel(f"fit:modes:{label}", snap, run.step, run.mode_outputs)
    truth = int(run.y_val[index])
    chart(figures.mode_outputs(eval_p, train_p, run.class_names, truth), key="fit-modes")


# ---- the setup as PyTorch code ----------------------------------------------------------


def draw_code(cfgs: Mapping[str, FitConfig], splits: Splits) -> None:
    """Each configuration as the course's epoch loop in PyTorch, reproducing its run, and its zip."""
    code_pane(
        LAB,
        per_config(
            cfgs,
            lambda cfg: export.script(cfg, splits),
            export.changes,
            lambda cfg: export.bundle(cfg, splits),
            lambda label, cfg: f"overfitting-{label.lower()}.zip",
            help="Run it with OMP_NUM_THREADS=1 on the CPU: its step and validation losses equal this "
            "run's, bit for bit.",
        ),
    )
