"""The Two inputs, two outputs lab's guided lesson (a second input, loss weights, loss scales) and exercises.

Its steps compare A and B, which differ in one idea; the facts are each task's test score at the
runs' evaluations (accuracy for the character and the alphabet, MSE in degrees² for the angle).
"""

from __future__ import annotations

import math

from core.config import to_values
from core.lessons.model import (
    Exercise,
    Lesson,
    Progress,
    Rule,
    Runs,
    Step,
    at_most,
    equals,
    kept,
    reach,
)
from core.multitask.presets import DEFAULT

LAB = "multitask"
EARLY = 50  # the step at which the first step compares how fast A and B leave chance


def _pair(runs: Runs, differ) -> tuple | None:
    a, b = runs.get("A"), runs.get("B")
    if a is None or b is None or not differ(a.cfg, b.cfg):
        return None
    return a, b


def score_at(run, task: str, step: int) -> float:
    """The task's test score at the last evaluation at or before step."""
    return [e.score[task] for e in run.evals if e.step <= step][-1]


def _input_facts(runs: Runs) -> dict | None:
    pair = _pair(runs, lambda a, b: a.model.setup == "char" and b.model.setup == "char_given_alphabet")
    if pair is None:
        return None
    a, b = pair
    return {
        "early": EARLY,
        "early_a": score_at(a, "char", EARLY),
        "early_b": score_at(b, "char", EARLY),
        "steps": b.step,
        "char_a": a.evals[-1].score["char"],
        "char_b": b.evals[-1].score["char"],
        "chance": a.chance()["char"],
    }


def _weights_facts(runs: Runs) -> dict | None:
    pair = _pair(
        runs,
        lambda a, b: (
            a.model.setup == b.model.setup == "char_alphabet"
            and b.loss.char / b.loss.alphabet > a.loss.char / a.loss.alphabet
        ),
    )
    if pair is None:
        return None
    a, b = pair
    last_a, last_b = a.evals[-1].score, b.evals[-1].score
    return {
        "steps": b.step,
        "weights_a": f"{a.cfg.loss.char:g} : {a.cfg.loss.alphabet:g}",
        "weights_b": f"{b.cfg.loss.char:g} : {b.cfg.loss.alphabet:g}",
        "char_a": last_a["char"],
        "char_b": last_b["char"],
        "alph_a": last_a["alphabet"],
        "alph_b": last_b["alphabet"],
    }


def _weights_outcome(f: dict) -> int:
    if f["char_b"] <= f["char_a"]:
        return 2
    return 0 if f["alph_b"] <= f["alph_a"] + 0.01 else 1


def _scales_facts(runs: Runs) -> dict | None:
    pair = _pair(
        runs,
        lambda a, b: (
            a.model.setup == b.model.setup == "angle_alphabet"
            and a.loss.normalise == "none" != b.loss.normalise
        ),
    )
    if pair is None:
        return None
    a, b = pair
    first = a.records[0].raw
    return {
        "steps": b.step,
        "alph_a": a.evals[-1].score["alphabet"],
        "alph_b": b.evals[-1].score["alphabet"],
        "chance": a.chance()["alphabet"],
        "angle_a": math.sqrt(a.evals[-1].score["angle"]),
        "angle_b": math.sqrt(b.evals[-1].score["angle"]),
        "angle0": first["angle"],
        "alph0": first["alphabet"],
    }


def _scales_outcome(f: dict) -> int:
    if f["alph_a"] < f["chance"] + 0.1 and f["alph_b"] > f["alph_a"] + 0.1:
        return 0
    return 2 if f["alph_a"] > f["alph_b"] + 0.05 else 1


