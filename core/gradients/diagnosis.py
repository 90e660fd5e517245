"""Plain-word diagnosis of gradient flow from a run's records."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from core.records import StepRecord

VANISHING_RATIO = 1e-3  # first layer's gradient below 1/1000 of the last layer's
EXPLODING_RATIO = 1e3
DEAD_SHARE = 0.5
SATURATED_SHARE = 0.5
WINDOW = 10  # recent steps the diagnosis looks at
LEARNING = 0.5  # the loss is falling: the last WINDOW steps' mean at most half the first WINDOW's
ALL_DEAD = 0.999  # a layer's share of dead units at which no gradient can pass it
UNIT_PROBLEMS = (  # ActivationStats field, share that counts, what is happening, what to try, when learning
    (
        "dead",
        DEAD_SHARE,
        "{share:.0%} of the units in {name} are dead: they output zero for every example of a training "
        "batch, so no gradient flows through them.",
        "Try LeakyReLU or ELU, Kaiming initialization, or a lower learning rate.",
        "Dead units are capacity the network does not use: LeakyReLU, ELU or Kaiming initialization "
        "keep more of them alive.",
    ),
    (
        "saturated",
        SATURATED_SHARE,
        "{share:.0%} of the outputs of {name} sit in the flat ends of the activation, where its "
        "slope is almost zero: saturated units pass almost no gradient.",
        "Try smaller initial weights (Xavier), BatchNorm, or ReLU-like activations.",
        "Saturated units learn slowly: smaller initial weights (Xavier) or BatchNorm keep more of them "
        "in the activation's steep middle.",
    ),
)


@dataclass(frozen=True)
class Diagnosis:
    """What is happening and what to try; `kind` picks the box's colour."""

    kind: str  # "info", "healthy", "vanishing", "exploding", "diverged", "dead", "saturated", "zero"
    what: str
    advice: str

    @property
    def severe(self) -> bool:
        return self.kind not in ("info", "healthy")


def describe_ratio(ratio: float) -> str:
    """1.2e-6 -> 'about a millionth (1.2e-06)'; 2300 -> 'about a thousand times (2.3e+03)'."""
    if ratio <= 0:
        return "zero"
    big = 1 / ratio if ratio < 1 else ratio
    if big >= 3e13:  # past "about a trillion": the nearest name would be wrong by powers of ten
        return (
            f"less than a trillionth ({ratio:.1e})"
            if ratio < 1
            else f"more than a trillion times ({ratio:.1e})"
        )
    if big >= 1000:
        power = min(4, max(1, round(math.log10(big) / 3)))  # nearest: thousand .. trillion
        name = ("thousand", "million", "billion", "trillion")[power - 1]
        word = f"{name}th" if ratio < 1 else f"{name} times"
        return f"about a {word} ({ratio:.1e})"
    if ratio < 1:
        return f"about 1/{big:,.0f}"
    return f"about {big:,.0f} times"


def diagnose(records: Sequence[StepRecord], diverged_at: int | None = None) -> Diagnosis:
    """Read the last WINDOW records and say, in a sentence, what the gradients are doing."""
    if diverged_at is not None:
        before = [
            r.grad_norm_total for r in records if r.step < diverged_at and math.isfinite(r.grad_norm_total)
        ]
        peak = f" Just before, the total gradient norm reached {max(before):.1e}." if before else ""
        return Diagnosis(
            "diverged",
            f"The loss became NaN or infinite at step {diverged_at}: the run diverged.{peak}",
            "Try gradient clipping (a max norm of 0.5 to 1), smaller initial weights "
            "(Xavier or Kaiming), BatchNorm, or a lower learning rate.",
        )
    if not records:
        return Diagnosis("info", "Press Play or Step: the diagnosis follows the gradients.", "")
    recent = list(records[-WINDOW:])
    first, last = next(iter(recent[-1].grad_norms)), list(recent[-1].grad_norms)[-1]
    hidden = [name for name in recent[-1].grad_norms if name != last]
    if all(r.grad_norms[name] == 0 for r in recent for name in hidden):
        return _no_gradient(records)
    ratios = [_ratio(r.grad_norms[first], r.grad_norms[last]) for r in recent]
    ratio = statistics.median(ratios)
    if ratio < VANISHING_RATIO:
        share = (
            "exactly zero while the last layer's is not"
            if ratio <= 0
            else f"{describe_ratio(ratio)} of the last layer's"
        )
        return Diagnosis(
            "vanishing",
            f"The first layer's gradient is {share}: "
            "the gradient vanishes on its way back, so the first layers barely learn.",
            "Try ReLU or ELU instead of sigmoid or tanh, Kaiming initialization, BatchNorm, or fewer layers.",
        )
    if ratio > EXPLODING_RATIO:
        return Diagnosis(
            "exploding",
            f"The first layer's gradient is {describe_ratio(ratio)} the last layer's: "
            "the gradient explodes on its way back.",
            "Try smaller initial weights (Xavier or Kaiming), gradient clipping, "
            "BatchNorm, or a lower learning rate.",
        )
    return _flowing(records, recent, ratio)


