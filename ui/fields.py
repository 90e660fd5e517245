"""Widgets for the config fields every lab shares, and which of them a choice hides."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from core.data.catalog import BUILT_IN_DATASETS, DATASETS
from core.registry import ACTIVATIONS, INITIALIZERS, LOSSES, OPTIMIZERS, SCHEDULES, Registry
from ui.controls import Control, ControlStore

LRS = (
    1e-5,
    3e-5,
    1e-4,
    3e-4,
    0.001,
    0.003,
    0.01,
    0.02,
    0.03,
    0.05,
    0.1,
    0.2,
    0.3,
    0.45,
    0.5,
    1.0,
    1.05,
    2.0,
    3.0,
    5.0,
    10.0,
)
# 1.05: just past SGD's stability limit (lr < 1) on the x² + y² bowl, for the "too large" lesson
WIDTHS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def choose_from(key: str, label: str, registry: Registry, names: Sequence[str] | None = None) -> Control:
    """A select box over a registry's names (or some of them), showing each entry's label."""
    names = tuple(names or registry.names())
    return Control(key, label, "select", names, {n: registry.get(n).label for n in names})


DATA = {
    c.key: c
    for c in (
        choose_from("data.name", "Dataset", DATASETS, BUILT_IN_DATASETS),
        Control(
            "data.n_samples",
            "Samples",
            "choice",
            (100, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000, 5000),
        ),
        Control("data.noise", "Noise", "slider", low=0.0, high=1.0, step=0.05),
        Control("data.test_fraction", "Test share", "slider", low=0.1, high=0.5, step=0.05),
        Control("data.seed", "Data seed", "number", low=0, high=99999, step=1),
    )
}
TRAINING = {
    c.key: c
    for c in (
        Control("train.batch_size", "Batch size", "choice", (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)),
        Control("train.steps", "Steps", "choice", (50, 100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000)),
        Control(
            "train.seed", "Weights and batches seed", "number", low=0, high=99999, step=1,
            help="Runs with the same seed start from the same weights and see the same batches.",
        ),
        Control(
            "train.probe_every", "Activation statistics every k steps", "slider", low=1, high=50, step=1,
            help="The statistics come from forward hooks (small functions PyTorch calls with each layer's "
            "output as it is computed). They cost ~30% of a step; sampling keeps them almost free.",
        ),
        Control("train.clip_norm", "Gradient clipping (max norm)", "choice",
                (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0), {0.0: "off"}),
        choose_from("train.loss", "Loss", LOSSES),
    )
}  # fmt: skip
MODEL = {
    c.key: c
    for c in (
        Control("model.depth", "Hidden layers", "slider", low=1, high=50, step=1),
        Control("model.width", "Units per layer", "choice", WIDTHS),
        choose_from("model.activation", "Activation", ACTIVATIONS),
        choose_from("model.init", "Initializer", INITIALIZERS),
        Control("model.init_a", "Uniform: a", "number", low=-10.0, high=10.0, step=0.05),
        Control("model.init_b", "Uniform: b", "number", low=-10.0, high=10.0, step=0.05),
        Control("model.init_std", "Normal: std", "choice",
                (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)),
        Control("model.batchnorm", "BatchNorm", "toggle"),
    )
}  # fmt: skip
OPTIMIZER = {
    c.key: c
    for c in (
        choose_from("optim.name", "Optimizer", OPTIMIZERS),
        Control("optim.lr", "Learning rate", "choice", LRS,
                help="Can change while the run plays or is paused: it applies from the next step."),
        Control("optim.momentum", "Momentum", "slider", low=0.0, high=0.99, step=0.01),
        Control("optim.nesterov", "Nesterov", "toggle"),
        Control("optim.beta1", "Beta 1 (momentum)", "choice", (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)),
        Control("optim.beta2", "Beta 2 (squared gradients)", "choice", (0.9, 0.99, 0.999, 0.9999)),
        Control("optim.weight_decay", "Weight decay", "choice", (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1)),
        choose_from("optim.schedule", "Learning-rate schedule", SCHEDULES),
        Control("optim.step_size", "Schedule: every k steps", "choice", (10, 25, 50, 100, 200, 500)),
        Control("optim.gamma", "Schedule: gamma", "choice",
                (0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999)),
    )
}  # fmt: skip


def hidden(key: str, values: Mapping[str, object]) -> bool:
    """True when the current choices make this field irrelevant (values are unprefixed)."""
    optimizer = OPTIMIZERS.get(values["optim.name"]) if "optim.name" in values else None
    schedule = values.get("optim.schedule")
    rules = {
        "model.init_a": values.get("model.init") != "uniform",
        "model.init_b": values.get("model.init") != "uniform",
        "model.init_std": values.get("model.init") != "normal",
        "optim.momentum": optimizer is not None and not optimizer.uses_momentum,
        "optim.nesterov": optimizer is not None and not optimizer.uses_nesterov,
        "optim.beta1": optimizer is not None and not optimizer.uses_betas,
        "optim.beta2": optimizer is not None and not optimizer.uses_betas,
        "optim.step_size": schedule != "step",
        "optim.gamma": schedule not in ("step", "exponential"),
    }
    return rules.get(key, False)


def draw(
    store: ControlStore,
    controls: Sequence[Control],
    prefix: str = "",
    container=None,
    also_hidden: Callable[[str, Mapping[str, object]], bool] | None = None,
) -> None:
    """Draw the controls under prefix, skipping the ones the current choices make irrelevant (`hidden`,
    and a lab's own `also_hidden` rule); a new optimizer gets its default lr. Every lab draws its
    settings through here."""
    values = store.values | store.section(prefix)  # a run's own settings over the shared ones
    toy = (
        DATASETS.get(values["data.name"]).toy
        if "data.name" in values and values["data.name"] in DATASETS
        else True
    )

    def default_lr() -> None:
        name = store.values[prefix + "optim.name"]
        store.set({prefix + "optim.lr": OPTIMIZERS.get(name).default_lr})

    for control in controls:
        if hidden(control.key, values) or (also_hidden is not None and also_hidden(control.key, values)):
            continue
        disabled = control.key in ("data.n_samples", "data.noise") and not toy
        on_change = default_lr if control.key == "optim.name" else None
        where = {} if container is None else {"container": container}  # None: where the page is drawing
        store.widget(control, prefix, disabled=disabled, on_change=on_change, **where)
