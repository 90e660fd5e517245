"""Guided lessons and exercises, in the core: every step's preset shows the answer its lesson calls
right, its reveal quotes the run's own numbers, and every exercise has a setting that meets it and one
that does not (each trained here on its fixed seed, in bounded steps).

Runs are trained as the pages train them (same configs, labels and side-by-side steps), without the
live engine. The numbers in the comments were measured on a 2-core CPU with one torch thread.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re

import pytest
import torch

from core.config import OptimConfig, with_changes
from core.data.catalog import DATASETS, IMAGE_DATASETS
from core.data.glyphs import generate
from core.data.series import SERIES
from core.gradients.presets import EXPLODING, GRADIENT_PRESETS, VANISHING
from core.images.presets import BN_OFF, BN_ON, IMAGE_PRESETS, SMALL, WIDE
from core.images.run import ImageRun
from core.lessons import EXERCISES, LESSONS, evaluate, exercises_of, reveal
from core.lessons.model import Progress, Rule, equals, kept, power_of_ten, relative, steady
from core.multitask.config import MTTrainConfig
from core.multitask.presets import IMAGE_ONLY, MULTITASK_PRESETS, NORMALISED_MSE, RAW_MSE, WITH_ALPHABET
from core.multitask.run import MultiTaskRun
from core.optimizers.presets import RACE_BASE, RACE_PRESETS
from core.overfitting.presets import FIT_PRESETS
from core.overfitting.presets import SMALL as FIT_SMALL
from core.overfitting.run import FitRun
from core.sequences.compare import lab_configs
from core.sequences.config import CellConfig
from core.sequences.presets import LONG_WINDOW, SEQ_BASE, SEQ_PRESETS
from core.sequences.run import SeqRun
from core.snapshots import LrChange
from core.training import Run, advance_together

CPU = torch.device("cpu")
LABS = ("gradients", "optimizers", "images", "multitask", "sequences", "overfitting")
PRESET_NAMES = {
    "gradients": set(GRADIENT_PRESETS),
    "optimizers": set(RACE_PRESETS),  # every step plays a race (the surface presets do not play)
    "images": set(IMAGE_PRESETS),
    "multitask": set(MULTITASK_PRESETS),
    "sequences": set(SEQ_PRESETS),
    "overfitting": set(FIT_PRESETS),
}
NUMBER = re.compile(r"\d")


# ---- training, as the pages do ----------------------------------------------------------------


def trained(runs: dict) -> dict:
    """Every run stepped side by side to its end (or its divergence), as the live worker does."""
    advance_together(list(runs.values()), max_rounds=10_000, max_seconds=600)
    assert all(run.done for run in runs.values())
    return runs


@functools.cache
def mlp(*cfgs) -> dict:
    """Label -> trained Run: "A" (and "B") for the Gradients lab."""
    data = DATASETS.get(cfgs[0].data.name).load(cfgs[0].data)
    return trained({label: Run(cfg, data, CPU) for label, cfg in zip("AB", cfgs, strict=False)})


@functools.cache
def race(base, *optims: OptimConfig) -> dict:
    """Racers labelled by slot, as the Optimizers lab labels them ("1 · ...")."""
    data = DATASETS.get(base.data.name).load(base.data)
    return trained(
        {
            f"{i} · {o.name}": Run(dataclasses.replace(base, optim=o), data, CPU)
            for i, o in enumerate(optims, 1)
        }
    )


@functools.cache
def images_of(data):
    return IMAGE_DATASETS.get(data.name).load(data)


@functools.cache
def cnn(*cfgs) -> dict:
    return trained(
        {label: ImageRun(cfg, images_of(cfg.data), CPU) for label, cfg in zip("AB", cfgs, strict=False)}
    )


@functools.cache
def glyphs_of(data):
    return generate(data)


@functools.cache
def two_heads(*cfgs) -> dict:
    return trained(
        {label: MultiTaskRun(cfg, glyphs_of(cfg.data), CPU) for label, cfg in zip("AB", cfgs, strict=False)}
    )


@functools.cache
def forecasters(base, cells: tuple[str, ...], splits: tuple[str, ...] = ("time",)) -> dict:
    series = SERIES.get(base.data.name).load(base.data)
    return trained(
        {label: SeqRun(cfg, series, CPU) for label, cfg in lab_configs(base, cells, splits).items()}
    )


@functools.cache
def fits(*cfgs) -> dict:
    """Label -> trained FitRun, "A" (and "B"), as the Overfitting lab plays them."""
    return trained({label: FitRun(cfg, device=CPU) for label, cfg in zip("AB", cfgs, strict=False)})


def preset_runs(lab: str, name: str) -> dict:
    """The runs a step's preset plays on its page."""
    if lab == "gradients":
        p = GRADIENT_PRESETS[name]
        return mlp(p.a, *([p.b] if p.b else []))
    if lab == "optimizers":
        p = RACE_PRESETS[name]
        return race(p.base, *p.racers)
    if lab == "images":
        p = IMAGE_PRESETS[name]
        return cnn(p.a, p.b)
    if lab == "multitask":
        p = MULTITASK_PRESETS[name]
        return two_heads(p.a, p.b)
    if lab == "overfitting":
        p = FIT_PRESETS[name]
        return fits(p.a, *([p.b] if p.b else []))
    p = SEQ_PRESETS[name]
    return forecasters(p.base, p.cells, p.splits)


