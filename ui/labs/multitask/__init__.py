"""The Two inputs, two outputs lab: settings, presets, glyphs, loss weights, live charts, the weight sweep."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core import mosaic
from core.config import to_values
from core.data.glyphs import ALPHABETS, GlyphSet, generate
from core.errors import ConfigError
from core.multitask import export, figures
from core.multitask.config import NORMALISE, MultiTaskConfig
from core.multitask.models import SETUPS, TASKS, net_table
from core.multitask.presets import MULTITASK_PRESETS
from core.multitask.run import MultiTaskRun, glyph_run
from core.presets import Preset
from core.snapshots import Snapshot
from ui import fields
from ui.charts import chart, present_first, presenting
from ui.compare import LABELS, ab_configs, ab_values, compare_toggle, write_ab_link
from ui.controls import Control, ControlStore
from ui.export import code_pane, per_config
from ui.lab import Lab
from ui.labs.multitask.sweep import LAB, SWEEP
from ui.live import before_lines
from ui.page import show_refusals
from ui.runs import SHARED_DATA, in_engine

write_link = write_ab_link
log = logging.getLogger(__name__)

WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0)
DATA = [
    Control("data.n_alphabets", "Alphabets", "slider", low=2, high=len(ALPHABETS), step=1,
            help="Ten characters each: " + ", ".join(ALPHABETS) + ", in this order."),
    Control("data.per_character", "Samples per character", "choice", (20, 30, 40, 60, 80, 100, 200),
            help="Train and test together; a quarter is held out for the test."),
    Control("data.noise", "Noise", "slider", low=0.0, high=1.0, step=0.05,
            help="Stroke weight, shear, scale, shift, ink and pixel noise."),
    Control("data.max_angle", "Largest rotation (degrees)", "choice", (0.0, 10.0, 20.0, 30.0, 40.0, 45.0),
            help="Each glyph is turned by an angle drawn from ±this: the angle task's target."),
    Control("data.seed", "Glyph seed", "number", low=0, high=99999, step=1),
]  # fmt: skip
NET = [
    Control("model.blocks", "Conv blocks", "slider", low=1, high=3, step=1),
    Control("model.channels", "Channels of block 1 (doubling per block)", "choice", (2, 4, 8, 16, 32)),
    Control("model.hidden", "Shared dense units", "choice", (16, 32, 64, 128, 256)),
]
TRAINING = [
    fields.OPTIMIZER["optim.name"],
    fields.OPTIMIZER["optim.lr"],
    fields.OPTIMIZER["optim.momentum"],
    Control("train.batch_size", "Batch size", "choice", (8, 16, 32, 64, 128)),
    Control("train.steps", "Steps", "choice", (50, 100, 150, 200, 300, 500, 1000)),
    Control("train.eval_every", "Test scores every k steps", "choice", (5, 10, 25, 50)),
    Control("train.clip_norm", "Gradient clipping (max norm)", "choice", (0.0, 0.5, 1.0, 5.0), {0.0: "off"}),
    Control("train.seed", "Weights and batches seed", "number", low=0, high=99999, step=1,
            help="A and B start from the same weights (where their layers match) and see the same batches."),
]  # fmt: skip
PER_CONFIG = [
    Control("model.setup", "Model", "select", tuple(SETUPS.names()), {n: s.label for n, s in SETUPS.items()}),
    *(Control(f"loss.{t}", f"Weight of the {spec.label} loss ({spec.loss_label})", "choice", WEIGHTS)
      for t, spec in TASKS.items()),
    Control("loss.normalise", "Before weighting", "select", tuple(NORMALISE), NORMALISE,
            help="Dividing by the loss at the start (measured once, with the initial weights, on 512 "
            "training images) puts every task at 1 whatever its unit and keeps the objective fixed, so a "
            "weight means the same all run long. A running mean would keep moving the objective and undo "
            "the weights."),
]  # fmt: skip
WEIGHT = {c.key.removeprefix("loss."): c for c in PER_CONFIG if c.key.removeprefix("loss.") in TASKS}
SHARED = DATA + NET + TRAINING
COMPARE = compare_toggle("A and B see the same glyphs and batches.")
ALL_CONTROLS: dict[str, Control] = (
    {c.key: c for c in SHARED + SWEEP}
    | {f"{p}.{c.key}": c for p in ("a", "b") for c in PER_CONFIG}
    | {"compare": COMPARE}
)


def values_of(a: MultiTaskConfig, b: MultiTaskConfig | None = None) -> dict[str, object]:
    return ab_values(to_values(a), to_values(b or a), SHARED, PER_CONFIG)


DEFAULTS = values_of(MultiTaskConfig()) | {"compare": False, "sweep.of": "a", "sweep.steps": 80}


def preset_values(preset: Preset) -> dict[str, object]:
    """A preset's settings: A and B side by side (sweeps are kept: they are not settings)."""
    return values_of(preset.a, preset.b) | {"compare": True}


