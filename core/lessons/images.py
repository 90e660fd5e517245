"""The Images lab's guided lesson (when to augment, BatchNorm, capacity) and its exercises.

Its steps compare A and B, which differ in one idea; the facts come from each run's class report
(per-class recall and the confusion matrix, at the run's last evaluation).
"""

from __future__ import annotations

import numpy as np

from core.data.shapes import FLIP_SYMMETRIC, MIRROR_PAIRS
from core.lessons.model import Exercise, Lesson, Progress, Runs, Step, at_most, equals, reach

LAB = "images"
MIRROR = tuple(name for pair in MIRROR_PAIRS for name in pair)


def _pair(runs: Runs, differ) -> tuple | None:
    """(A, B) when B differs from A as the step's preset does (differ(a_cfg, b_cfg)), else None."""
    a, b = runs.get("A"), runs.get("B")
    if a is None or b is None or not differ(a.cfg, b.cfg):
        return None
    return a, b


def _mean_recall(run, names) -> float:
    index = [run.class_names.index(name) for name in names]
    return float(np.mean(run.report.per_class_recall[index]))


def confusions(run, k: int = 3) -> str:
    """The k largest off-diagonal cells of the run's confusion matrix, as words."""
    cells = run.report.confusion.copy()
    np.fill_diagonal(cells, 0)
    names = run.class_names
    order = np.argsort(-cells, axis=None, kind="stable")[:k]
    parts = [
        f"'{names[t]}' taken for '{names[p]}' {cells[t, p]} times"
        for t, p in zip(*np.unravel_index(order, cells.shape), strict=True)
        if cells[t, p] > 0
    ]
    return ", ".join(parts) or "none"


def _flip_facts(runs: Runs) -> dict | None:
    pair = _pair(runs, lambda a, b: a.augment.hflip == 0 < b.augment.hflip)
    if pair is None:
        return None
    a, b = pair
    return {
        "mirror_a": _mean_recall(a, MIRROR),
        "mirror_b": _mean_recall(b, MIRROR),
        "sym_a": _mean_recall(a, FLIP_SYMMETRIC),
        "sym_b": _mean_recall(b, FLIP_SYMMETRIC),
        "confusions": confusions(b),
    }


def _flip_outcome(f: dict) -> int:
    if f["mirror_b"] < f["mirror_a"] - 0.1:
        return 1 if f["sym_b"] >= f["sym_a"] - 0.05 else 2
    return 0


def _six_nine(run) -> str:
    names = list(run.class_names)
    if "6" not in names or "9" not in names:
        return ""
    six, nine = names.index("6"), names.index("9")
    cells = run.report.confusion
    return f" A 6 was taken for a 9 {cells[six, nine]} times, a 9 for a 6 {cells[nine, six]} times."


def _rotation_facts(runs: Runs) -> dict | None:
    pair = _pair(runs, lambda a, b: a.augment.rotation < b.augment.rotation)
    if pair is None:
        return None
    a, b = pair
    return {
        "acc_a": a.report.accuracy,
        "acc_b": b.report.accuracy,
        "angle": b.cfg.augment.rotation,
        "confusions": confusions(b),
        "six_nine": _six_nine(b),
    }


def _bn_facts(runs: Runs) -> dict | None:
    pair = _pair(runs, lambda a, b: not a.model.batchnorm and b.model.batchnorm)
    if pair is None:
        return None
    a, b = pair
    return {
        "steps": b.step,
        "acc_a": a.report.accuracy,
        "acc_b": b.report.accuracy,
        "loss_a": a.evals[-1].test_loss,
        "loss_b": b.evals[-1].test_loss,
    }


def _capacity_facts(runs: Runs) -> dict | None:
    a, b = runs.get("A"), runs.get("B")
    if a is None or b is None or a.n_parameters >= b.n_parameters:
        return None
    return {
        "steps": b.step,
        "params_a": a.n_parameters,
        "params_b": b.n_parameters,
        "times": b.n_parameters / a.n_parameters,
        "acc_a": a.report.accuracy,
        "acc_b": b.report.accuracy,
    }


def _ahead(f: dict, margin: float) -> int:
    """0: about the same, 1: B ahead, 2: A ahead (by more than margin in test accuracy)."""
    if f["acc_b"] > f["acc_a"] + margin:
        return 1
    return 2 if f["acc_a"] > f["acc_b"] + margin else 0


