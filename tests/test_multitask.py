"""The Two inputs, two outputs lab's core: setups and shapes, a fair start, the loss the optimizer minimises,
the normalisers, validation, the weight sweep and the charts."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from core.data.glyphs import GlyphConfig, generate
from core.errors import ConfigError
from core.multitask import figures
from core.multitask.config import LossConfig, MTTrainConfig, MultiTaskConfig, NetConfig, validate
from core.multitask.models import SETUPS, TASKS, build_net, net_table, task_loss
from core.multitask.run import NORMALISER_IMAGES, MultiTaskRun
from core.multitask.sweep import Sweep, sweep_configs
from core.training import Status
from tests.conftest import sweep_weights

CPU = torch.device("cpu")
TINY = GlyphConfig(n_alphabets=3, per_character=12, size=16)


@pytest.fixture(scope="module")
def glyphs():
    return generate(TINY)


def config(setup: str = "char_alphabet", **sections) -> MultiTaskConfig:
    """A tiny, dull run: 16-pixel glyphs of three alphabets, 4 channels, 16 hidden units."""
    cfg = MultiTaskConfig(
        data=TINY,
        model=NetConfig(setup=setup, channels=4, hidden=16),
        train=MTTrainConfig(batch_size=8, steps=6, eval_every=3),
    )
    return dataclasses.replace(
        cfg, **{name: dataclasses.replace(getattr(cfg, name), **f) for name, f in sections.items()}
    )


@pytest.mark.parametrize("setup", SETUPS.names())
def test_every_setup_has_a_head_per_task_with_the_shapes_of_its_table(glyphs, setup):
    spec = SETUPS.get(setup)
    net = build_net(config(setup).model, glyphs.image_shape, glyphs.n_chars, glyphs.n_alphabets, seed=0)
    out = net(glyphs.x_train[:5], glyphs.alphabet_train[:5] if spec.alphabet_input else None)
    sizes = {"char": glyphs.n_chars, "alphabet": glyphs.n_alphabets, "angle": 1}
    assert {t: tuple(o.shape) for t, o in out.items()} == {t: (5, sizes[t]) for t in spec.tasks}
    rows = net_table(config(setup).model, glyphs.image_shape, glyphs.n_chars, glyphs.n_alphabets)
    assert sum(r.params for r in rows) == sum(p.numel() for p in net.parameters())
    assert [r.shape for r in rows if r.name.endswith("head")] == [(sizes[t],) for t in spec.tasks]
    assert ("concat" in [r.name for r in rows]) == spec.alphabet_input
    assert [name for name, _ in net.layers()] == [
        "conv 1",
        "conv 2",
        "dense",
        *(f"{t} head" for t in spec.tasks),
    ]


def test_same_seed_same_start_and_the_alphabet_input_starts_silent(glyphs):
    """The encoder, the dense layer and a task's head start the same in every setup; the one-hot's weights
    start at 0, so image+alphabet -> character starts as exactly the image-only model."""
    shape, k, a = glyphs.image_shape, glyphs.n_chars, glyphs.n_alphabets
    nets = {s: build_net(config(s).model, shape, k, a, seed=3) for s in SETUPS.names()}
    states = {s: net.state_dict() for s, net in nets.items()}
    for name, tensor in states["char"].items():
        if name.startswith(("encoder", "dense")):
            assert all(torch.equal(tensor, states[s][name]) for s in SETUPS.names())
    assert torch.equal(
        states["char_alphabet"]["heads.alphabet.weight"], states["angle_alphabet"]["heads.alphabet.weight"]
    )
    assert torch.equal(states["char"]["heads.char.weight"], states["char_alphabet"]["heads.char.weight"])
    given = states["char_given_alphabet"]["heads.char.weight"]  # (K, hidden + A)
    assert torch.equal(given[:, :16], states["char"]["heads.char.weight"]) and not given[:, 16:].any()
    x, alphabet = glyphs.x_test[:7], glyphs.alphabet_test[:7]
    torch.testing.assert_close(nets["char_given_alphabet"](x, alphabet)["char"], nets["char"](x)["char"])
    other = build_net(config("char").model, shape, k, a, seed=4).state_dict()
    assert not torch.equal(other["dense.0.weight"], states["char"]["dense.0.weight"])


@pytest.mark.parametrize(
    "setup,normalise", [("char_alphabet", "none"), ("angle_alphabet", "start"), ("char", "none")]
)
def test_the_loss_the_optimizer_minimises_is_the_weighted_sum_the_page_shows(glyphs, setup, normalise):
    """Exactly: the recorded total is the float32 sum of the recorded parts, each part is weight x raw /
    normaliser, and the SGD update is -lr x the gradient of that sum, computed here from scratch."""
    cfg = config(
        setup,
        loss=dict(char=2.0, alphabet=0.5, angle=3.0, normalise=normalise),
        optim=dict(name="sgd", lr=0.01, momentum=0.0),
    )
    run = MultiTaskRun(cfg, glyphs, CPU)
    batches, draw = [], run._batches.next
    run._batches.next = lambda: batches.append(draw()) or batches[-1]  # see each step's batch
    for _ in range(3):
        before = copy.deepcopy(run.model)
        record = run.advance(1, max_seconds=math.inf)[0]
        idx = batches[-1]
        parts = [np.float32(record.parts[t]) for t in run.tasks]
        assert np.float32(record.total) == sum(parts[1:], parts[0])  # bit for bit
        for t in run.tasks:
            expected = run.weights[t] / run.normalisers[t] * record.raw[t]
            assert record.parts[t] == pytest.approx(expected, rel=1e-6)
        g = run.glyphs
        out = before(g.x_train[idx], g.alphabet_train[idx] if run.setup.alphabet_input else None)
        targets = {"char": g.char_train, "alphabet": g.alphabet_train, "angle": g.angle_train}
        raw = {t: task_loss(t, out[t], targets[t][idx]) for t in run.tasks}
        assert {t: v.item() for t, v in raw.items()} == pytest.approx(record.raw, rel=1e-6)
        total = sum(run.weights[t] / run.normalisers[t] * raw[t] for t in run.tasks)
        assert total.item() == pytest.approx(record.total, rel=1e-6)
        total.backward()
        for (name, p0), p1 in zip(before.named_parameters(), run.model.parameters(), strict=True):
            torch.testing.assert_close(p1, p0 - 0.01 * p0.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_normalisers_are_each_loss_of_the_initial_model_on_a_fixed_sample(glyphs):
    run = MultiTaskRun(config("angle_alphabet", loss=dict(normalise="start")), glyphs, CPU)
    g, sample = glyphs, slice(0, NORMALISER_IMAGES)
    with torch.no_grad():
        net = build_net(run.cfg.model, g.image_shape, g.n_chars, g.n_alphabets, seed=0)
        out = net(g.x_train[sample])
    assert run.normalisers["angle"] == pytest.approx(
        task_loss("angle", out["angle"], g.angle_train[sample]).item()
    )
    assert run.normalisers["alphabet"] == pytest.approx(np.log(3), rel=0.2)  # near log(classes) at the start
    assert run.normalisers["angle"] > 100  # degrees²: the reason to normalise
    assert run.factors == {t: 1.0 / run.normalisers[t] for t in run.tasks}
    assert MultiTaskRun(config("angle_alphabet"), glyphs, CPU).normalisers == {"angle": 1.0, "alphabet": 1.0}


def test_weights_in_sum_to_one_form_and_chance_levels(glyphs):
    run = MultiTaskRun(config(loss=dict(char=3.0, alphabet=1.0)), glyphs, CPU)
    assert run.weights == {"char": 3.0, "alphabet": 1.0} and run.shares == {"char": 0.75, "alphabet": 0.25}
    assert run.chance() == {"char": pytest.approx(1 / 30), "alphabet": pytest.approx(1 / 3)}
    angle = MultiTaskRun(config("angle_alphabet"), glyphs, CPU).chance()["angle"]
    assert angle == pytest.approx(((glyphs.angle_test - glyphs.angle_train.mean()) ** 2).mean().item())


def test_a_run_trains_evaluates_finishes_and_resets_to_the_same_start(glyphs):
    run = MultiTaskRun(config(), glyphs, CPU)
    first = run.advance(6, max_seconds=math.inf)
    assert run.status is Status.FINISHED and [e.step for e in run.evals] == [0, 3, 6]
    assert set(run.evals[-1].score) == {"char", "alphabet"} and 0 <= run.evals[-1].score["char"] <= 1
    run.reset()
    assert run.step == 0 and [r.total for r in run.advance(6, max_seconds=math.inf)] == [
        r.total for r in first
    ]


def test_a_huge_learning_rate_diverges_as_a_result_not_an_error(glyphs):
    run = MultiTaskRun(config("angle_alphabet", optim=dict(name="sgd", lr=10.0, momentum=0.0)), glyphs, CPU)
    run.advance(6, max_seconds=math.inf)
    assert run.status is Status.DIVERGED and "Diverged at step" in run.message


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(model=dict(setup="three_heads")), "Unknown model 'three_heads'"),
        (dict(loss=dict(char=-1.0)), "char weight must be between 0"),
        (dict(loss=dict(char=0.0, alphabet=0.0)), "At least one loss weight"),
        (dict(loss=dict(normalise="median")), "Unknown normalisation 'median'"),
        (dict(train=dict(steps=0)), "number of steps"),
        (dict(optim=dict(lr=0.0)), "learning rate"),
        (dict(data=dict(n_alphabets=9)), "number of alphabets"),
    ],
)
def test_bad_settings_are_one_sentence(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate(config(**changes))


def test_an_unused_weight_may_be_anything_valid():
    validate(config("char", loss=dict(alphabet=0.0, angle=0.0)))


def test_the_sweep_trains_each_weighting_from_the_same_start(glyphs):
    cfg = config(optim=dict(name="adam", lr=0.003))
    sweep = sweep_weights(cfg, glyphs, steps=4, shares=(0.25, 0.5))
    assert sweep.tasks == ("char", "alphabet") and sweep.steps == 4
    assert [p.weights for p in sweep.points] == [
        {"char": 0.25, "alphabet": 0.75},
        {"char": 0.5, "alphabet": 0.5},
    ]
    assert sweep.shares() == [0.25, 0.5]
    same = MultiTaskRun(sweep_configs(cfg, 4, (0.5,))[0], glyphs, CPU)
    same.advance(4, max_seconds=math.inf)
    assert sweep.points[1].score == same.evals[-1].score  # same weights, same batches, same result
    with pytest.raises(ConfigError, match="one output"):
        sweep_configs(config("char_given_alphabet"), 4)


def test_the_charts_build_for_every_kind_of_run(glyphs):
    runs = {s: MultiTaskRun(config(s), glyphs, CPU) for s in ("char_alphabet", "angle_alphabet", "char")}
    for run in runs.values():
        run.advance(6, max_seconds=math.inf)
    parts = figures.loss_parts(
        {label: run.records for label, run in runs.items()}, dict.fromkeys(runs, "none")
    )
    names = [t.name for t in parts.data]
    assert "char_alphabet: total = sum of the weighted parts" in names
    assert "angle_alphabet: weighted alphabet, cross-entropy" in names
    assert "char: total: character cross-entropy" in names  # one task: its part is its total
    assert not any(name.startswith("char: weighted") for name in names)
    assert parts.layout.yaxis.title.text == "loss (log scale; units in the legend)"
    scores = figures.task_scores({k: r.evals for k, r in runs.items()}, runs["char_alphabet"].chance())
    assert "chance: alphabet" in [t.name for t in scores.data]
    angle = figures.angle_error({"angle_alphabet": runs["angle_alphabet"].evals}, 500.0)
    assert [t.name for t in angle.data] == ["always the mean angle", "angle_alphabet: angle"]
    for setup in ("char_alphabet", "angle_alphabet"):
        sweep = sweep_weights(config(setup), glyphs, steps=2, shares=(0.2, 0.8))
        fig = figures.tradeoff(sweep)
        assert list(fig.data[0].x) == [0.2, 0.8]
        right = fig.to_plotly_json()["layout"].get("yaxis2")
        assert (right is not None) == (setup == "angle_alphabet")
    fake = dataclasses.replace(
        sweep, points=(dataclasses.replace(sweep.points[0], diverged=True), sweep.points[1])
    )
    assert isinstance(fake, Sweep) and figures.tradeoff(fake).layout.annotations[0].text == "diverged"


def test_the_total_never_hides_a_part_without_saying_so(glyphs):
    """The raw angle MSE is ~99.7% of the total: its dotted line runs inside the total's pale band, and its
    legend entry says so; normalised, both parts show apart from the total, in units of their start."""
    raw = MultiTaskRun(config("angle_alphabet"), glyphs, CPU)
    normalised = MultiTaskRun(config("angle_alphabet", loss=dict(normalise="start")), glyphs, CPU)
    for run in (raw, normalised):
        run.advance(6, max_seconds=math.inf)
    fig = figures.loss_parts({"A": raw.records, "B": normalised.records}, {"A": "none", "B": "start"})
    lines = {t.name: t for t in fig.data}
    assert list(lines) == [
        "A: total = sum of the weighted parts",
        "A: weighted angle, MSE (degrees²) ≈ total",
        "A: weighted alphabet, cross-entropy",
        "B: total = sum of the weighted parts",
        "B: weighted angle, ÷ its start",
        "B: weighted alphabet, ÷ its start",
    ]
    total, angle = (
        lines["A: total = sum of the weighted parts"],
        lines["A: weighted angle, MSE (degrees²) ≈ total"],
    )
    assert min(angle.y / total.y) > 0.97  # the same line to the eye: drawn thin on top of a wide pale band
    assert total.line.width >= 3 * angle.line.width and total.opacity < 1 and angle.line.dash != "solid"
    assert [t.name for t in fig.data].index(angle.name) > [t.name for t in fig.data].index(total.name)


def test_every_task_has_a_label_and_a_loss():
    assert set(TASKS) == {"char", "alphabet", "angle"}
    assert {t for s in SETUPS.names() for t in SETUPS.get(s).tasks} == set(TASKS)
    assert LossConfig().normalise == "none"
