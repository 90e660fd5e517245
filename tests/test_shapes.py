"""Generated shape images: layout, balance, stratified split, seeds, mirror pairs, validation."""

from __future__ import annotations

import pytest
import torch

from core.data.shapes import CLASSES, DESCRIPTIONS, FLIP_SYMMETRIC, MIRROR_PAIRS, ShapesConfig, generate
from core.errors import ConfigError


@pytest.fixture(scope="module")
def data():
    return generate(ShapesConfig())


def test_images_are_rgb_floats_in_unit_range(data):
    assert data.image_shape == (3, 28, 28) and data.n_classes == len(CLASSES)
    assert data.class_names == CLASSES and set(DESCRIPTIONS) == set(CLASSES)
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (3, 28, 28) and len(x) == len(y)
        assert x.min().item() >= 0.0 and x.max().item() <= 1.0
    assert data.x_train.std().item() > 0.1  # colourful, not blank


def test_classes_are_balanced_and_every_class_is_split_alike(data):
    assert data.counts() == dict.fromkeys(CLASSES, 150)
    n_test = round(150 * 0.25)
    assert torch.bincount(data.y_test, minlength=8).tolist() == [n_test] * 8
    assert torch.bincount(data.y_train, minlength=8).tolist() == [150 - n_test] * 8
    small = generate(ShapesConfig(size=16, per_class=10, test_fraction=0.9, noise=0.0))
    assert torch.bincount(small.y_train, minlength=8).tolist() == [1] * 8
    assert small.image_shape == (3, 16, 16)


def test_same_seed_same_images_other_seed_other_images(data):
    again = generate(ShapesConfig())
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_test, again.y_test)
    other = generate(ShapesConfig(seed=1))
    assert not torch.equal(data.x_train, other.x_train)


def _class_shape_means(data):
    """Per class, the mean over its images of |gray - background gray|: colour-free shape maps."""
    x = torch.cat([data.x_train, data.x_test])
    y = torch.cat([data.y_train, data.y_test])
    gray = x.mean(dim=1)  # (N, H, W)
    background = gray.flatten(1).median(dim=1).values[:, None, None]  # shapes cover under half the image
    ink = (gray - background).abs()
    ink = ink / ink.flatten(1).amax(dim=1)[:, None, None]
    return {name: ink[y == c].mean(dim=0) for c, name in enumerate(data.class_names)}


def _flip(img):
    return torch.flip(img, dims=[-1])  # the W axis, as a horizontal-flip augmentation does


def test_a_horizontal_flip_turns_each_mirror_class_into_its_partner(data):
    means = _class_shape_means(data)
    for a, b in MIRROR_PAIRS:
        for one, other in ((a, b), (b, a)):
            to_partner = (_flip(means[one]) - means[other]).abs().mean().item()
            to_itself = (_flip(means[one]) - means[one]).abs().mean().item()
            # what is left of to_partner is sampling noise: different jitter in each class
            assert to_partner < 0.4 * to_itself, (one, to_partner, to_itself)


@pytest.mark.parametrize("size", [16, 28, 64])
def test_without_jitter_mirror_classes_are_pixel_exact_mirrors(size):
    means = _class_shape_means(generate(ShapesConfig(size=size, per_class=10, noise=0.0)))
    for a, b in MIRROR_PAIRS:
        assert torch.allclose(_flip(means[a]), means[b], atol=1e-5), (size, a, b)
        assert not torch.allclose(_flip(means[a]), means[a], atol=0.1), (size, a)
    for name in ("triangle up", "square"):
        assert torch.allclose(_flip(means[name]), means[name], atol=1e-5), (size, name)


def test_a_horizontal_flip_leaves_symmetric_classes_themselves(data):
    means = _class_shape_means(data)
    mirror_gap = (_flip(means["L"]) - means["L"]).abs().mean().item()
    for name in FLIP_SYMMETRIC:
        assert (_flip(means[name]) - means[name]).abs().mean().item() < 0.2 * mirror_gap, name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": 8}, "image size"),
        ({"size": 65}, "image size"),
        ({"size": 28.0}, "image size"),
        ({"per_class": 9}, "per class"),
        ({"per_class": 2001}, "per class"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"test_fraction": 0.95}, "test fraction"),
        ({"test_fraction": 0.0}, "test fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_settings_raise_a_config_error_naming_the_field(change, field):
    with pytest.raises(ConfigError, match=field):
        generate(ShapesConfig(**change))