PAGE = Lab(LAB, DEFAULTS, ALL_CONTROLS, MULTITASK_PRESETS, preset_values)


def configs(s: ControlStore) -> dict[str, MultiTaskConfig]:
    return ab_configs(s, SHARED, MultiTaskConfig())


def _hidden(key: str, values: Mapping[str, object]) -> bool:
    tasks = SETUPS.get(values["model.setup"]).tasks if "model.setup" in values else ()
    if key.startswith("loss."):
        return len(tasks) < 2 or (key != "loss.normalise" and key.removeprefix("loss.") not in tasks)
    return False


def _draw(s: ControlStore, group, prefix: str = "") -> None:
    fields.draw(s, group, prefix, also_hidden=_hidden)


def sidebar(s: ControlStore) -> None:
    s.widget(COMPARE)
    labels = LABELS if s.values["compare"] else LABELS[:1]
    tabs = st.tabs(list(labels)) if len(labels) > 1 else [st.container()]
    for tab, label in zip(tabs, labels, strict=True):
        prefix = f"{label.lower()}."
        with tab:
            s.widget(PER_CONFIG[0], prefix)
            values = s.section(prefix)
            tasks = SETUPS.get(values["model.setup"]).tasks
            _draw(s, [WEIGHT[t] for t in tasks] + [PER_CONFIG[-1]], prefix)  # the model's tasks in its order
            if len(tasks) < 2:
                st.caption("One output: its loss is the whole loss, so there is no weight to set.")
            else:
                st.caption("Sum-to-one form: " + shares_text({t: values[f"loss.{t}"] for t in tasks}) + ".")
    with st.expander("Glyphs (shared)"):
        _draw(s, DATA)
    with st.expander("CNN (shared)"):
        _draw(s, NET)
    with st.expander("Optimizer and training (shared)"):
        _draw(s, TRAINING)


def shares_text(weights: Mapping[str, float]) -> str:
    total = sum(weights.values())
    if not total:
        return "every weight is 0"
    return " : ".join(f"{TASKS[t].label} {w / total:.2f}" for t, w in weights.items())


# ---- data ----------------------------------------------------------------------------------


def load_glyphs(cfg) -> GlyphSet:
    """The glyphs of a config, drawn once for every session (ui.runs.SHARED_DATA)."""
    return SHARED_DATA.get(("glyphs", cfg), lambda: generate(cfg), spinner="Drawing the glyphs…")


def builder(glyphs: GlyphSet) -> Callable[[MultiTaskConfig], MultiTaskRun]:
    """How the lab's runs are made: on the page's glyphs, which a live engine draws itself (0.2 s)
    rather than receive (core.multitask.run.glyph_run)."""
    return functools.partial(glyph_run, None if in_engine(LAB) else glyphs)


def glyph_set(s: ControlStore) -> GlyphSet | None:
    """The glyphs, or None after one sentence saying why not."""
    try:
        return load_glyphs(next(iter(configs(s).values())).data)
    except ConfigError as err:
        st.error(str(err))
    return None


