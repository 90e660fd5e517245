"""The Gradients lab's controls, presets, link state and charts."""

from __future__ import annotations

import math
from collections.abc import Mapping

import streamlit as st

from core.charts import log_range
from core.config import RunConfig, to_values
from core.gradients import export, figures
from core.gradients.diagnosis import diagnose
from core.gradients.presets import GRADIENT_PRESETS
from core.registry import loss_name
from core.snapshots import RunView, Snapshot
from ui import fields
from ui.charts import chart, present_first, presenting
from ui.compare import ab_configs, ab_preset_values, ab_values, compare_toggle, write_ab_link
from ui.controls import Control, ControlStore
from ui.export import code_pane, per_config
from ui.lab import Lab
from ui.live import before_lines, slow_panel
from ui.runs import load_dataset

LAB = "grad"

SHARED = [
    *fields.DATA.values(),
    *(fields.TRAINING[k] for k in ("train.batch_size", "train.steps", "train.seed", "train.probe_every")),
]
MODEL = [
    *fields.MODEL.values(),
    *(
        fields.OPTIMIZER[k]
        for k in ("optim.name", "optim.lr", "optim.momentum", "optim.nesterov", "optim.weight_decay")
    ),
    fields.TRAINING["train.clip_norm"],
    fields.TRAINING["train.loss"],
]


def _prefixed(controls, prefix):
    return {prefix + c.key: c for c in controls}


ALL_CONTROLS: dict[str, Control] = {
    **_prefixed(SHARED, ""),
    **_prefixed(MODEL, "a."),
    **_prefixed(MODEL, "b."),
}


def values_of(a: RunConfig, b: RunConfig | None = None) -> dict[str, object]:
    """Store values (shared keys unprefixed, model keys under a./b.) for configs A and B."""
    return ab_values(to_values(a), to_values(b or a), SHARED, MODEL)


COMPARE = compare_toggle(
    "Two configurations train side by side on the same data, the same batches and, "
    "where the architectures match, the same initial weights."
)
DEFAULTS = values_of(RunConfig()) | {"compare": False}


preset_values = ab_preset_values(values_of)


PAGE = Lab(LAB, DEFAULTS, ALL_CONTROLS | {"compare": COMPARE}, GRADIENT_PRESETS, preset_values)
write_link = write_ab_link  # B's settings only in compare mode


def configs(s: ControlStore) -> dict[str, RunConfig]:
    """Label -> RunConfig for A (and B in compare mode) from the current settings."""
    return ab_configs(s, SHARED, RunConfig())


def model_controls(s: ControlStore, prefix: str, container) -> None:
    """The per-configuration widgets, hiding the ones the current choices do not use."""
    fields.draw(s, MODEL, prefix, container)


def shared_controls(s: ControlStore, container) -> None:
    fields.draw(s, SHARED, "", container)


# ---- charts ----------------------------------------------------------------------------


def scales(runs: Mapping[str, RunView]) -> dict[str, tuple[float, float] | None]:
    """Shared axis ranges, so A and B are read on the same scales."""
    losses = [r.loss for run in runs.values() for r in run.records]
    losses += [e.test_loss for run in runs.values() for e in run.evals]
    norms = [n for run in runs.values() for r in run.records for n in r.grad_norms.values()]
    return {"loss": log_range(losses), "norm": log_range(norms, pad=0.0)}


def draw_run(run: RunView, label: str, shared: Mapping, wide: bool, snap: Snapshot) -> None:
    """Status, diagnosis and every chart of one run."""
    first = present_first()  # presenter mode: loss and heatmap above the numbers, on the first screen
    _numbers(run, wide)
    _place(_figures(run, label, shared, snap), label or "single", wide, first)


def _numbers(run: RunView, wide: bool) -> None:
    """Step, losses and accuracy at the last evaluation, and the diagnosis in one coloured box. Beside
    another run (half a page) the four numbers take two rows: "400 / 400" was cut to "400 …" at 1366 px."""
    evals = run.evals[-1]
    cols = st.columns(4) if wide else [col for _ in range(2) for col in st.columns(2)]
    cols[0].metric("Step", f"{run.step} / {run.cfg.train.steps}")
    at = f"at step {evals.step}" if evals.step != run.step else "now"
    cols[1].metric("Train loss", f"{evals.train_loss:.3g}", help=f"Whole training set, {at}.")
    cols[2].metric("Test loss", f"{evals.test_loss:.3g}", help=f"Whole test set, {at}.")
    cols[3].metric("Test accuracy", f"{evals.test_accuracy:.0%}", help=f"Whole test set, {at}.")
    if evals.step != run.step and run.done:
        st.caption(f"Loss and accuracy above are from the last evaluation, at step {evals.step}.")
    d = diagnose(run.records, run.diverged_at)
    box = {"healthy": st.success, "info": st.info, "diverged": st.error}.get(d.kind, st.warning)
    box(d.what + (f"  \n{d.advice}" if d.advice else ""))