# ---- the lessons as data -------------------------------------------------------------------------


def test_every_lab_has_a_lesson_of_three_to_five_steps_built_from_its_presets():
    assert LESSONS.names() == list(LABS)
    for lab in LABS:
        lesson = LESSONS.get(lab)
        assert lesson.lab == lab and 3 <= len(lesson.steps) <= 5
        for step in lesson.steps:
            assert step.preset in PRESET_NAMES[lab], (lab, step.preset)
            assert len(step.choices) == 3 and 0 <= step.answer < 3
            assert len(set(step.choices)) == 3
            assert step.question.endswith("?") and step.why.endswith(".")


def test_the_right_answers_are_not_always_in_the_same_place():
    answers = [step.answer for lab in LABS for step in LESSONS.get(lab).steps]
    assert set(answers) == {0, 1, 2}


def test_every_lab_has_at_least_two_exercises_with_link_safe_ids():
    for lab in LABS:
        exercises = exercises_of(lab)
        assert len(exercises) >= 2, lab
        for exercise in exercises:
            assert re.fullmatch(r"[a-z0-9-]+", exercise.id)
            assert exercise.start in PRESET_NAMES[lab], exercise.start
    assert len(EXERCISES) == sum(len(exercises_of(lab)) for lab in LABS)


def test_an_unknown_lesson_or_exercise_fails_listing_the_valid_names():
    with pytest.raises(ValueError, match="gradients, optimizers"):
        LESSONS.get("chemistry")
    with pytest.raises(ValueError, match="sigmoid-85"):
        EXERCISES.get("nope")


def test_no_reveal_before_the_runs_finish():
    step = LESSONS.get("gradients").steps[0]
    run = Run(VANISHING, DATASETS.get("spiral").load(VANISHING.data), CPU)
    run.advance(10, max_seconds=math.inf)
    assert reveal(step, {"A": run}) is None
    assert reveal(step, {}) is None


def test_a_step_whose_runs_no_longer_fit_its_question_reveals_nothing():
    """The clipping step with clipping switched off: its question does not fit, so no reveal."""
    clipped = LESSONS.get("gradients").steps[3]
    assert reveal(clipped, mlp(EXPLODING)) is None


# ---- every step: the preset shows the answer, the reveal quotes the run ------------------------------

STEPS = [(lab, n, step) for lab in LABS for n, step in enumerate(LESSONS.get(lab).steps, 1)]
SLOW_LABS = {"images", "multitask", "sequences"}


@pytest.mark.parametrize(
    ("lab", "n", "step"),
    [pytest.param(*s, marks=[pytest.mark.slow] if s[0] in SLOW_LABS else []) for s in STEPS],
    ids=[f"{lab}-{n}" for lab, n, _ in STEPS],
)
def test_each_step_shows_its_answer_and_quotes_its_own_numbers(lab, n, step):
    runs = preset_runs(lab, step.preset)
    shown = reveal(step, runs)
    assert shown is not None, "the preset's runs fit the step's question"
    assert shown.shown == step.answer, (shown.shown, shown.measured)
    assert NUMBER.search(shown.measured) and "{" not in shown.measured
    facts = step.measure(runs)
    assert shown.measured == step.measured.format(**facts)


def test_the_vanishing_reveal_quotes_the_ratio_of_its_own_records():
    step = LESSONS.get("gradients").steps[0]
    runs = mlp(VANISHING)
    first = [r.grad_norms["hidden 1"] / r.grad_norms["output"] for r in runs["A"].records[:100]]
    median = sorted(first)[49:51]
    text = reveal(step, runs).measured
    assert relative(sum(median) / 2) in text  # ~920 million times smaller
    assert f"{runs['A'].evals[-1].test_accuracy:.0%}" in text


def test_the_lr_race_reveal_quotes_every_final_loss():
    step = LESSONS.get("optimizers").steps[1]
    runs = preset_runs("optimizers", step.preset)
    text = reveal(step, runs).measured
    for run in runs.values():
        assert f"lr {run.cfg.optim.lr:g}: {run.evals[-1].train_loss:.3f}" in text


