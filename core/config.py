"""Frozen configuration dataclasses, one per concern, and their flat (URL) form."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

from core.errors import ConfigError

MAX_DEPTH = 50
MAX_WIDTH = 512
MAX_STEPS = 3000
MAX_SAMPLES = 5000


@dataclass(frozen=True)
class DataConfig:
    """Which built-in dataset, and how it is generated and split."""

    name: str = "spiral"  # circle, xor, gauss, spiral, moons (2-D toys) or digits (8x8 -> 64)
    n_samples: int = 600  # toy sets only; digits always has its 1,797 images
    noise: float = 0.1  # toy sets only: 0 = clean, 0.5 = heavily overlapping classes
    test_fraction: float = 0.3  # share of samples held out for the test loss
    seed: int = 0  # generation and split; same seed, same data


@dataclass(frozen=True)
class ModelConfig:
    """A multi-layer perceptron: depth x width hidden layers and one output layer."""

    depth: int = 4  # hidden layers, 1..50
    width: int = 16  # units per hidden layer, 2..512
    activation: str = "relu"  # key of core.registry.ACTIVATIONS
    init: str = "default"  # key of core.registry.INITIALIZERS; "default" keeps PyTorch's
    init_a: float = -0.1  # uniform(a, b): lower bound
    init_b: float = 0.1  # uniform(a, b): upper bound
    init_std: float = 0.1  # normal(0, std)
    batchnorm: bool = False  # BatchNorm1d between each hidden Linear and its activation


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer choice and its settings; unused settings are ignored by the factory."""

    name: str = "adam"  # key of core.registry.OPTIMIZERS
    lr: float = 0.01  # learning rate; can change between steps
    momentum: float = 0.9  # SGD and RMSprop only
    nesterov: bool = False  # SGD only; ignored while momentum is 0
    weight_decay: float = 0.0  # L2 penalty (AdamW: decoupled)
    beta1: float = 0.9  # Adam/AdamW: decay of the gradient's running mean (momentum)
    beta2: float = 0.999  # Adam/AdamW: decay of the squared gradient's running mean (RMSprop part)
    schedule: str = "none"  # key of core.registry.SCHEDULES: none, step, exponential, cosine
    step_size: int = 100  # step schedule: multiply the lr by gamma every step_size steps
    gamma: float = 0.5  # step: factor every step_size steps; exponential: factor every step


