"""The Gradients lab's guided lesson (vanishing, cured, exploding, clipped) and its exercises."""

from __future__ import annotations

import math
import statistics

from core.lessons.model import (
    Exercise,
    Lesson,
    Progress,
    Runs,
    Step,
    at_least,
    equals,
    power_of_ten,
    reach,
    relative,
    steady,
)

LAB = "gradients"
EARLY = 100  # steps over which the first/last gradient ratio is read: the story is told by then


def first_to_last(run, steps: int = EARLY) -> float:
    """Median over the run's first `steps` steps of the first layer's gradient norm over the last's."""
    ratios = []
    for record in run.records[:steps]:
        norms = list(record.grad_norms.values())
        if math.isfinite(norms[0]) and math.isfinite(norms[-1]) and norms[-1] > 0:
            ratios.append(norms[0] / norms[-1])
    return statistics.median(ratios)


def _run_a(runs: Runs):
    return runs["A"]


def _depth_facts(runs: Runs) -> dict:
    run = _run_a(runs)
    ratio = first_to_last(run)
    return {
        "steps": min(EARLY, run.step),
        "ratio": ratio,
        "relative": relative(ratio),
        "acc": run.evals[-1].test_accuracy,
        "diverged": run.diverged_at is not None,
    }


def _ending(run) -> str:
    if run.diverged_at is not None:
        return f"diverged at step {run.diverged_at:,}"
    return f"finished all {run.step:,} steps at {run.evals[-1].test_accuracy:.0%} test accuracy"


def _explosion_facts(runs: Runs) -> dict:
    run = _run_a(runs)
    norms = [(r.grad_norm_total, r.step) for r in run.records if math.isfinite(r.grad_norm_total)]
    peak, peak_step = max(norms) if norms else (math.inf, 1)
    clipped = sum(r.clipped for r in run.records)
    return {
        "ending": _ending(run),
        "diverged": run.diverged_at is not None,
        "peak": power_of_ten(peak),
        "peak_step": peak_step,
        "clipped": clipped,
        "steps": run.step,
        "limit": run.cfg.train.clip_norm,
        "acc": run.evals[-1].test_accuracy,
    }


def _clipping_facts(runs: Runs) -> dict | None:
    facts = _explosion_facts(runs)
    return facts if facts["limit"] > 0 else None  # clipping switched off: the question does not fit


