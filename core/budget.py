"""The budget of one run on a server that a whole class shares (issue 14; BENCHMARKS.md, SECURITY.md):
what a run may hold and spend, and all of one student's runs together, its estimated Cost checked before
it is built, and how big a piece of an evaluation may be."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator, Mapping

import numpy as np
import torch

from core.errors import ConfigError

# Every session lives in one server process: one student's legal settings must not exhaust it, and Pause
# must land within a second: a round of steps (one step of every run that plays) and one piece of an
# evaluation are what it may have to wait for.
RUN_BYTES = 384 * 2**20  # memory one run may hold: its data, weights, optimizer state, a step's activations
SESSION_BYTES = 2 * RUN_BYTES  # all of one student's runs together, in every lab: A and B at their largest
ROUND_MACS = 5e9  # multiply-adds of one round of training steps, forward and backward, all runs together
EVAL_MACS = 1e10  # multiply-adds of one whole evaluation (it is also paid when a run is built)
PIECE_MACS = 2e8  # multiply-adds of one piece of an evaluation: tens of milliseconds
MACS_PER_SECOND = 5e9  # what one core of the project's 2-core machine does with small convolutions
# What a training step costs per value that a layer outputs, counted as multiply-adds: BatchNorm, the
# activation and pooling each move every value through memory, forward and backward (measured: a 1x1
# conv from 1 to 64 channels on 30x30 maps, with its BatchNorm, took 0.6 s a batch of 256 for 0.75e9
# multiply-adds); an evaluation, forward only, about a third of it.
VALUE_MACS = 45


def rows_per_piece(macs_per_row: float, most: int = 4096) -> int:
    """How many rows (images, windows, samples) one evaluation piece takes: about PIECE_MACS
    multiply-adds, at most `most`. Chunks of 32 or more rows give the same numbers as one big batch."""
    return int(max(1, min(most, PIECE_MACS // max(macs_per_row, 1))))


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one run of some settings would hold and spend, estimated before it is built."""

    bytes: float  # memory: data, weights, optimizer state and the activations of one training step
    step_macs: float  # multiply-adds of one training step, forward and backward
    eval_macs: float  # multiply-adds of one evaluation

    def check(self, advice: str, together: int = 2) -> Cost:
        """Itself, or ConfigError with one sentence if the run is over budget: alone, or beside what the
        student's other runs hold (`held_beside`). `together`: how many of the lab's runs may step side
        by side (A and B: 2); they share ROUND_MACS."""
        over = []
        step = ROUND_MACS / together
        if self.step_macs > step:
            over.append(
                f"each training step would take about {_seconds(self.step_macs)} (at most {_seconds(step)}, "
                f"as up to {together} runs step side by side)"
            )
        if self.eval_macs > EVAL_MACS:
            over.append(
                f"each evaluation would take about {_seconds(self.eval_macs)} (at most {_seconds(EVAL_MACS)})"
            )
        held = _HELD.get({})
        if self.bytes > RUN_BYTES:
            over.append(f"the run would hold about {_mib(self.bytes)} of memory (at most {_mib(RUN_BYTES)})")
        elif self.bytes + sum(held.values()) > SESSION_BYTES:
            where = ", ".join(f"{_mib(n)} in {name}" for name, n in held.items() if n > 0)
            over.append(
                f"the run would hold about {_mib(self.bytes)} of memory beside your other runs' "
                f"{_mib(sum(held.values()))} ({where}; one student's runs may hold {_mib(SESSION_BYTES)} "
                "together)"
            )
            advice += ", or choose lighter settings where your other runs are"
        if over:
            listed = ", ".join(over[:-1]) + (" and " if len(over) > 1 else "") + over[-1]
            raise ConfigError(f"Too heavy for a server the whole class shares: {listed}; {advice}.")
        return self


_HELD: contextvars.ContextVar[Mapping[str, float]] = contextvars.ContextVar("held")


@contextlib.contextmanager
def held_beside(held: Mapping[str, float]) -> Iterator[None]:
    """Inside: a Cost is checked beside the bytes the student's other runs hold, by where they are
    ({"the Images lab": 3e8, "this lab": 2e7}): a session's runs together stay within SESSION_BYTES."""
    token = _HELD.set(dict(held))
    try:
        yield
    finally:
        _HELD.reset(token)


def data_bytes(data: object) -> int:
    """Bytes of the tensors and arrays a dataclass of data holds, in its fields or theirs (a Dataset, an
    ImageSet, a Series)."""
    if isinstance(data, torch.Tensor | np.ndarray):
        return data.nbytes
    if not dataclasses.is_dataclass(data):
        return 0
    return sum(data_bytes(getattr(data, f.name)) for f in dataclasses.fields(data))


def _seconds(macs: float) -> str:
    seconds = macs / MACS_PER_SECOND
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    if seconds >= 9.5:
        return f"{seconds:.0f} s"
    return f"{seconds:.1f} s" if seconds >= 0.95 else f"{seconds * 1000:.0f} ms"


def _mib(n: float) -> str:
    if n < 2**20 - 2**19:
        return "under 1 MB"
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"