@dataclass(frozen=True)
class TrainConfig:
    """How long and on what batches a run trains, and how it is probed."""

    batch_size: int = 32  # examples per step
    steps: int = 400  # optimizer steps in one run, at most MAX_STEPS
    clip_norm: float = 0.0  # gradient clipping by total norm; 0 = off
    loss: str = "cross_entropy"  # key of core.registry.LOSSES
    seed: int = 0  # initial weights and batch order
    probe_every: int = 10  # activation statistics every k steps (hooks cost ~30% per probed step)
    eval_every: int = 10  # test loss and accuracy every k steps


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def with_changes(cfg, **sections):
    """A sectioned config with some fields of some sections changed: with_changes(cfg, model={"depth": 3})."""
    return dataclasses.replace(
        cfg, **{name: dataclasses.replace(getattr(cfg, name), **values) for name, values in sections.items()}
    )


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError with one readable sentence if the configuration cannot run."""
    from core.data.catalog import DATASETS
    from core.registry import ACTIVATIONS, INITIALIZERS, LOSSES, OPTIMIZERS, SCHEDULES

    m, o, t, d = cfg.model, cfg.optim, cfg.train, cfg.data
    for registry, name in (
        (DATASETS, d.name),
        (ACTIVATIONS, m.activation),
        (INITIALIZERS, m.init),
        (OPTIMIZERS, o.name),
        (LOSSES, t.loss),
        (SCHEDULES, o.schedule),
    ):
        registry.get(name)
    _check_range("depth", m.depth, 1, MAX_DEPTH)
    _check_range("width", m.width, 2, MAX_WIDTH)
    _check_range("steps", t.steps, 1, MAX_STEPS)
    _check_range("batch size", t.batch_size, 1, 4096)
    _check_range("number of samples", d.n_samples, 20, MAX_SAMPLES)
    _check_range("test fraction", d.test_fraction, 0.05, 0.9)
    _check_range("noise", d.noise, 0.0, 2.0)
    _check_range("probe interval", t.probe_every, 1, MAX_STEPS)
    _check_range("evaluation interval", t.eval_every, 1, MAX_STEPS)
    check_optim(o)
    check_clip(t.clip_norm)
    if m.init == "uniform" and not m.init_a < m.init_b:
        raise ConfigError(f"Uniform(a, b) needs a below b; got a = {m.init_a}, b = {m.init_b}.")
    if m.init == "normal" and not (0 < m.init_std <= 100):
        raise ConfigError(f"Normal(std) needs a std above 0 and at most 100, not {m.init_std}.")
    if m.batchnorm and t.batch_size < 2:
        raise ConfigError("BatchNorm needs at least 2 examples per batch to compute a mean and a variance.")


MAX_LR = 100.0  # every lab: a rate far past divergence still makes its lesson (the page says "diverged")


def check_optim(o: OptimConfig) -> None:
    """The one set of rules for an optimizer's settings, in every lab: a ConfigError naming the first
    setting out of range (its name and schedule are checked against the registry)."""
    from core.registry import OPTIMIZERS, SCHEDULES

    OPTIMIZERS.get(o.name)
    SCHEDULES.get(o.schedule)
    if not (math.isfinite(o.lr) and 0 < o.lr <= MAX_LR):
        raise ConfigError(f"The learning rate must be above 0 and at most {MAX_LR:g}, not {o.lr}.")
    if not (0 <= o.momentum < 1):
        raise ConfigError(f"Momentum must be at least 0 and below 1, not {o.momentum}.")
    if not (0 <= o.weight_decay <= 1):
        raise ConfigError(f"Weight decay must be between 0 and 1, not {o.weight_decay}.")
    for label, beta in (("Beta 1", o.beta1), ("Beta 2", o.beta2)):
        if not (0 <= beta < 1):
            raise ConfigError(f"{label} must be at least 0 and below 1, not {beta}.")
    if not (0 < o.gamma <= 1):
        raise ConfigError(f"The schedule's gamma must be above 0 and at most 1, not {o.gamma}.")
    _check_range("schedule's step size", o.step_size, 1, MAX_STEPS)


def check_clip(clip_norm: float) -> None:
    """Gradient clipping's norm, in every lab: 0 is off."""
    if not (0 <= clip_norm <= 1e6):
        raise ConfigError(f"The clipping norm must be 0 (off) or positive, not {clip_norm}.")


def _check_range(label: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise ConfigError(f"The {label} must be between {low} and {high}, not {value}.")


# ---- flat form: "section.field" -> value, for widgets, URLs and presets ---------------


def to_values(cfg) -> dict[str, object]:
    """Every field as "section.field" -> typed value."""
    return {
        f"{section.name}.{f.name}": getattr(getattr(cfg, section.name), f.name)
        for section in dataclasses.fields(cfg)
        for f in dataclasses.fields(getattr(cfg, section.name))
    }


def from_values(values: typing.Mapping[str, object], base=None):
    """Apply "section.field" -> typed value onto base (default RunConfig()); other keys ignored.

    Any frozen dataclass of frozen section dataclasses works (each lab has its own).
    """
    base = base or RunConfig()
    sections = {}
    for section in dataclasses.fields(base):
        sub = getattr(base, section.name)
        prefix = f"{section.name}."
        changes = {
            f.name: values[prefix + f.name] for f in dataclasses.fields(sub) if prefix + f.name in values
        }
        sections[section.name] = dataclasses.replace(sub, **changes)
    return type(base)(**sections)


def field_types(cls: type = RunConfig) -> dict[str, type]:
    """ "section.field" -> Python type, for every field of a sectioned config (default RunConfig)."""
    types = {}
    base = cls()
    for section in dataclasses.fields(base):
        hints = typing.get_type_hints(type(getattr(base, section.name)))
        for name, tp in hints.items():
            types[f"{section.name}.{name}"] = tp
    return types


def parse_value(key: str, text: str, tp: type):
    """Parse one flat value into its field's type, or raise ConfigError naming the key."""
    text = str(text).strip()
    try:
        if tp is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if tp is int:
            return int(text)
        if tp is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        return text
    except ValueError:
        raise ConfigError(f"'{text}' is not a valid value for {key}.") from None


def format_value(value) -> str:
    """The text form of a field value: 1/0 for booleans, shortest exact text for floats."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)