LESSON = Lesson(
    LAB,
    "Why deep networks stop learning, and three cures",
    "Four runs of a ten-layer network on the two spirals. Before each run, the class predicts what will "
    "happen; then press Play and read the measured answer.",
    (
        Step(
            "Ten sigmoid layers",
            "Vanishing: deep sigmoid, default init",
            "Ten sigmoid layers, PyTorch's default initialization, Adam. How large will the first layer's "
            "gradient be, next to the last layer's?",
            ("Within 10× of it", "10 to 1,000 times smaller", "More than 1,000 times smaller"),
            2,
            "the heatmap of gradient norms: one row per layer, bright is large.",
            _depth_facts,
            lambda f: 0 if f["ratio"] >= 0.1 else 1 if f["ratio"] >= 1e-3 else 2,
            "Over the first {steps} steps the first layer's gradient was {relative} the last layer's "
            "(the median ratio), and the test accuracy ended at {acc:.0%}: about a coin flip on two spirals.",
            "Backpropagation multiplies one factor per layer. A sigmoid's slope is at most 0.25, and "
            "PyTorch's default weights (uniform within ±1/√32 for 32 inputs) shrink a gradient by about "
            "√3 on their own, so each layer passes back at most about 0.25 ÷ √3 ≈ 0.14 of the gradient it "
            "receives. Ten such factors make about 0.14¹⁰ ≈ 3 × 10⁻⁹: the first layers hardly move, and "
            "the network cannot learn the spiral.",
        ),
        Step(
            "The same depth, cured",
            "Cured: ELU + Kaiming + BatchNorm",
            "The same ten layers with ELU, Kaiming initialization and BatchNorm. Where will the test "
            "accuracy end?",
            ("Near a coin flip again", "Above 80%", "Nowhere: the run diverges"),
            1,
            "the heatmap: are the first rows as bright as the last ones now?",
            _depth_facts,
            lambda f: 2 if f["diverged"] else 1 if f["acc"] > 0.8 else 0,
            "The test accuracy ended at {acc:.0%}, and over the first {steps} steps the first layer's "
            "gradient was {relative} the last layer's (the median ratio).",
            "ELU's slope is 1 for positive inputs, not at most 0.25. Kaiming initialization scales each "
            "layer's weights to its number of inputs, so the signal keeps its size from layer to layer, "
            "and BatchNorm re-centres and rescales every layer's inputs on each batch. The gradient "
            "reaches the first layer, so every layer learns.",
        ),
        Step(
            "Large weights",
            "Exploding: large normal init",
            "Ten ReLU layers with weights drawn from Normal(0, 0.4), SGD with lr 0.2 and momentum 0.9. "
            "What happens?",
            (
                "It learns fastest: big weights, big steps",
                "It learns slowly, like the sigmoid network",
                "The loss blows up and the run stops",
            ),
            2,
            "the loss curve and the total gradient norm in the diagnosis.",
            _explosion_facts,
            lambda f: 2 if f["diverged"] else 0 if f["acc"] > 0.8 else 1,
            "The run {ending}. The total gradient norm peaked at {peak} (at step {peak_step}).",
            "With 32 inputs per unit and weights of standard deviation 0.4, each ReLU layer after the "
            "first multiplies the signal's size by about 0.4 × √(32 / 2) = 1.6, so the nine of them "
            "multiply it by about 1.6⁹ ≈ 70. The gradients on the way back grow alike, SGD's first steps "
            "(lr × gradient) are huge, and within a few steps the loss overflows to infinity or NaN: the "
            "run stops there.",
        ),
        Step(
            "Clipping the gradient",
            "Clipped: the same with gradient clipping",
            "The same exploding network, with every gradient clipped to a norm of 0.5 before the step. "
            "What happens now?",
            (
                "It still diverges, a little later",
                "It trains to the end and learns the spiral",
                "It trains to the end but learns nothing",
            ),
            1,
            "the clipped steps marked in the diagnosis, and the loss.",
            _clipping_facts,
            lambda f: 0 if f["diverged"] else 1 if f["acc"] > 0.8 else 2,
            "The run {ending}. {clipped:,} of its {steps:,} steps had a gradient norm above {limit:g} "
            "(up to {peak}) and were scaled down to {limit:g}.",
            "Clipping rescales a gradient that is too long to the chosen norm and keeps its direction, so "
            "no single step can throw the weights far away, however steep the loss is there. The network "
            "still walks downhill, one bounded step at a time.",
        ),
    ),
)


def _accuracy(run) -> list[tuple[int, float]]:
    return [(e.step, e.test_accuracy) for e in run.evals]


def _sigmoid_85(runs: Runs, lr_changes) -> Progress:
    run = _run_a(runs)
    return reach(run, _accuracy(run), 0.85, "test accuracy")


def _tamed(runs: Runs, lr_changes) -> Progress:
    run = _run_a(runs)
    if changed := steady("A", lr_changes):
        return changed
    if run.diverged_at is not None:
        return Progress(False, f"diverged at step {run.diverged_at:,}: it must finish without diverging")
    progress = reach(run, _accuracy(run), 0.85, "test accuracy")
    if progress.met and not run.done:
        return Progress(False, f"{progress.text}; it must also finish all {run.cfg.train.steps:,} steps")
    return progress


EXERCISES = (
    Exercise(
        "sigmoid-85",
        LAB,
        "Make ten sigmoid layers learn",
        "Keep ten hidden layers and the sigmoid activation, and get the network to 85% test accuracy on "
        "the spiral (as loaded, it stays near 50%).",
        "The activation must stay, but what feeds it may change: the initializer, BatchNorm, the batch "
        "size, the number of steps.",
        "Vanishing: deep sigmoid, default init",
        (
            equals("a.model.depth", 10, "10 hidden layers"),
            equals("a.model.activation", "sigmoid", "the sigmoid activation"),
        ),
        _sigmoid_85,
    ),
    Exercise(
        "tame-exploding",
        LAB,
        "Tame the explosion without clipping",
        "Keep the Normal(0, 0.4) initialization and SGD with lr 0.2, with gradient clipping off, and make "
        "the network finish all its steps and reach 85% test accuracy.",
        "Something between the layers can keep the signal's size in check, whatever the weights are.",
        "Exploding: large normal init",
        (
            equals("a.model.init", "normal", "the Normal initializer"),
            at_least("a.model.init_std", 0.4, "its standard deviation at 0.4 or more"),
            equals("a.optim.name", "sgd", "SGD"),
            at_least("a.optim.lr", 0.2, "a learning rate of 0.2 or more"),
            equals("a.train.clip_norm", 0.0, "clipping off"),
        ),
        _tamed,
    ),
)