LESSON = Lesson(
    LAB,
    "CNNs: augment with care, normalise, and give them room",
    "Four comparisons of two CNNs, A and B, on the same images and the same batches. Predict what B's "
    "one difference does, press Play, then read the measured answer (the Evaluation tab shows the "
    "confusion matrix behind it).",
    (
        Step(
            "Flipping the shapes",
            "Flipping confuses mirror classes",
            "B flips half of its training images left to right. What happens to B's test recall?",
            (
                "It holds or rises: more varied images",
                "It falls for the mirror classes only",
                "It falls for every class alike",
            ),
            1,
            "the per-class recall bars of A and B.",
            _flip_facts,
            _flip_outcome,
            "B's recall on the mirror classes (arrow left and right, L and J) averaged {mirror_b:.0%} "
            "(A: {mirror_a:.0%}); on the circle, the square and the triangles {sym_b:.0%} (A: {sym_a:.0%}). "
            "B's biggest confusions: {confusions}.",
            "Flipped left to right, a left arrow looks exactly like a right arrow and an L like a J, but "
            "each keeps its own label. Half the time B is shown a right arrow labelled 'left', so it learns "
            "that the two look alike and guesses between them. A circle, a square or a triangle looks the "
            "same flipped, so those classes lose nothing. Augment only with changes that keep the label "
            "true.",
        ),
        Step(
            "Rotating the digits",
            "Large rotations: a 6 or a 9?",
            "B's training digits are turned by random angles of up to 180 degrees; the test digits stay "
            "upright. B's test accuracy, next to A's?",
            ("Higher: more views of every digit", "About the same", "Lower"),
            2,
            "the accuracy curves, then the per-class recall.",
            _rotation_facts,
            lambda f: 2 if f["acc_b"] < f["acc_a"] - 0.05 else 0 if f["acc_b"] > f["acc_a"] + 0.02 else 1,
            "Test accuracy: A {acc_a:.1%}, B {acc_b:.1%}. B's biggest confusions: {confusions}.{six_nine}",
            "B is tested on upright digits only, yet it learned digits at every angle with the same weights. "
            "Turned far enough, some digits look like others (a 6 upside down reads as a 9): early in the "
            "run that is the pair B mixes up most. Every digit at every angle is also more to learn in the "
            "same steps, so B's errors spread over many digits and its accuracy ends lower. Augment with "
            "the changes real data has: a few degrees of rotation, not half a turn.",
        ),
        Step(
            "BatchNorm",
            "BatchNorm speeds up a CNN",
            "Plain SGD (lr 0.02) trains the same CNN for 200 steps, without BatchNorm in A and with "
            "BatchNorm after each convolution in B. After 200 steps?",
            ("About the same: BatchNorm only rescales", "B far ahead", "A ahead: BatchNorm adds noise"),
            1,
            "the two loss curves.",
            _bn_facts,
            lambda f: _ahead(f, 0.1),
            "After {steps} steps: test accuracy A {acc_a:.0%}, B {acc_b:.0%}; test loss A {loss_a:.3g}, "
            "B {loss_b:.3g}.",
            "Without BatchNorm, each layer's inputs change in scale as the layers before it learn, and "
            "plain SGD, one small learning rate for every weight, has to wait for them. BatchNorm "
            "re-centres and rescales every channel on each batch, so each layer sees inputs of a steady "
            "size, and the same learning rate makes much faster progress.",
        ),
        Step(
            "Small or wide",
            "Small CNN vs wide CNN",
            "A has 2 and 4 channels and a 16-unit head (about 3,400 weights); B has 24 and 48 channels and "
            "128 units (about 313,000). After 300 steps?",
            (
                "The small one catches up: MNIST is easy",
                "The wide one ends higher",
                "The small one ends higher: fewer weights to fit",
            ),
            1,
            "the accuracy curves, and the steps a second in the status line.",
            _capacity_facts,
            lambda f: _ahead(f, 0.02),
            "Test accuracy after {steps} steps: small ({params_a:,} weights) {acc_a:.1%}, wide "
            "({params_b:,} weights, {times:.0f} times as many) {acc_b:.1%}.",
            "Two channels can hold only two kinds of edge detector, and a 16-unit head has little room to "
            "combine them; 24 channels and 128 units hold many more features at once. The price is "
            "compute: each of the wide CNN's steps does far more multiplications, so it trains fewer "
            "steps a second.",
        ),
    ),
)


def _accuracy(run) -> list[tuple[int, float]]:
    return [(e.step, e.test_accuracy) for e in run.evals]


def _sgd_90(runs: Runs, lr_changes) -> Progress:
    run = runs["A"]
    return reach(run, _accuracy(run), 0.9, "test accuracy")


MAX_WEIGHTS = 5_000


def _tiny_93(runs: Runs, lr_changes) -> Progress:
    run = runs["A"]
    if run.n_parameters > MAX_WEIGHTS:
        return Progress(False, f"the CNN has {run.n_parameters:,} weights, at most {MAX_WEIGHTS:,} allowed")
    progress = reach(run, _accuracy(run), 0.93, "test accuracy")
    return Progress(progress.met, f"{progress.text} with {run.n_parameters:,} weights")


EXERCISES = (
    Exercise(
        "sgd-90",
        LAB,
        "90% with plain SGD in 200 steps",
        "Plain SGD (lr 0.02, no momentum) trains this CNN on MNIST for 200 steps and stops far below 90%. "
        "Keep the optimizer, its learning rate and the 200 steps, and reach 90% test accuracy.",
        "Something inside the network can make its layers easier to train with the same small steps.",
        "BatchNorm speeds up a CNN",
        (
            equals("data.name", "mnist", "MNIST"),
            equals("a.optim.name", "sgd", "SGD"),
            at_most("a.optim.lr", 0.02, "a learning rate of 0.02 or less"),
            equals("a.optim.momentum", 0.0, "no momentum"),
            at_most("train.steps", 200, "200 steps or fewer"),
        ),
        _sgd_90,
        {"compare": False},
    ),
    Exercise(
        "tiny-cnn-93",
        LAB,
        "93% with at most 5,000 weights",
        f"Reach 93% test accuracy on MNIST with a CNN of at most {MAX_WEIGHTS:,} weights (the Architecture "
        "tab counts them).",
        "Most of a small CNN's weights can sit in its dense head; the convolutions share theirs across the "
        "whole image. Longer training helps a small network too.",
        "Small CNN vs wide CNN",
        (equals("data.name", "mnist", "MNIST"),),
        _tiny_93,
        {"compare": False},
    ),
)