def _figures(run: RunView, label: str, shared: Mapping, snap: Snapshot) -> dict:
    """name -> figure (None: not for this run): the loss every redraw, the slower panels at their pace."""
    key, name = label or "single", label or "A"
    befores = [b for b in snap.befores.values() if b.label == name]
    last = next((r for r in reversed(run.records) if math.isfinite(r.grad_norm_total)), None)
    norm_range = shared["norm"]
    sampled = next(((r.activations, r.step) for r in reversed(run.records) if r.activations), (None, None))

    def slow(panel: str, make):
        return slow_panel(f"grad:{key}:{panel}", snap, run.step, make)

    heat_title = f"Gradient norm per layer over steps {label}".strip()
    loss = loss_name(run.cfg.train.loss)  # MSE or cross-entropy: the run's own choice
    return {
        "loss": figures.loss_curves(
            run.records,
            run.evals,
            title=f"{loss[0].upper()}{loss[1:]} {label}".strip(),  # "Cross-entropy loss A"
            y_range=shared["loss"],
            diverged_at=run.diverged_at,
            before=before_lines(befores, "train_loss", several=False),
            marks={name: snap.lr_changes.get(name, ())},
        ),
        "heat": slow(
            "heat",
            lambda: figures.grad_norm_heatmap(
                run.records, run.layer_names, title=heat_title, z_range=norm_range
            ),
        ),
        "bars": slow("bars", lambda: figures.grad_norm_bars(last, run.layer_names, x_range=norm_range)),
        "acts": slow("acts", lambda: figures.activation_stats_chart(*sampled)),
        "boundary": slow("boundary", lambda: _boundary(run)) if run.data.n_features == 2 else None,
    }


def _place(figs: dict, key: str, wide: bool, first) -> None:
    """The charts in their places: presenter mode puts loss and heatmap first, side by side when wide;
    a wide page pairs the loss with the decision boundary; a narrow one stacks them."""
    if first is not None:
        with first:
            left, right = st.columns(2) if wide else (st.container(), st.container())
            chart(figs["loss"], key=f"loss-{key}", where=left, present_height=310 if wide else 250)
            chart(figs["heat"], key=f"heat-{key}", where=right, present_height=310 if wide else 250)
    elif wide:
        left, right = st.columns([3, 2])
        chart(figs["loss"], key=f"loss-{key}", where=left)
        if figs["boundary"] is not None:
            chart(figs["boundary"], key=f"boundary-{key}", where=right)
        chart(figs["heat"], key=f"heat-{key}")
    else:
        for name in ("loss", "heat", "bars", "acts", "boundary"):
            if figs[name] is not None:
                chart(figs[name], key=f"{name}-{key}")
        return
    left, right = st.columns(2)
    chart(figs["bars"], key=f"bars-{key}", where=left)
    chart(figs["acts"], key=f"acts-{key}", where=right)
    if first is not None and figs["boundary"] is not None:
        chart(figs["boundary"], key=f"boundary-{key}")


def _boundary(run: RunView):
    xs, ys, score = run.predict_grid(resolution=48)
    test = run.data.x_test.cpu().numpy(), run.data.y_test.cpu().numpy()
    return figures.decision_boundary(xs, ys, score, *test, title="What the model predicts (test points)")


def draw_all(snap: Snapshot, errors: Mapping[str, str]) -> None:
    """One run full width, or A and B in two columns on shared scales."""
    runs = snap.runs
    shared = scales(runs)
    labels = list(runs) + [label for label in errors if label not in runs]
    columns = st.columns(len(labels)) if len(labels) > 1 else [st.container()]
    for column, label in zip(columns, sorted(labels), strict=True):
        with column:
            if len(labels) > 1 and not presenting():  # the charts' titles say A and B
                st.subheader(f"Configuration {label}")
            if label in errors:
                st.error(errors[label])
                continue
            draw_run(runs[label], label if len(labels) > 1 else "", shared, wide=len(labels) == 1, snap=snap)


# ---- the setup as PyTorch code ----------------------------------------------------------


def _script(cfg: RunConfig) -> str:
    return export.script(cfg, load_dataset(cfg.data))


def draw_code(cfgs: Mapping[str, RunConfig]) -> None:
    """Each configuration as course-style PyTorch code that reproduces its run, and its zip."""
    code_pane(
        LAB,
        per_config(
            cfgs,
            _script,
            export.changes,
            lambda cfg: export.bundle(cfg, load_dataset(cfg.data)),
            lambda label, cfg: f"gradients-{label.lower()}.zip",
        ),
    )