def draw_data(g: GlyphSet, per_row: int = 3) -> None:
    n_train, n_test = len(g.char_train), len(g.char_test)
    st.markdown(
        f"**{g.n_alphabets} alphabets, {g.n_chars} characters**, {n_train + n_test:,} images of "
        f"{g.image_shape[1]}x{g.image_shape[2]} pixels ({n_train:,} for training, {n_test:,} for testing). "
        f"Each image has three labels: its character, its alphabet and its rotation angle "
        f"(±{g.max_angle:g}°). Every sample is the character's font glyph under its own rotation, shear, "
        "scale, shift, ink and noise."
    )
    chars, alphabets = g.char_train.cpu().numpy(), g.char_alphabet.cpu().numpy()
    cols = st.columns(per_row)
    for a, name in enumerate(g.alphabet_names):
        members = np.flatnonzero(alphabets == a)  # this alphabet's characters
        picks = [np.flatnonzero(chars == c)[:3] for c in members]  # three samples each
        order = [p[r] for r in range(3) for p in picks if r < len(p)]  # row r: sample r of every character
        tiles = mosaic.to_uint8(g.x_train[torch.from_numpy(np.asarray(order, dtype=np.int64))])
        cols[a % per_row].image(
            mosaic.grid(tiles, len(members), scale=2), caption=f"{name}: {' '.join(ALPHABETS[name])}"
        )


def draw_architecture(cfgs: Mapping[str, MultiTaskConfig], g: GlyphSet) -> None:
    cols = st.columns(len(cfgs))
    for col, (label, cfg) in zip(cols, cfgs.items(), strict=True):
        with col:
            st.markdown(
                f"**{label}: {SETUPS.get(cfg.model.setup).label}**: {SETUPS.get(cfg.model.setup).lesson}."
            )
            try:
                rows = net_table(cfg.model, g.image_shape, g.n_chars, g.n_alphabets)
            except ConfigError as err:
                st.error(str(err))
                continue
            frame = pd.DataFrame(
                [
                    {
                        "layer": r.name,
                        "what": r.kind,
                        "output shape": " x ".join(map(str, r.shape)),
                        "parameters": r.params,
                    }
                    for r in rows
                ]
            )
            st.dataframe(frame, hide_index=True, width="stretch")
            st.caption(f"Parameters in all: **{sum(r.params for r in rows):,}**.")


# ---- the loss weights and the live view --------------------------------------------------------


def weights_table(run: MultiTaskRun) -> pd.DataFrame:
    """Per task: its loss, raw weight, sum-to-one weight, normaliser and the factor on its raw loss."""
    return pd.DataFrame(
        [
            {
                "task": TASKS[t].label,
                "loss": TASKS[t].loss_label,
                "weight": run.weights[t],
                "sum to one": run.shares[t],
                "divided by": run.normalisers[t],
                "factor": run.factors[t],
            }
            for t in run.tasks
        ]
    )


def equation(run: MultiTaskRun) -> str:
    """The last step's total as the page's weighted sum, term by term."""
    if not run.records:
        return "No step yet: press **Step** or **Play**."
    r = run.records[-1]
    start = run.cfg.loss.normalise == "start"
    terms = [
        f"{run.weights[t]:g} × {r.raw[t]:.4g}"
        + (f" ÷ {run.normalisers[t]:.4g}" if start else "")
        + f" ({TASKS[t].label})"
        for t in run.tasks
    ]
    parts = " + ".join(f"{r.parts[t]:.4g}" for t in run.tasks)
    return f"Step {r.step}: total = {' + '.join(terms)} = {parts} = **{r.total:.4g}**"


