"""The Sequences lab's configuration: series, windows, recurrent cell, optimizer, training."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.config import OptimConfig, check_clip, check_optim
from core.data.series import SERIES, SeriesConfig
from core.errors import ConfigError

MAX_SEQ_LEN = 672  # a week at 15 minutes; longer windows make every step slow on a CPU
MAX_HORIZON = 192
MAX_STEPS = 3000
SPLITS = {"time": "By time (honest)", "shuffled": "Shuffled windows (leaks the future)"}


@dataclass(frozen=True)
class WindowConfig:
    """How the series is cut into (input window, target) pairs and split into train and test."""

    seq_len: int = 96  # input steps per window (96 = one day at 15 minutes)
    horizon: int = 1  # future steps the model predicts at once, right after the window
    stride: int = 4  # steps between the starts of two consecutive training windows
    test_fraction: float = 0.2  # the last share of the series is the test period
    split: str = "time"  # time: train before, test after; shuffled: windows dealt at random (a leak)


@dataclass(frozen=True)
class CellConfig:
    """A recurrent network: a stack of cells, then one Linear layer to the horizon's values."""

    cell: str = "gru"  # key of core.sequences.models.CELLS: rnn, lstm, gru
    layers: int = 1  # stacked recurrent layers, 1..4
    hidden: int = 16  # units per layer; small keeps a CPU step in milliseconds


@dataclass(frozen=True)
class SeqTrainConfig:
    """How long, on which batches, and how often the whole sets are scored."""

    batch_size: int = 64  # windows per step
    steps: int = 150  # optimizer steps in one run
    seed: int = 0  # initial weights and batch order
    clip_norm: float = 1.0  # gradient clipping by total norm (0 = off): keeps a plain RNN from blowing up
    eval_every: int = 10  # train and test MSE every k steps
    eval_windows: int = 256  # at most this many evenly spaced windows per set and evaluation


@dataclass(frozen=True)
class SeqConfig:
    """Everything one forecasting run needs."""

    data: SeriesConfig = field(default_factory=SeriesConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    model: CellConfig = field(default_factory=CellConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=0.01))
    train: SeqTrainConfig = field(default_factory=SeqTrainConfig)


def validate(cfg: SeqConfig) -> None:
    """Raise ConfigError with one readable sentence if the configuration cannot run."""
    from core.sequences.models import CELLS

    w, m, t, o = cfg.window, cfg.model, cfg.train, cfg.optim
    SERIES.get(cfg.data.name)
    CELLS.get(m.cell)
    if w.split not in SPLITS:
        raise ConfigError(f"Unknown split '{w.split}'. Valid names: {', '.join(SPLITS)}.")
    for label, value, low, high in (
        ("sequence length", w.seq_len, 2, MAX_SEQ_LEN),
        ("horizon", w.horizon, 1, MAX_HORIZON),
        ("stride", w.stride, 1, 1000),
        ("number of layers", m.layers, 1, 4),
        ("hidden size", m.hidden, 1, 256),
        ("batch size", t.batch_size, 1, 4096),
        ("number of steps", t.steps, 1, MAX_STEPS),
        ("evaluation interval", t.eval_every, 1, MAX_STEPS),
        ("number of evaluation windows", t.eval_windows, 1, 100_000),
    ):
        if not low <= value <= high:
            raise ConfigError(f"The {label} must be between {low} and {high}, not {value}.")
    if not 0.05 <= w.test_fraction <= 0.9:
        raise ConfigError(f"The test share must be between 0.05 and 0.9, not {w.test_fraction}.")
    check_optim(o)
    check_clip(t.clip_norm)
