"""The Optimizers lab's guided lesson (SGD against Adam, the learning rate, a schedule) and its exercises.

Every step and exercise plays a race: racers differ only in their optimizer, start from the same
weights and see the same batches. Racers are read in their slots' order (labels "1 · SGD", ...).
"""

from __future__ import annotations

import statistics

from core.config import to_values
from core.lessons.model import (
    Exercise,
    Lesson,
    Progress,
    Runs,
    Step,
    at_end,
    at_least,
    equals,
    kept,
    power_of_ten,
    steady,
)
from core.optimizers.presets import RACE_BASE

LAB = "optimizers"
LATE = 100  # the last steps over which a loss's swing is measured


def racers(runs: Runs) -> list[tuple[str, object]]:
    return list(runs.items())


def final(run) -> float:
    return run.evals[-1].train_loss


def _late(run, steps: int) -> list[float]:
    """The train loss of each evaluation over the run's last `steps` steps."""
    return [e.train_loss for e in run.evals if e.step > run.step - steps]


def settled(run, steps: int = LATE) -> float:
    """Where the train loss settled: the median of its evaluations over the run's last `steps` steps
    (the higher middle one of an even count), so that one bounce (which a different CPU's rounding
    can move) does not decide."""
    return statistics.median_high(_late(run, steps))


def swing(run, steps: int = LATE) -> float:
    """How far the train loss moved up and down over the run's last `steps` steps."""
    losses = _late(run, steps)
    return max(losses) - min(losses)


def first_below(run, target: float) -> int | None:
    """The first evaluated step at which the train loss was at or below target."""
    return next((e.step for e in run.evals if e.train_loss <= target), None)


def _when(step: int | None, run) -> str:
    return f"at step {step}" if step is not None else f"not within its {run.step} steps"


def _by_name(runs: Runs, name: str):
    return next(run for run in runs.values() if run.cfg.optim.name == name)


def _sgd_adam_facts(runs: Runs) -> dict:
    sgd, adam = _by_name(runs, "sgd"), _by_name(runs, "adam")
    return {
        "steps": adam.step,
        "sgd": final(sgd),
        "adam": final(adam),
        "times": final(sgd) / final(adam),
        "sgd_to": _when(first_below(sgd, 0.2), sgd),
        "adam_to": _when(first_below(adam, 0.2), adam),
    }


def _lr_facts(runs: Runs) -> dict | None:
    ordered = sorted(runs.values(), key=lambda run: run.cfg.optim.lr)
    if len(ordered) != 3 or any(run.cfg.optim.name != "sgd" for run in ordered):
        return None
    right, large = ordered[1:]
    return {
        "losses": " · ".join(f"lr {run.cfg.optim.lr:g}: {final(run):.3f}" for run in ordered),
        "lowest": min(range(3), key=lambda i: final(ordered[i])),
        "large_lr": large.cfg.optim.lr,
        "right_lr": right.cfg.optim.lr,
        "swing_large": swing(large),
        "swing_right": swing(right),
        "acc_large": large.evals[-1].test_accuracy,
    }


def _schedule_facts(runs: Runs) -> dict | None:
    constant = next((r for r in runs.values() if r.cfg.optim.schedule == "none"), None)
    scheduled = next((r for r in runs.values() if r.cfg.optim.schedule != "none"), None)
    if constant is None or scheduled is None:
        return None
    return {
        "constant": final(constant),
        "scheduled": final(scheduled),
        "swing_constant": swing(constant),
        "swing_scheduled": swing(scheduled),
        "lr_end": power_of_ten(scheduled.records[-1].lr),
        "schedule": scheduled.cfg.optim.schedule,
    }


def _settled(f: dict) -> int:
    if f["scheduled"] < f["constant"] and f["swing_scheduled"] < f["swing_constant"]:
        return 0
    return 1 if f["constant"] < f["scheduled"] else 2