# ---- exercises: one setting meets each goal, another does not ----------------------------------------


def check(exercise_id: str, runs: dict, lr_changes=None) -> Progress:
    return EXERCISES.get(exercise_id).check(runs, lr_changes or {})


def test_sigmoid_85_met_with_batchnorm_and_larger_batches_not_as_loaded():
    cured = with_changes(VANISHING, model=dict(batchnorm=True), train=dict(batch_size=128))
    met = check("sigmoid-85", mlp(cured))  # best ~97%
    assert met.met and "best test accuracy" in met.text
    missed = check("sigmoid-85", mlp(VANISHING))  # ~48%
    assert not missed.met and missed.text.endswith("of 85%")


def test_tame_exploding_met_with_batchnorm_not_as_loaded():
    assert check("tame-exploding", mlp(with_changes(EXPLODING, model=dict(batchnorm=True)))).met  # ~90%
    missed = check("tame-exploding", mlp(EXPLODING))
    assert not missed.met and "diverged at step" in missed.text


def test_tame_exploding_does_not_count_a_learning_rate_lowered_mid_run():
    runs = mlp(with_changes(EXPLODING, model=dict(batchnorm=True)))
    missed = check("tame-exploding", runs, {"A": (LrChange(30, 0.2, 0.01),)})
    assert not missed.met and "changed at step 30" in missed.text


def _sgd(lr: float, momentum: float = 0.0, schedule: str = "none") -> OptimConfig:
    return OptimConfig(name="sgd", lr=lr, momentum=momentum, schedule=schedule)


def test_the_largest_converging_lr_is_met_at_3_and_neither_below_nor_above():
    # settled (median over the last 100 steps): 0.148 at lr 3, 0.10 at lr 2, 0.86 at lr 5. The last
    # evaluation alone bounced from 0.12 to 0.36 at lr 3 between two CPUs' roundings: not a goal to judge by
    assert check("sgd-largest-lr", race(RACE_BASE, _sgd(3.0))).met
    smaller = check("sgd-largest-lr", race(RACE_BASE, _sgd(2.0)))  # converges too, but is not the largest
    assert not smaller.met and "larger one" in smaller.text
    larger = check("sgd-largest-lr", race(RACE_BASE, _sgd(5.0)))  # bounces: ~1.4
    assert not larger.met and "does not converge" in larger.text


def test_sgd_with_momentum_beats_adam_to_a_train_loss_of_0_1_plain_sgd_does_not():
    adam = OptimConfig(name="adam", lr=0.01)
    met = check("sgd-beats-adam", race(RACE_BASE, _sgd(0.3, 0.9), adam))  # step 50 against 110
    assert met.met and "Adam at step" in met.text
    assert not check("sgd-beats-adam", race(RACE_BASE, _sgd(0.01), adam)).met


def test_a_schedule_settles_lr_0_5_a_constant_rate_does_not():
    assert check("settle-large-lr", race(RACE_BASE, _sgd(0.5, 0.9, "cosine"))).met  # ~0.049
    missed = check("settle-large-lr", race(RACE_BASE, _sgd(0.5, 0.9)))  # ~0.093
    assert not missed.met and "goal below 0.06" in missed.text


@pytest.mark.slow
def test_batchnorm_gets_plain_sgd_to_90_percent_in_200_steps():
    assert check("sgd-90", cnn(BN_ON)).met  # BN_ON is BN_OFF with BatchNorm on: ~93%
    assert not check("sgd-90", cnn(BN_OFF)).met  # ~57%


@pytest.mark.slow
def test_a_cnn_under_5000_weights_reaches_93_percent_with_a_lean_head():
    lean = dataclasses.replace(
        SMALL,
        model=dataclasses.replace(SMALL.model, channels=4, head=0),
        train=dataclasses.replace(SMALL.train, steps=500),
    )
    met = check("tiny-cnn-93", cnn(lean))  # 4,266 weights, ~94%
    assert met.met and "4,266 weights" in met.text
    assert not check("tiny-cnn-93", cnn(SMALL)).met  # 3,418 weights, ~89%
    too_big = check("tiny-cnn-93", cnn(WIDE))
    assert not too_big.met and "at most 5,000 allowed" in too_big.text


@pytest.mark.slow
def test_normalised_losses_get_the_alphabet_above_50_percent_raw_ones_do_not():
    longer = dataclasses.replace(NORMALISED_MSE, train=MTTrainConfig(steps=200))
    assert check("alphabet-with-angle", two_heads(longer)).met  # ~60%
    assert not check("alphabet-with-angle", two_heads(RAW_MSE)).met  # ~19%


