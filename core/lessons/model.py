"""Guided lessons and exercises as data: steps that predict, run and explain, and goals checked live.

A step names one of its lab's presets, asks a multiple-choice question about it and, once the runs
have finished, turns their own records into a sentence of measured numbers. The choice the runs
show is read from those numbers too (`outcome`), so a reveal never claims what its run did not do;
`answer` is the choice the preset shows on its fixed seed, which a test checks.

An exercise is a goal on a run (`check`, called with every live snapshot while it plays) and rules on
the lab's settings (read from its store: the values its link carries). Everything here is plain data
and functions of records: no Streamlit, no training.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Runs = Mapping[str, Any]  # label -> a run as the page reads it (core.live.RunView or a Trainer)
LrChanges = Mapping[str, Sequence]  # label -> the run's mid-run learning-rate changes


@dataclass(frozen=True)
class Step:
    """One predict -> run -> explain step of a guided lesson."""

    title: str
    preset: str  # name of one of the lab's presets: the step loads it
    question: str
    choices: tuple[str, ...]
    answer: int  # the choice the preset shows on its fixed seed (a test trains it and checks)
    watch: str  # what to look at while it plays
    measure: Callable[[Runs], dict[str, Any] | None]  # facts of the finished runs; None: they do not fit
    outcome: Callable[[dict[str, Any]], int]  # the choice those facts show
    measured: str  # str.format template over the facts: what was measured, with its numbers
    why: str  # the mechanism, in a few sentences


@dataclass(frozen=True)
class Lesson:
    """A lab's guided lesson: its steps in the course's order."""

    lab: str  # the page's name in links: gradients, optimizers, images, multitask, sequences
    title: str
    intro: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Reveal:
    """What a finished step's runs showed."""

    shown: int  # the choice the measured numbers support
    measured: str  # the measured sentence, numbers filled in
    why: str


def reveal(step: Step, runs: Runs) -> Reveal | None:
    """The step's reveal once every run has finished (or diverged); None before, or when the runs are
    not the step's setup (the student changed it so far that its question no longer fits)."""
    if not runs or not all(run.done for run in runs.values()):
        return None
    try:
        facts = step.measure(runs)
    except (KeyError, IndexError, ValueError, ZeroDivisionError, AttributeError, StopIteration):
        log.info("the runs do not fit step %r", step.title, exc_info=True)
        return None
    if facts is None:
        return None
    return Reveal(step.outcome(facts), step.measured.format(**facts), step.why)


# ---- exercises ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A setting an exercise fixes: the store keys it reads and what must hold for their values."""

    text: str  # what must hold, as the student reads it: "10 hidden layers"
    keys: tuple[str, ...]
    holds: Callable[..., bool]  # called with the keys' values, in order
    show_now: bool = True  # False: several keys, too long to list after "now"

    def broken(self, values: Mapping[str, Any]) -> str | None:
        """None when the rule holds, else one phrase: "keep 10 hidden layers (now 8)"."""
        current = [values.get(key) for key in self.keys]
        if all(value is not None for value in current) and self.holds(*current):
            return None
        if not self.show_now:
            return f"keep {self.text}"
        return f"keep {self.text} (now {', '.join(setting_text(v) for v in current)})"


def setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def equals(key: str, value: Any, text: str) -> Rule:
    return Rule(text, (key,), lambda v: v == value)


def at_most(key: str, value: float, text: str) -> Rule:
    return Rule(text, (key,), lambda v: v <= value)


def at_least(key: str, value: float, text: str) -> Rule:
    return Rule(text, (key,), lambda v: v >= value)


def kept(values: Mapping[str, Any], text: str) -> Rule:
    """Several settings that stay as the exercise loaded them."""
    expected = tuple(values.values())
    return Rule(text, tuple(values), lambda *v: v == expected, show_now=False)


@dataclass(frozen=True)
class Progress:
    """How far a run is from an exercise's goal, in one phrase."""

    met: bool
    text: str  # "best test accuracy 71% of 85%"