LESSON = Lesson(
    LAB,
    "Two inputs, two outputs, one loss",
    "Three comparisons on glyphs of six alphabets, ten characters each. A and B start from the same "
    "weights where their layers match and see the same batches; predict what B's one difference does.",
    (
        Step(
            "A second input",
            "The alphabet as an input helps",
            "A reads the image only; B reads the image and, as a second input, which alphabet it comes "
            "from. Whose character accuracy will be higher?",
            (
                "B's: it is told the alphabet",
                "The same: the image holds everything",
                "A's: the extra input distracts B",
            ),
            0,
            "the character accuracy curves of A and B.",
            _input_facts,
            lambda f: 0 if f["char_b"] > f["char_a"] + 0.02 else 2 if f["char_a"] > f["char_b"] + 0.02 else 1,
            "Character accuracy at step {early}: A {early_a:.0%}, B {early_b:.0%}; at step {steps}: "
            "A {char_a:.1%}, B {char_b:.1%} (a guess: {chance:.1%}).",
            "Told the alphabet, B only has to tell its ten characters apart, not all 60. The second input "
            "(a one-hot vector of the alphabet) joins the image's features before the head, so the head "
            "learns to combine what it sees with what it is told. An input that carries information the "
            "image does not make plain is worth adding.",
        ),
        Step(
            "Weighting two outputs",
            "Character weighted 2×",
            "One model, two heads: the character and the alphabet, from one loss. A weights them 1 : 1, "
            "B 2 : 1 for the character. At the end?",
            (
                "B is better on the character, not on the alphabet",
                "B is better on both",
                "No better: a weight only scales the loss",
            ),
            0,
            "the score curves, then the loss parts.",
            _weights_facts,
            _weights_outcome,
            "At step {steps}, weighted {weights_a} in A and {weights_b} in B: character accuracy A "
            "{char_a:.1%}, B {char_b:.1%}; alphabet accuracy A {alph_a:.1%}, B {alph_b:.1%}.",
            "The total loss is a weighted sum, and both heads read the same shared layers. Doubling the "
            "character's weight doubles its share of the gradient that trains those layers, so they learn "
            "more of what tells characters apart, and the alphabet gains nothing. The weights split one "
            "network's capacity between its tasks; the Trade-off tab sweeps them.",
        ),
        Step(
            "Losses on different scales",
            "Unnormalised MSE drowns the classifier",
            "Two outputs: the rotation angle (an MSE in degrees²) and the alphabet (a cross-entropy). A adds "
            "the raw losses; B divides each by its value at the start. After 100 steps, A's alphabet head?",
            ("Near chance: 1 in 6", "As good as B's", "Better than B's"),
            0,
            "the loss parts: how large is each term of A's total?",
            _scales_facts,
            _scales_outcome,
            "At the first step the angle's loss was {angle0:,.0f} and the alphabet's {alph0:.2f}. At step "
            "{steps}: alphabet accuracy A {alph_a:.0%}, B {alph_b:.0%} (a guess: {chance:.0%}); angle error "
            "A {angle_a:.1f}°, B {angle_b:.1f}°.",
            "Added raw, the angle's loss is hundreds of times the alphabet's, and so is its gradient: the "
            "shared layers follow the angle and the alphabet head gets almost no say. Dividing each loss by "
            "its value at the start puts both at 1, so each gets a fair share of the gradient. The price: "
            "the shared layers now serve the alphabet too, so the angle's error falls more slowly.",
        ),
    ),
)


def _scores(run, task: str) -> list[tuple[int, float]]:
    return [(e.step, e.score[task]) for e in run.evals]


def _alphabet_50(runs: Runs, lr_changes) -> Progress:
    run = runs["A"]
    if "alphabet" not in run.tasks:
        return Progress(False, "A has no alphabet output: choose the angle-and-alphabet model")
    return reach(run, _scores(run, "alphabet"), 0.5, "alphabet accuracy")


def _characters_75(runs: Runs, lr_changes) -> Progress:
    run = runs["A"]
    if "char" not in run.tasks:
        return Progress(False, "A has no character output: choose a model that predicts the character")
    return reach(run, _scores(run, "char"), 0.75, "character accuracy")


GLYPH_KEYS = ("data.n_alphabets", "data.per_character", "data.noise", "data.max_angle", "data.seed")
GLYPHS = kept(
    {key: to_values(DEFAULT)[key] for key in GLYPH_KEYS},
    "the glyphs as loaded (six alphabets, 40 samples per character)",
)

EXERCISES = (
    Exercise(
        "alphabet-with-angle",
        LAB,
        "The alphabet above 50%, with the angle on",
        "A predicts the rotation angle and the alphabet from one weighted loss, and its alphabet head "
        "stays near chance (1 in 6). Keep both outputs, with the angle's weight above 0, and get A's "
        "alphabet accuracy above 50%.",
        "Look at the loss parts: how large is each term of the total when training starts?",
        "Unnormalised MSE drowns the classifier",
        (
            equals("a.model.setup", "angle_alphabet", "the angle-and-alphabet model"),
            Rule("the angle's weight above 0", ("a.loss.angle",), lambda w: w > 0),
            GLYPHS,
        ),
        _alphabet_50,
        {"compare": False},
    ),
    Exercise(
        "characters-75",
        LAB,
        "75% of the characters in 200 steps",
        "Get A's character accuracy to 75% (60 characters: a guess is right 1.7% of the time) in at most "
        "200 training steps, on the same glyphs.",
        "The model may read more than the image.",
        "The alphabet as an input helps",
        (at_most("train.steps", 200, "200 steps or fewer"), GLYPHS),
        _characters_75,
        {"compare": False},
    ),
)
