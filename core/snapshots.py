"""What the live engine hands a page: a Snapshot of every run at one instant (RunView: records copied,
the model read under the worker's lock), and the session's events (learning-rate changes, the runs a
change of settings replaced). Plain data, so a page can draw it while training goes on."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
from typing import TYPE_CHECKING, Any

from core.config import to_values
from core.training import Status, Trainer

if TYPE_CHECKING:
    from core.live import LiveWorker


class RunGone(LookupError):
    """A run that a snapshot showed was gone (a click removed or rebuilt it) before the page read it
    in the live engine that trains it; the page's next run draws the runs as they are."""


@dataclasses.dataclass(frozen=True)
class LrChange:
    """A learning rate changed mid-run: from `step + 1` on, the run uses `new`."""

    step: int
    old: float
    new: float

    @property
    def text(self) -> str:
        return f"lr {self.old:g} → {self.new:g}"


@dataclasses.dataclass(frozen=True)
class Before:
    """A run that a change of settings replaced: its curves stay on the charts as a faded line."""

    label: str
    step: int  # how far it had trained
    change: str  # e.g. "depth 4 → 6, activation relu → tanh"; "" if it restarted only to stay in step
    records: tuple
    evals: tuple
    cfg: Any = None  # its settings (None for a race's restart in step)


def describe_change(old, new) -> str:
    """The settings that differ between two configs, as "name old → new" (learning rate included)."""
    a, b = to_values(old), to_values(new)
    parts = [
        f"{key.split('.')[-1].replace('_', ' ')} {a[key]} → {b.get(key)}" for key in a if a[key] != b.get(key)
    ]
    return ", ".join(parts) or "the data"


def only_lr_differs(a, b) -> bool:
    """True when two run configs differ in nothing but the learning rate."""
    return dataclasses.replace(a, optim=dataclasses.replace(a.optim, lr=b.optim.lr)) == b


class RunView:
    """A run as the page draws it: records and status copied at one instant, plain data; any other
    attribute read through, and any method called under the worker's lock (it may touch the model)."""

    def __init__(self, run: Trainer, worker: LiveWorker):
        self._run, self._worker = run, worker
        self._copy(run)

    def _copy(self, run) -> None:
        """Records, evaluations and status as they are now (any object with a run's fields)."""
        self.records = list(run.records)
        self.evals = list(run.evals)
        self.status = run.status
        self.diverged_at = run.diverged_at
        self.cfg = run.cfg
        self.step = len(self.records)

    @property
    def done(self) -> bool:
        return self.status in (Status.FINISHED, Status.DIVERGED)

    message = Trainer.message

    def reading(self) -> contextlib.AbstractContextManager:
        """`with view.reading():` keeps the worker off this run while the caller reads its model."""
        return self._worker.hold()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._run, name)
        if not inspect.ismethod(value):
            return value

        @functools.wraps(value)
        def locked(*args, **kwargs):
            with self._worker.hold():
                return value(*args, **kwargs)

        return locked


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the page draws: the runs at one instant and the session's events, all plain data."""

    runs: dict[str, RunView]
    playing: bool
    speed: str
    rate: float | None  # rounds (one step of each run) a second at this speed; None: no limit
    achieved: float | None  # rounds a second over the last two seconds of play; None: too few to tell
    lr_changes: dict[str, tuple[LrChange, ...]]
    befores: dict[str, Before]
    error: str | None  # one sentence when training failed
    note: str | None  # one sentence when the worker paused by itself
    waiting: int | None = None  # Play waits for a place on a busy server: 1 = next in line

    @property
    def finished(self) -> bool:
        return bool(self.runs) and all(run.done for run in self.runs.values())
