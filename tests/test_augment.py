"""Augmentation: each entry names its v2 transform; the batched kernels equal v2's image by image.

The Augmenter draws every image's parameters by v2's rules and applies them in batched tensor
operations; with the same parameters, each kernel must give what v2.functional gives.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from core.errors import ConfigError
from core.images import kernels
from core.images.augment import (
    AUGMENTATIONS,
    CROP_RATIO,
    ERASE_RATIO,
    ERASE_SCALE,
    AugmentConfig,
    pipeline_code,
    validate_augment,
)
from core.images.kernels import augment_rng, build_augmenter, preview

EVERYTHING = AugmentConfig(
    hflip=0.5, vflip=0.5, rotation=30, crop=0.6, jitter=0.5, autocontrast=0.5, blur=1.0, erasing=0.5
)


@pytest.fixture
def images() -> torch.Tensor:
    """(40, 3, 16, 16) float in [0, 1]: random pixels, so no transform leaves an image unchanged by chance."""
    return torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def v2_pipeline(cfg: AugmentConfig, channels: int) -> v2.Compose | None:
    """The chosen augmentations as the v2.Compose a student writes (None when all are off): the reference
    the batched kernels are checked against."""
    validate_augment(cfg)
    chosen = [AUGMENTATIONS.get(name).make(getattr(cfg, name), channels) for name in cfg.active()]
    return v2.Compose(chosen) if chosen else None


def make(name: str, value: float, channels: int = 3) -> v2.Transform:
    return AUGMENTATIONS.get(name).make(value, channels)


def test_each_transform_is_built_with_its_slider_value():
    assert isinstance(make("hflip", 0.3), v2.RandomHorizontalFlip) and make("hflip", 0.3).p == 0.3
    assert isinstance(make("vflip", 0.7), v2.RandomVerticalFlip) and make("vflip", 0.7).p == 0.7
    rotation = make("rotation", 45)
    assert isinstance(rotation, v2.RandomRotation) and list(rotation.degrees) == [-45, 45]
    assert rotation.interpolation == v2.InterpolationMode.BILINEAR  # as the Augmenter resamples
    assert make("crop", 0.6).scale == 0.6
    jitter = make("jitter", 0.4)
    assert isinstance(jitter, v2.ColorJitter)
    assert jitter.brightness == jitter.contrast == jitter.saturation == pytest.approx((0.6, 1.4))
    assert jitter.hue is None
    assert make("jitter", 0.4, channels=1).saturation is None  # grey images have no saturation
    autocontrast = make("autocontrast", 0.2)
    assert isinstance(autocontrast, v2.RandomAutocontrast) and autocontrast.p == 0.2
    blur = make("blur", 1.5)
    assert isinstance(blur, v2.GaussianBlur) and list(blur.sigma) == [0.1, 1.5]
    assert blur.kernel_size == (7, 7)  # odd, about four sigmas wide
    assert make("blur", 0.25).kernel_size == (3, 3) and make("blur", 3.0).kernel_size == (13, 13)
    erasing = make("erasing", 0.4)
    assert isinstance(erasing, v2.RandomErasing) and erasing.p == 0.4 and erasing.scale == (0.02, 0.2)


def test_a_blur_below_the_usual_least_sigma_is_still_a_blur():
    blur = make("blur", 0.05)  # within the slider's range, below v2's usual least sigma of 0.1
    assert list(blur.sigma) == [0.05, 0.05]
    assert "sigma=(0.05, 0.05)" in pipeline_code(AugmentConfig(blur=0.05))


def test_the_crop_keeps_the_images_own_size(images):
    crop = make("crop", 0.3)
    assert crop(images).shape == images.shape
    tall = torch.rand(4, 1, 20, 12)
    assert crop(tall).shape == tall.shape


def test_registry_matches_the_config_fields_and_every_entry_explains_itself():
    fields = [f.name for f in dataclasses.fields(AugmentConfig)]
    assert AUGMENTATIONS.names() == fields  # pipeline order is the config's order
    default = AugmentConfig()
    for name, spec in AUGMENTATIONS.items():
        assert spec.label and spec.parameter, name
        assert len(spec.caution) > 20 and spec.caution[0].isupper() and spec.caution.endswith("."), name
        assert spec.low <= spec.off <= spec.high and spec.step > 0, name
        assert getattr(default, name) == spec.off, f"{name} is on by default"
        assert spec.code(spec.high).startswith("v2."), name
        for value in {spec.low, spec.high} - {spec.off}:  # `off` is never built
            assert isinstance(spec.make(value, 3), v2.Transform), name
    assert default.active() == [] and build_augmenter(default, 3) is None and v2_pipeline(default, 3) is None


def test_active_lists_the_chosen_augmentations_in_pipeline_order():
    cfg = AugmentConfig(erasing=0.5, hflip=0.5, blur=1.0, crop=0.8)
    assert cfg.active() == ["hflip", "crop", "blur", "erasing"]
    pipeline = v2_pipeline(cfg, 3)
    assert [type(t).__name__ for t in pipeline.transforms] == [
        "RandomHorizontalFlip",
        "_SizedCrop",
        "GaussianBlur",
        "RandomErasing",
    ]
    assert EVERYTHING.active() == AUGMENTATIONS.names()


def test_pipeline_code_is_the_v2_code_a_student_would_write():
    assert pipeline_code(AugmentConfig()) == "train_transform = None  # no augmentation"
    assert pipeline_code(AugmentConfig(hflip=0.5, rotation=15)) == (
        "train_transform = v2.Compose([\n"
        "    v2.RandomHorizontalFlip(p=0.5),\n"
        "    v2.RandomRotation(degrees=15, interpolation=v2.InterpolationMode.BILINEAR),\n"
        "])"
    )


def test_pipeline_code_runs_and_builds_the_same_transforms():
    namespace = {"v2": v2, "size": 16}
    exec(pipeline_code(EVERYTHING), namespace)
    written, built = namespace["train_transform"].transforms, v2_pipeline(EVERYTHING, 3).transforms
    assert len(written) == len(built) == 8
    for w, b in zip(written, built, strict=True):
        if isinstance(w, v2.RandomResizedCrop):
            assert w.scale == (b.scale, 1.0)
            continue
        assert type(w) is type(b)
        for attr in (
            "p",
            "degrees",
            "interpolation",
            "brightness",
            "contrast",
            "saturation",
            "kernel_size",
            "sigma",
            "scale",
        ):
            if hasattr(b, attr):
                assert getattr(w, attr) == getattr(b, attr), (type(b).__name__, attr)


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_a_value_outside_the_slider_gets_a_sentence(name):
    spec = AUGMENTATIONS.get(name)
    for bad in (spec.low - 0.1, spec.high + 1):
        cfg = AugmentConfig(**{name: bad})
        with pytest.raises(ConfigError) as err:
            build_augmenter(cfg, 3)
        assert str(err.value) == (
            f"{spec.label}: the {spec.parameter} must be between {spec.low:g} and {spec.high:g}, not {bad}."
        )


def run(cfg: AugmentConfig, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return build_augmenter(cfg, x.shape[1])(x, augment_rng(seed))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_augmenter_keeps_shape_dtype_and_range(channels):
    x = torch.rand(40, channels, 16, 16, generator=torch.Generator().manual_seed(1))
    for name, spec in AUGMENTATIONS.items():
        strongest = spec.low if spec.high == spec.off else spec.high  # the crop is off at 1
        out = run(AugmentConfig(**{name: strongest}), x)
        assert out.shape == x.shape and out.dtype == torch.float32, name
        assert out.min().item() >= 0.0 and out.max().item() <= 1.0, name
        assert not torch.equal(out, x), name
    out = run(EVERYTHING, x)
    assert out.shape == x.shape and out.min().item() >= 0.0 and out.max().item() <= 1.0
    tall = torch.rand(4, channels, 20, 12)  # a non-square image keeps its shape
    assert run(EVERYTHING, tall).shape == tall.shape


def test_grey_images_take_colour_jitter_without_saturation():
    grey = torch.rand(20, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    out = run(AugmentConfig(jitter=0.9), grey)
    assert out.shape == grey.shape and not torch.equal(out, grey)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


def test_sure_flips_equal_flipping_the_tensor(images):
    assert torch.equal(run(AugmentConfig(hflip=1.0), images), images.flip(-1))
    assert torch.equal(run(AugmentConfig(vflip=1.0), images), images.flip(-2))
    assert torch.equal(run(AugmentConfig(hflip=1.0, vflip=1.0), images), images.flip(-1, -2))


def test_every_image_gets_its_own_draw_and_the_seed_decides_them():
    same = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3)).expand(64, -1, -1, -1)
    # a 16-pixel image has only so many whole-pixel crop boxes: two images can draw the same one
    for cfg, least in (
        (AugmentConfig(rotation=180), 64),
        (AugmentConfig(crop=0.5), 45),
        (AugmentConfig(jitter=0.5), 64),
    ):
        out = run(cfg, same)
        assert len({tuple(image.flatten().tolist()) for image in out}) >= least, cfg  # a draw per image
        assert torch.equal(run(cfg, same), out)  # the same seed, the same draws
        assert not torch.equal(run(cfg, same, seed=1), out)
    flips = run(AugmentConfig(hflip=0.5), same)
    flipped = sum(torch.equal(image, same[0].flip(-1)) for image in flips)
    assert 20 <= flipped <= 44  # about half, each image on its own coin (binomial, 64 and 1/2)


# ---- each kernel equals v2.functional, image by image ----------------------------------------

BILINEAR = v2.InterpolationMode.BILINEAR
F = v2.functional


@pytest.fixture
def odd() -> torch.Tensor:
    """(6, 3, 20, 16): not square, so height and width cannot be mixed up unnoticed."""
    return torch.rand(6, 3, 20, 16, generator=torch.Generator().manual_seed(5))


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a - b).abs().max().item() < 1e-5


def test_rotation_equals_v2_rotate_bilinear(odd):
    angles = np.array([0.0, 10.0, -33.0, 90.0, 170.0, -179.5])
    out = kernels.rotate_crop(odd, angles)
    for image, angle, got in zip(odd, angles, out, strict=True):
        assert close(got, F.rotate(image, float(angle), interpolation=BILINEAR)), angle


def test_crop_equals_v2_resized_crop(odd):
    boxes = kernels.draw_crop_boxes(augment_rng(0), 6, 20, 16, 0.3)
    out = kernels.rotate_crop(odd, boxes=boxes)
    for image, (top, left, h, w), got in zip(odd, boxes.tolist(), out, strict=True):
        assert close(got, F.resized_crop(image, top, left, h, w, [20, 16], antialias=True)), (top, left, h, w)


def test_flips_rotation_and_crop_in_one_resampling_equal_flipping_then_rotating(odd):
    angles, hflip, vflip = np.array([5.0, -40, 90, 0, 12, 60]), np.arange(6) % 2 == 0, np.arange(6) % 3 == 0
    out = kernels.rotate_crop(odd, angles, hflip=hflip, vflip=vflip)
    for i, image in enumerate(odd):
        flipped = image.flip(-1) if hflip[i] else image
        flipped = flipped.flip(-2) if vflip[i] else flipped
        assert close(out[i], F.rotate(flipped, float(angles[i]), interpolation=BILINEAR)), i
    # rotation then crop, sampled once: the crop of the rotation sampled at the crop's points
    boxes = np.array([[0, 0, 20, 16]] * 6)  # a whole-image box is the rotation alone
    assert close(kernels.rotate_crop(odd, angles, boxes), kernels.rotate_crop(odd, angles))


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_colour_jitter_equals_v2_adjustments_in_order(odd, order):
    factors = np.random.default_rng(1).uniform(0.1, 1.9, (3, 6))
    fns = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation]
    for x in (odd, odd[:, :1]):  # RGB and grey
        out = kernels.jitter(x, factors, order)
        for i, image in enumerate(x):
            for k in order:
                image = fns[k](image, float(factors[k, i]))
            assert close(out[i], image), (order, x.shape[1], i)


def test_autocontrast_equals_v2_on_the_chosen_images(odd):
    flat = odd.clone()
    flat[1, 2] = 0.5  # a flat channel is left as it is
    chosen = np.array([True, True, False, True, False, True])
    out = kernels.autocontrast(flat, chosen)
    for i, image in enumerate(flat):
        assert close(out[i], F.autocontrast(image) if chosen[i] else image), i
    assert torch.equal(out[2], flat[2]) and torch.equal(out[1, 2], flat[1, 2])


def test_blur_equals_v2_gaussian_blur(odd):
    sigmas = np.array([0.05, 0.3, 0.9, 1.5, 2.2, 3.0])
    out = kernels.blur(odd, sigmas, 13)
    for image, sigma, got in zip(odd, sigmas, out, strict=True):
        assert close(got, F.gaussian_blur(image, [13, 13], [float(sigma)] * 2)), sigma


def test_erasing_equals_v2_erase(odd):
    boxes = kernels.draw_erase_boxes(augment_rng(2), 6, 20, 16, 0.7)
    out = kernels.erase(odd, boxes)
    for image, (top, left, h, w), got in zip(odd, boxes.tolist(), out, strict=True):
        expected = F.erase(image, top, left, h, w, torch.tensor(0.0)) if h else image
        assert torch.equal(got, expected), (top, left, h, w)


# ---- the draws follow v2's rules -------------------------------------------------------------


def test_crop_boxes_follow_random_resized_crops_rules():
    boxes = kernels.draw_crop_boxes(augment_rng(3), 4000, 28, 28, 0.3)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 28).all() and (left + w <= 28).all()
    area, aspect = h * w / 28**2, w / h
    # v2 rounds the sides to whole pixels: allow half a pixel on each
    assert area.min() >= 0.3 * (1 - 1 / 28) ** 2 - 0.02 and area.max() <= 1.0
    assert aspect.min() >= CROP_RATIO[0] * (1 - 1 / 14) and aspect.max() <= CROP_RATIO[1] * (1 + 1 / 14)
    assert area.std() > 0.15 and len(set(map(tuple, boxes.tolist()))) > 500  # they vary
    assert abs(np.mean(left + w / 2) - 14) < 0.5  # centred on average: no side preferred


def test_erase_boxes_follow_random_erasings_rules():
    boxes = kernels.draw_erase_boxes(augment_rng(4), 4000, 28, 28, 0.5)
    erased = boxes[:, 2] > 0
    assert abs(erased.mean() - 0.5) < 0.03  # p = 0.5, per image
    top, left, h, w = boxes[erased].T
    assert (h < 28).all() and (w < 28).all() and (top + h <= 28).all() and (left + w <= 28).all()
    area = h * w / 28**2
    assert area.min() >= ERASE_SCALE[0] / 2 and area.max() <= ERASE_SCALE[1] * 1.4
    assert (h / w).min() >= ERASE_RATIO[0] / 1.6 and (h / w).max() <= ERASE_RATIO[1] * 1.6


def test_rotation_angles_are_uniform_over_the_range():
    same = torch.zeros(2000, 1, 8, 8)
    same[:, :, :, :4] = 1.0  # left half bright: its rotation shows the angle
    out = run(AugmentConfig(rotation=90), same)
    top_bright = out[:, 0, 0, :].mean(1)  # turned left (positive angles) the top row brightens
    assert 0.35 < (top_bright > 0.5).float().mean().item() < 0.65
    rng = augment_rng(0)
    angles = rng.uniform(-90, 90, 10_000)
    assert abs(angles.mean()) < 3 and math.isclose(angles.std(), 180 / math.sqrt(12), rel_tol=0.03)


def test_preview_shows_different_draws_and_is_seeded(images):
    augmenter = build_augmenter(AugmentConfig(rotation=90, jitter=0.5), 3)
    image = images[0]
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    grid = preview(augmenter, image, 9, seed=4)
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is untouched
    assert grid.shape == (9, 3, 16, 16)
    assert len({tuple(tile.flatten().tolist()) for tile in grid}) == 9
    assert torch.equal(preview(augmenter, image, 9, seed=4), grid)
    assert not torch.equal(preview(augmenter, image, 9, seed=5), grid)
    plain = preview(None, image, 4, seed=0)
    assert plain.shape == (4, 3, 16, 16) and all(torch.equal(tile, image) for tile in plain)
    grey = preview(build_augmenter(AugmentConfig(jitter=0.9, rotation=30), 1), image[:1], 5, seed=0)
    assert grey.shape == (5, 1, 16, 16)