def _no_gradient(records: Sequence[StepRecord]) -> Diagnosis:
    """Every hidden layer's gradient is exactly zero: a layer whose units all output 0 (dead ReLUs, most
    often after too large a learning rate) blocks it, or all weights are equal (the zeros initializer)."""
    sampled = next((r.activations for r in reversed(records) if r.activations), None) or {}
    dead = [name for name, stats in sampled.items() if stats.dead >= ALL_DEAD]
    if dead:
        return Diagnosis(
            "zero",
            f"Every hidden layer's gradient is exactly zero: every unit of {dead[-1]} outputs 0 for every "
            "example (dead ReLUs), so no gradient flows back through it, and the layers below stop "
            "learning. A learning rate that is too large often kills them in a few steps.",
            "Try a lower learning rate, LeakyReLU or ELU (never quite flat), or BatchNorm; then Reset.",
        )
    return Diagnosis(
        "zero",
        "Every hidden layer's gradient is exactly zero: with all weights equal "
        "(zeros), every unit computes the same thing and no signal flows back.",
        "Use a random initializer (Xavier or Kaiming): it breaks the symmetry.",
    )


def _flowing(records: Sequence[StepRecord], recent: list[StepRecord], ratio: float) -> Diagnosis:
    """The gradient flows: dead or saturated units (a warning while the loss is stuck, a note while it
    falls), or a healthy flow; with how often clipping stepped in."""
    clipped = sum(r.clipped for r in recent)
    note = (
        f" Clipping scaled the gradient down in {clipped} of the last {len(recent)} steps." if clipped else ""
    )
    flow = f"gradients reach every layer at similar sizes (first layer / last layer = {ratio:.2g})"
    sampled = next((r.activations for r in reversed(records) if r.activations), None) or {}
    for kind, threshold, what, advice, learning_advice in UNIT_PROBLEMS:
        shares = {name: getattr(stats, kind) for name, stats in sampled.items()}
        name, share = max(shares.items(), key=lambda item: item[1], default=("", 0.0))
        if share < threshold:
            continue
        fall = _loss_fall(records)
        if fall is None:
            return Diagnosis(kind, what.format(share=share, name=name), advice)
        return Diagnosis(  # a note, not a warning: the run learns with the units it has left
            "info",
            f"{what.format(share=share, name=name)} Yet the loss fell from {fall[0]:.2g} to {fall[1]:.2g} "
            f"and {flow}: the other units carry the learning.{note}",
            learning_advice,
        )
    return Diagnosis("healthy", f"{flow[0].upper()}{flow[1:]}: a healthy flow.{note}", "")


def _loss_fall(records: Sequence[StepRecord]) -> tuple[float, float] | None:
    """(then, now): the mean batch loss of the first and the last WINDOW steps, when it has at least
    halved since; None while the run is too short to tell or its loss has not fallen that far."""
    losses = [r.loss for r in records if math.isfinite(r.loss)]
    if len(losses) < 2 * WINDOW:
        return None
    then, now = statistics.fmean(losses[:WINDOW]), statistics.fmean(losses[-WINDOW:])
    return (then, now) if now <= LEARNING * then else None


def _ratio(first: float, last: float) -> float:
    if last == 0:
        return math.inf if first > 0 else 1.0
    return first / last