LESSON = Lesson(
    LAB,
    "Choosing an optimizer and its learning rate",
    "Three races. Every racer trains the same network from the same weights on the same batches, so "
    "only the optimizer differs. Predict the winner, then press Play.",
    (
        Step(
            "SGD against Adam",
            "SGD vs Adam",
            "Plain SGD and Adam, both with learning rate 0.01, race for 300 steps. Whose training loss "
            "ends lower?",
            ("About the same: the same learning rate", "Adam's, by far", "SGD's, by far"),
            1,
            "the loss curves, and the table's steps to the target loss.",
            _sgd_adam_facts,
            lambda f: 1 if f["adam"] < 0.5 * f["sgd"] else 2 if f["sgd"] < 0.5 * f["adam"] else 0,
            "After {steps} steps plain SGD's train loss was {sgd:.3f} and Adam's {adam:.3f}, {times:.1f} "
            "times lower. Adam's loss fell below 0.2 {adam_to}; SGD's {sgd_to}.",
            "The same learning rate means very different steps. SGD moves each weight by lr × its "
            "gradient, which is tiny where the gradient is small. Adam divides each weight's step by the "
            "root of its recent squared gradients, so every weight moves by about lr per step whatever the "
            "size of its gradient, and its momentum keeps it going in a steady direction.",
        ),
        Step(
            "Too small, right, too large",
            "Learning rate in a race: too small, right, too large",
            "Plain SGD with learning rates 0.001, 1 and 5. Which ends with the lowest training loss?",
            ("0.001: small steps are safe", "1", "5: the biggest steps go furthest"),
            1,
            "the loss curves: which one crawls, and which one jumps about?",
            _lr_facts,
            lambda f: f["lowest"],
            "Final train loss: {losses}. Over the last 100 steps lr {large_lr:g}'s loss swung by "
            "{swing_large:.2f} (lr {right_lr:g}'s by {swing_right:.2f}), and its test accuracy ended at "
            "{acc_large:.0%}.",
            "The learning rate sets the step's length. At 0.001 each step is so short that 300 steps "
            "barely leave the start. At 5 a step jumps over the valley onto the opposite slope, often "
            "higher than where it started, so the loss jumps about and never settles. In between, 1 takes "
            "long steps that still land lower each time.",
        ),
        Step(
            "A schedule",
            "A schedule rescues a large learning rate",
            "SGD with momentum 0.9 and a large learning rate (0.5), without and with a cosine schedule "
            "that lowers the rate to almost 0 by the last step. At the end?",
            (
                "With the schedule: lower and steadier",
                "Without: big steps all the way go further",
                "No difference: both start at the same rate",
            ),
            0,
            "the two loss curves over the last hundred steps.",
            _schedule_facts,
            _settled,
            "Final train loss: {constant:.3f} at a constant rate, {scheduled:.3f} with the {schedule} "
            "schedule. Over the last 100 steps the first swung by {swing_constant:.3f}, the second by "
            "{swing_scheduled:.3f}; the scheduled rate was {lr_end} at the last step.",
            "Early on, big steps cover ground fast. Near the bottom the same big steps overshoot, so the "
            "loss bounces around the minimum. The cosine schedule lowers the rate smoothly to almost 0 by "
            "the last step: big steps early, small ones late, and the run settles into the valley.",
        ),
    ),
)


# ---- exercises -------------------------------------------------------------------------------------

BASE_KEYS = (
    "data.name",
    "data.n_samples",
    "data.noise",
    "model.depth",
    "model.width",
    "model.activation",
    "train.batch_size",
    "train.steps",
)
RACE_KEPT = kept(
    {key: to_values(RACE_BASE)[key] for key in BASE_KEYS},
    "the race's shared setup as loaded (moons, a 2 × 16 ReLU network, batches of 32, 300 steps)",
)
LARGEST_LR = 3.0  # the largest rate on the lab's list at which plain SGD settles below 0.2 (lr 5 does not)
CONVERGED = 0.2  # the settled train loss (median over the last LATE steps) that counts as converged
TARGET = 0.1  # the train loss SGD must reach before Adam


def _largest_lr(runs: Runs, lr_changes) -> Progress:
    label, run = racers(runs)[0]
    if changed := steady(label, lr_changes):
        return changed
    lr = run.cfg.optim.lr
    if not run.done:
        where = f"lr {lr:g}: train loss {final(run):.3f}"
        goal = f"goal: below {CONVERGED:g} over the last {LATE} steps"
        return Progress(False, f"{where} at {at_end(run)} ({goal})")
    loss = settled(run)
    where = f"lr {lr:g}: train loss {loss:.3f} over the last {LATE} steps (median)"
    if run.diverged_at is not None or loss >= CONVERGED:
        return Progress(False, f"{where}, not below {CONVERGED:g}: it does not converge")
    if lr < LARGEST_LR:
        return Progress(False, f"{where}: it converges; is there a larger one that still does?")
    return Progress(True, f"{where}: it still converges, and the next rate on the list does not")