@pytest.mark.slow
def test_the_alphabet_as_input_reaches_75_percent_of_characters_in_200_steps():
    steps = MTTrainConfig(steps=200)
    assert check("characters-75", two_heads(dataclasses.replace(WITH_ALPHABET, train=steps))).met  # ~80%
    assert not check("characters-75", two_heads(dataclasses.replace(IMAGE_ONLY, train=steps))).met  # ~69%


@pytest.mark.slow
def test_a_plain_rnn_beats_yesterday_with_longer_training():
    longer = dataclasses.replace(LONG_WINDOW, train=dataclasses.replace(LONG_WINDOW.train, steps=300))
    met = check("rnn-beats-yesterday", forecasters(longer, ("rnn",)))  # ~41% below
    assert met.met and "below 'same time the day before'" in met.text
    assert not check("rnn-beats-yesterday", forecasters(LONG_WINDOW, ("rnn", "lstm", "gru"))).met  # ~1%


@pytest.mark.slow
def test_an_lstm_of_8_units_forecasts_within_1300_weights():
    def sized(hidden: int):
        return dataclasses.replace(SEQ_BASE, model=CellConfig(hidden=hidden))

    met = check("small-forecaster", forecasters(sized(8), ("lstm",)))  # 1,216 weights, ~31% below
    assert met.met and "1,216 weights" in met.text
    assert not check(
        "small-forecaster", forecasters(sized(4), ("lstm",))
    ).met  # 592 weights, worse than naive
    too_big = check("small-forecaster", forecasters(SEQ_BASE, ("lstm", "gru")))
    assert not too_big.met and "more than 1,300 weights" in too_big.text


# ---- rules and verdicts ---------------------------------------------------------------------------


def test_a_verdict_is_met_only_when_every_rule_holds_and_says_what_is_missing():
    exercise = EXERCISES.get("sigmoid-85")
    runs = mlp(with_changes(VANISHING, model=dict(batchnorm=True), train=dict(batch_size=128)))
    kept_values = {"a.model.depth": 10, "a.model.activation": "sigmoid"}
    assert evaluate(exercise, kept_values, runs, {}).met
    broken = evaluate(exercise, kept_values | {"a.model.activation": "relu"}, runs, {})
    assert not broken.met and broken.missing.endswith(", but keep the sigmoid activation (now relu)")
    missing = evaluate(exercise, kept_values, mlp(VANISHING), {})
    assert missing.missing.startswith("best test accuracy") and missing.missing.endswith("of 85%")
    assert evaluate(exercise, kept_values, {}, {}).missing.startswith("no run")
    assert evaluate(exercise, kept_values, {"B": runs["A"]}, {}).missing.startswith("no run")  # A not built


def test_rules_read_settings_and_say_their_current_values():
    assert (
        equals("compare", True, "B switched on").broken({"compare": False}) == "keep B switched on (now off)"
    )
    assert equals("a.optim.lr", 0.2, "lr 0.2").broken({"a.optim.lr": 0.2}) is None
    assert (
        Rule("a positive weight", ("w",), lambda w: w > 0).broken({}) == "keep a positive weight (now None)"
    )
    setup = kept({"model.depth": 2, "model.width": 16}, "the network as loaded")
    assert setup.broken({"model.depth": 2, "model.width": 16}) is None
    assert setup.broken({"model.depth": 3, "model.width": 16}) == "keep the network as loaded"


def test_numbers_read_aloud():
    assert power_of_ten(1.09e-9) == "1.1 × 10⁻⁹" and power_of_ten(119.4) == "119"
    assert relative(1.09e-9) == "917 million times smaller than"
    assert relative(0.47) == "2.1 times smaller than" and relative(1.1) == "about the same as"
    assert steady("A", {}) is None and not steady("A", {"A": (LrChange(5, 0.1, 1.0),)}).met


def test_halve_the_gap_met_with_dropout_and_weight_decay_not_as_loaded():
    cured = with_changes(FIT_SMALL, model=dict(dropout=0.5), optim=dict(weight_decay=0.01))
    met = check("halve-the-gap", fits(cured))  # gap 0.43, 81%
    assert met.met and "gap 0.4" in met.text
    missed = check("halve-the-gap", fits(FIT_SMALL))  # gap 0.87
    assert not missed.met and "gap 0.87" in missed.text


def test_a_validation_loss_below_0_55_met_with_weight_decay_not_as_loaded():
    assert check("lower-val-loss", fits(with_changes(FIT_SMALL, optim=dict(weight_decay=0.01)))).met  # 0.545
    missed = check("lower-val-loss", fits(FIT_SMALL))  # 0.64
    assert not missed.met and "0.64" in missed.text
