"""Registries fail loudly; configs validate, round-trip through text, and build models."""

from __future__ import annotations

import math

import pytest
import torch

from core.config import (
    ModelConfig,
    RunConfig,
    field_types,
    format_value,
    from_values,
    parse_value,
    to_values,
    validate,
    with_changes,
)
from core.data.catalog import DATASETS
from core.errors import ConfigError
from core.models import build_mlp
from core.registry import ACTIVATIONS, INITIALIZERS, LOSSES, OPTIMIZERS


@pytest.mark.parametrize("registry", [ACTIVATIONS, INITIALIZERS, OPTIMIZERS, LOSSES, DATASETS])
def test_unknown_name_lists_the_valid_names(registry):
    with pytest.raises(ConfigError) as err:
        registry.get("no-such-thing")
    message = str(err.value)
    assert "no-such-thing" in message
    assert all(name in message for name in registry.names())


def test_course_choices_are_registered():
    assert ACTIVATIONS.names() == ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "linear"]
    assert INITIALIZERS.names() == [
        "default", "zeros", "uniform", "normal",
        "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
    ]  # fmt: skip
    assert OPTIMIZERS.names() == ["sgd", "adagrad", "rmsprop", "adam", "adamw"]
    assert {"circle", "xor", "gauss", "spiral", "moons", "digits"} <= set(DATASETS.names())


def test_every_optimizer_has_a_sensible_default_lr():
    for _, spec in OPTIMIZERS.items():
        assert 1e-4 <= spec.default_lr <= 0.5


def test_nesterov_is_off_while_momentum_is_zero():
    cfg = with_changes(RunConfig(), optim=dict(name="sgd", momentum=0.0, nesterov=True))
    validate(cfg)
    opt = OPTIMIZERS.get("sgd").make([torch.nn.Parameter(torch.zeros(2))], cfg.optim)
    assert opt.param_groups[0]["nesterov"] is False


def test_sgd_gets_momentum_and_nesterov():
    cfg = with_changes(RunConfig(), optim=dict(name="sgd", momentum=0.8, nesterov=True)).optim
    opt = OPTIMIZERS.get("sgd").make([torch.nn.Parameter(torch.zeros(2))], cfg)
    assert opt.param_groups[0]["momentum"] == 0.8 and opt.param_groups[0]["nesterov"] is True


def _weights(init: str, activation: str = "relu", **params) -> torch.Tensor:
    cfg = ModelConfig(depth=1, width=400, activation=activation, init=init, **params)
    return build_mlp(400, 2, cfg, seed=0).hidden[0].linear.weight.detach()


def test_kaiming_uses_the_activations_gain():
    fan_in = 400
    assert _weights("kaiming_normal", "relu").std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)
    tanh_gain = 5 / 3
    assert _weights("kaiming_normal", "tanh").std().item() == pytest.approx(
        tanh_gain / math.sqrt(fan_in), rel=0.03
    )


def test_parametrised_initializers_follow_their_numbers():
    assert _weights("zeros").abs().max().item() == 0
    w = _weights("uniform", init_a=-0.3, init_b=0.2)
    assert w.min().item() >= -0.3 and w.max().item() <= 0.2
    assert _weights("normal", init_std=0.5).std().item() == pytest.approx(0.5, rel=0.03)
    assert _weights("xavier_uniform").std().item() == pytest.approx(math.sqrt(2 / 800), rel=0.03)


def test_flat_form_round_trips():
    cfg = with_changes(
        RunConfig(), model=dict(depth=7, activation="tanh", batchnorm=True), optim=dict(lr=0.003)
    )
    types = field_types()
    texts = {key: format_value(value) for key, value in to_values(cfg).items()}  # a link's text
    assert from_values({key: parse_value(key, text, types[key]) for key, text in texts.items()}) == cfg
    assert from_values(to_values(cfg)) == cfg
    assert set(texts) == set(types)


def test_flat_values_that_do_not_parse_name_the_field():
    with pytest.raises(ConfigError, match=r"model\.depth"):
        parse_value("model.depth", "abc", int)
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        parse_value("optim.lr", "inf", float)
    assert from_values({"unknown.key": 1}) == RunConfig()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (dict(model=dict(depth=0)), "depth"),
        (dict(model=dict(depth=51)), "depth"),
        (dict(model=dict(width=1)), "width"),
        (dict(optim=dict(lr=0.0)), "learning rate"),
        (dict(optim=dict(lr=float("nan"))), "learning rate"),
        (dict(optim=dict(momentum=1.0)), "Momentum"),
        (dict(model=dict(batchnorm=True), train=dict(batch_size=1)), "BatchNorm"),
        (dict(model=dict(init="uniform", init_a=0.5, init_b=0.1)), "Uniform"),
        (dict(model=dict(init="normal", init_std=0.0)), "Normal"),
        (dict(train=dict(steps=0)), "steps"),
        (dict(train=dict(clip_norm=-1.0)), "clipping"),
        (dict(model=dict(activation="swish")), "Valid names"),
    ],
)
def test_validate_explains_settings_that_cannot_run(changes, words):
    with pytest.raises(ConfigError, match=words):
        validate(with_changes(RunConfig(), **changes))


def test_binary_loss_needs_two_classes():
    with pytest.raises(ConfigError, match="exactly 2 classes"):
        LOSSES.get("bce").out_features(10)


def test_defaults_are_valid():
    validate(RunConfig())