def _sgd_first(runs: Runs, lr_changes) -> Progress:
    (sgd_label, sgd), (_, adam) = racers(runs)[:2]
    if changed := steady(sgd_label, lr_changes):
        return changed
    sgd_at, adam_at = first_below(sgd, TARGET), first_below(adam, TARGET)
    if sgd_at is not None and (adam_at is None or sgd_at < adam_at):
        return Progress(
            True, f"SGD reached train loss {TARGET:g} at step {sgd_at}, Adam {_when(adam_at, adam)}"
        )
    if adam_at is not None:
        return Progress(False, f"Adam reached {TARGET:g} first, at step {adam_at}; SGD {_when(sgd_at, sgd)}")
    losses = f"SGD {final(sgd):.3f}, Adam {final(adam):.3f}"
    return Progress(False, f"train loss {losses} at {at_end(sgd)}: the first below {TARGET:g} wins")


def _settle(runs: Runs, lr_changes) -> Progress:
    label, run = racers(runs)[0]
    if changed := steady(label, lr_changes):
        return changed
    loss = final(run)
    if not run.done:
        return Progress(False, f"train loss {loss:.3f} at {at_end(run)} (goal: below 0.06 at the end)")
    if loss < 0.06:
        return Progress(True, f"train loss {loss:.3f} at the end (goal below 0.06)")
    return Progress(False, f"train loss {loss:.3f} at the end, goal below 0.06")


EXERCISES = (
    Exercise(
        "sgd-largest-lr",
        LAB,
        "The largest learning rate for plain SGD",
        "Racer 1 is plain SGD (no momentum, no schedule). Find the largest learning rate on the list at "
        f"which it still converges: a train loss that settles below {CONVERGED:g} over the race's last "
        f"{LATE} steps (their median, so that one bounce does not decide). Choose the "
        "rate before pressing Play: a rate changed mid-run does not count.",
        "Halve the gap: try a rate between one that converges and one that does not.",
        "Learning rate in a race: too small, right, too large",
        (
            equals("r0.optim.name", "sgd", "racer 1 on SGD"),
            equals("r0.optim.momentum", 0.0, "racer 1 without momentum"),
            equals("r0.optim.schedule", "none", "racer 1 without a schedule"),
            RACE_KEPT,
        ),
        _largest_lr,
    ),
    Exercise(
        "sgd-beats-adam",
        LAB,
        "Make SGD beat Adam",
        "Tune racer 1 (SGD: any learning rate and momentum, no schedule) until it reaches a train loss "
        "of 0.1 in fewer steps than racer 2 (Adam, lr 0.01).",
        "Momentum lets SGD build up speed along a steady slope; a larger learning rate goes with it.",
        "SGD vs Adam",
        (
            equals("r0.optim.name", "sgd", "racer 1 on SGD"),
            equals("r0.optim.schedule", "none", "racer 1 without a schedule"),
            equals("r1.optim.name", "adam", "racer 2 on Adam"),
            equals("r1.optim.lr", 0.01, "Adam's learning rate at 0.01"),
            equals("r1.optim.schedule", "none", "Adam without a schedule"),
            RACE_KEPT,
        ),
        _sgd_first,
    ),
    Exercise(
        "settle-large-lr",
        LAB,
        "Settle a large learning rate",
        "Racer 1 is SGD with lr 0.5 and momentum 0.9: it bounces to the end. Without lowering its "
        "learning rate or its momentum, make it end the race below a train loss of 0.06.",
        "The learning rate you set is where a run starts; it does not have to stay there.",
        "SGD vs Adam",
        (
            equals("r0.optim.name", "sgd", "racer 1 on SGD"),
            at_least("r0.optim.lr", 0.5, "racer 1's learning rate at 0.5 or more"),
            at_least("r0.optim.momentum", 0.9, "racer 1's momentum at 0.9 or more"),
            RACE_KEPT,
        ),
        _settle,
        {"r0.optim.lr": 0.5, "r0.optim.momentum": 0.9},
    ),
)