@dataclass(frozen=True)
class Exercise:
    """A goal the student reaches by changing settings, checked on the run as it plays."""

    id: str  # in links: ?exercise=<id>
    lab: str  # the page's name in links
    title: str
    task: str
    hint: str
    start: str  # name of the lab's preset the exercise starts from
    rules: tuple[Rule, ...]
    check: Callable[[Runs, LrChanges], Progress]
    start_values: Mapping[str, Any] = field(default_factory=dict)  # store values set after the preset


@dataclass(frozen=True)
class Verdict:
    """An exercise checked against the settings and the runs at one instant."""

    met: bool
    reached: bool  # the run reached the goal, whether or not the rules were kept
    progress: str
    broken: tuple[str, ...]  # the rules not kept, one phrase each

    @property
    def missing(self) -> str:
        """What is still missing, in one line ("" when the exercise is met)."""
        if not self.reached:
            return " · ".join([self.progress, *self.broken])
        return f"{self.progress}, but {'; '.join(self.broken)}" if self.broken else ""


NO_RUN = "no run to check: these settings could not be built"


def evaluate(exercise: Exercise, values: Mapping[str, Any], runs: Runs, lr_changes: LrChanges) -> Verdict:
    """The exercise's verdict: met only when every rule holds and the run reached the goal."""
    broken = tuple(text for rule in exercise.rules if (text := rule.broken(values)))
    try:
        progress = exercise.check(runs, lr_changes) if runs else Progress(False, NO_RUN)
    except (KeyError, IndexError, StopIteration):  # the run it checks is missing (it could not be built)
        progress = Progress(False, NO_RUN)
    return Verdict(progress.met and not broken, progress.met, progress.text, broken)


# ---- helpers shared by the labs' lessons ---------------------------------------------------------


def best(values: Sequence[float], higher: bool = True) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if higher else min(finite)


def reach(
    run: Any,
    scores: Sequence[tuple[int, float]],
    target: float,
    what: str,
    form: str = "{:.0%}",
    higher: bool = True,
) -> Progress:
    """A goal met as soon as a score passes `target`, at any evaluation; scores: (step, score) so far."""
    hit = next((step for step, v in scores if (v >= target if higher else v <= target)), None)
    top, goal = form.format(best([v for _, v in scores], higher)), form.format(target)
    if hit is not None:
        return Progress(True, f"best {what} {top} (past {goal} at step {hit:,})")
    if not run.step:
        return Progress(False, f"press Play: {what} {top} before training, goal {goal}")
    if higher:
        return Progress(False, f"best {what} {top} of {goal}")
    return Progress(False, f"best {what} {top}, goal {goal} or lower")


def at_end(run: Any) -> str:
    """Where a run stands, for goals judged at its last step."""
    return f"step {run.step:,} of {run.cfg.train.steps:,}"


def relative(ratio: float) -> str:
    """A size next to another's, in words: "920 million times smaller than", "about the same as"."""
    if not math.isfinite(ratio) or ratio <= 0:
        return "not comparable with"
    if 0.8 <= ratio <= 1.25:
        return "about the same as"
    word = "smaller" if ratio < 1 else "larger"
    return f"{big_number(1 / ratio if ratio < 1 else ratio)} times {word} than"


def big_number(x: float) -> str:
    """920,000,000 -> "920 million"; 2.13 -> "2.1"."""
    for size, name in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if x >= size:
            return f"{x / size:.3g} {name}"
    return f"{x:,.0f}" if x >= 100 else f"{x:.2g}"


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x: float) -> str:
    """1.09e-9 -> "1.1 × 10⁻⁹", readable on a projector; plain below four digits."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    exponent = math.floor(math.log10(abs(x)))
    if -3 <= exponent <= 3:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) >= 1 else f"{x:.2g}"
    mantissa = x / 10**exponent
    return f"{mantissa:.2g} × 10{str(exponent).translate(SUPERSCRIPT)}"


def steady(label: str, lr_changes: LrChanges) -> Progress | None:
    """A goal about settings counts only for a run that kept its learning rate from the first step."""
    if changes := lr_changes.get(label):
        step = changes[0].step
        return Progress(False, f"the learning rate changed at step {step:,}: press Reset to start over")
    return None
