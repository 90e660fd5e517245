"""Named setups of the Sequences lab that each reproduce one lesson in one click."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.config import OptimConfig
from core.data.series import SeriesConfig
from core.sequences.config import CellConfig, SeqConfig, SeqTrainConfig, WindowConfig


@dataclass(frozen=True)
class SeqPreset:
    """One lesson: the shared setup, the cells compared and the splits they train on."""

    name: str
    short: str  # button label
    lesson: str  # what the student should see
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

SEQ_PRESETS: dict[str, SeqPreset] = {
    p.name: p
    for p in (
        SeqPreset(
            "GRU vs LSTM on a day of electricity",
            "GRU vs LSTM",
            "A day of 15-minute readings in, the next day out. Both cells end far below the naive "
            "forecasts (the table) and their day-ahead forecasts follow the daily shape, though one day's "
            "window cannot tell a Monday after a quiet Sunday, or a holiday, from any other day. The table "
            "also shows each cell's parameters and the time a step costs.",
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
            "The same LSTM on Seattle's temperatures, split two ways. By time, the test error is about "
            "twice the training error: autumn is not the spring and summer it learned from. Dealt at "
            "random, test windows sit among training windows, so the test error is as low as the "
            "training error: a score the future will not give. (On these smooth hours 'the day before' "
            "beats both; the point here is the split.)",
            LEAKY,
            ("lstm",),
            ("time", "shuffled"),
        ),
    )
}
