"""Named setups of the Sequences lab that each reproduce one lesson in one click."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.config import OptimConfig
from core.data.series import SeriesConfig
from core.presets import PresetBase, by_name
from core.sequences.config import CellConfig, SeqConfig, SeqTrainConfig, WindowConfig


@dataclass(frozen=True)
class SeqPreset(PresetBase):
    """One lesson: the shared setup, the cells compared and the splits they train on."""

    base: SeqConfig
    cells: tuple[str, ...]
    splits: tuple[str, ...] = ("time",)


SEQ_BASE = SeqConfig(  # a day in, a day out: 96 readings of 15 minutes each way
    data=SeriesConfig(name="electricity", days=70, seed=0),
    window=WindowConfig(seq_len=96, horizon=96, stride=4, test_fraction=0.2, split="time"),
    model=CellConfig(cell="gru", layers=1, hidden=16),
    optim=OptimConfig(name="adam", lr=0.01),
    train=SeqTrainConfig(batch_size=64, steps=150, seed=0, clip_norm=1.0, eval_every=10),
)
LONG_WINDOW = dataclasses.replace(  # two days in: 192 steps for the gradient to travel back
    SEQ_BASE,
    window=dataclasses.replace(SEQ_BASE.window, seq_len=192, stride=8),
    train=dataclasses.replace(SEQ_BASE.train, steps=100),
)
LEAKY = dataclasses.replace(  # three days of Seattle's hours in, the next day out
    SEQ_BASE,
    data=SeriesConfig(name="seattle"),
    window=dataclasses.replace(SEQ_BASE.window, seq_len=72, horizon=24),
)

SEQ_PRESETS: dict[str, SeqPreset] = by_name(
    SeqPreset(
        "GRU vs LSTM on a day of electricity",
        "GRU vs LSTM",
        "A day of 15-minute readings in, the next day out. Both cells end with about half the test "
        "MSE of 'the same time the day before' (the table). That naive forecast copies a quiet Sunday "
        "into a busy Monday and a busy Friday into a quiet Saturday: those are its worst days in the "
        "day-ahead chart, and there the cells, which learned both kinds of day, err far less. On a CPU "
        "the LSTM's step is the faster one (the table's ms per step), though it has more weights: "
        "PyTorch runs a CPU LSTM as one fused oneDNN kernel over the whole window, a GRU as a few small "
        "operations at each of its 96 time steps.",
        SEQ_BASE,
        ("lstm", "gru"),
    ),
    SeqPreset(
        "A plain RNN with a long window",
        "Long window",
        "Two days in, one day out. On the gradient chart the plain RNN's gradient fades by many "
        "orders of magnitude on its way back, so yesterday hardly reaches it and it scores about as "
        "well as 'the same time the day before'; the LSTM's and the GRU's gradients reach back much "
        "further, and their forecasts beat it.",
        LONG_WINDOW,
        ("rnn", "lstm", "gru"),
    ),
    SeqPreset(
        "A shuffled split leaks the future",
        "Shuffled split",
        "The same LSTM on Seattle's temperatures, split two ways. By time (trained on January to "
        "mid-October, tested on the rest of the year), the test error is about twice the training "
        "error: the future is not the past it learned from. Dealt at random, test windows sit among "
        "training windows, so the test error is as low as the training error: a score the future will "
        "not give. (On these smooth hours 'the same time the day before' beats both, with an MSE 20 to "
        "40 times lower; the point here is the split.)",
        LEAKY,
        ("lstm",),
        ("time", "shuffled"),
    ),
)