def draw_live(snap: Snapshot, errors: Mapping[str, str]) -> None:
    runs = snap.runs
    show_refusals(errors, len(runs))
    if not runs:
        return
    first_screen = present_first()  # presenter mode: the weighted parts above the numbers
    cols = st.columns(len(runs))
    for col, (label, run) in zip(cols, runs.items(), strict=True):
        with col:
            last = run.evals[-1]
            st.markdown(
                f"**{label} · {run.setup.label}** · step {run.step} of {run.cfg.train.steps} · "
                f"{run.n_parameters:,} parameters"
            )
            metrics = st.columns(len(run.tasks))
            for m, task in zip(metrics, run.tasks, strict=True):
                value = last.score[task]
                if TASKS[task].regression:
                    m.metric(
                        f"{TASKS[task].label.capitalize()}: test error",
                        f"{value**0.5:.1f}°",
                        help=f"Root of the test MSE ({value:.0f} degrees²) at step {last.step}",
                    )
                else:
                    m.metric(
                        f"{TASKS[task].label.capitalize()}: test accuracy",
                        f"{value:.1%}",
                        help=f"Whole test set at step {last.step}; chance is {run.chance()[task]:.1%}",
                    )
            st.caption(equation(run))
            if run.status.value == "diverged":
                st.error(run.message)
    records = {label: run.records for label, run in runs.items()}
    evals = {label: run.evals for label, run in runs.items()}
    chance = {t: v for run in runs.values() for t, v in run.chance().items()}
    before = before_lines(snap.befores.values(), "total", several=True, source="records")
    normalise = {label: run.cfg.loss.normalise for label, run in runs.items()}  # each part's unit
    charts = [("parts", figures.loss_parts(records, normalise, before=before, marks=snap.lr_changes))]
    if any(not TASKS[t].regression for t in chance):
        charts.append(("scores", figures.task_scores(evals, chance)))
    if angle := {label: e for label, e in evals.items() if "angle" in runs[label].tasks}:
        charts.append(("angle", figures.angle_error(angle, chance["angle"])))
    for i, (name, fig) in enumerate(charts):
        if i % 2 == 0:
            row = (first_screen if i == 0 and first_screen else st).columns(2)
        chart(fig, key=f"mt-{name}", where=row[i % 2], present_height=306 if i < 2 else None)


def draw_weights(runs: Mapping[str, MultiTaskRun]) -> None:
    """The weights as raw factors and in sum-to-one form, and the normalisers each run measured."""
    number = st.column_config.NumberColumn
    if presenting():  # the table in a fold: the weighted parts' chart needs the first screen
        with st.expander("The loss weights, in numbers"):
            _weights_tables(runs, number)
    else:
        _weights_tables(runs, number)


def _weights_tables(runs: Mapping[str, MultiTaskRun], number) -> None:
    cols = st.columns(len(runs)) if runs else []
    for col, (label, run) in zip(cols, runs.items(), strict=True):
        with col:
            st.markdown(f"**{label} · the loss weights** ({NORMALISE[run.cfg.loss.normalise].lower()})")
            formats = {"sum to one": "%.2f", "divided by": "%.4g", "factor": "%.4g"}
            config = {name: number(format=f) for name, f in formats.items()}
            st.dataframe(weights_table(run), hide_index=True, width="stretch", column_config=config)
    if runs:
        st.caption(
            "Total loss = the sum over tasks of factor × loss, where factor = weight ÷ 'divided by': 1 for "
            "raw losses, else the task's loss at the start (the initial model on 512 training images)."
        )


# ---- the setup as PyTorch code ----------------------------------------------------------


def draw_code(cfgs: Mapping[str, MultiTaskConfig]) -> None:
    """Each configuration as the course's multi-input / multi-output PyTorch code, reproducing its run,
    and its zip (each setup with its own glyphs: the one before a change may have had others)."""
    code_pane(
        LAB,
        per_config(
            cfgs,
            lambda cfg: export.script(cfg, load_glyphs(cfg.data)),
            export.changes,
            lambda cfg: export.bundle(cfg, load_glyphs(cfg.data)),
            lambda label, cfg: f"two-inputs-two-outputs-{label.lower()}.zip",
            help="Run it with OMP_NUM_THREADS=1 on the CPU: its weighted loss and each head's loss "
            "equal this run's, bit for bit.",
        ),
    )
