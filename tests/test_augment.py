"""Augmentation: each registry entry builds its v2 transform, batches get one draw per group, seeding."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torchvision.transforms import v2

from core.augment import (
    AUGMENTATIONS,
    GROUP,
    AugmentConfig,
    augment_batch,
    build_pipeline,
    pipeline_code,
    preview,
)
from core.errors import ConfigError

EVERYTHING = AugmentConfig(
    hflip=0.5, vflip=0.5, rotation=30, crop=0.6, jitter=0.5, autocontrast=0.5, blur=1.0, erasing=0.5
)


@pytest.fixture
def images() -> torch.Tensor:
    """(40, 3, 16, 16) float in [0, 1]: random pixels, so no transform leaves an image unchanged by chance."""
    return torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def make(name: str, value: float, channels: int = 3) -> v2.Transform:
    return AUGMENTATIONS.get(name).make(value, channels)


def test_each_transform_is_built_with_its_slider_value():
    assert isinstance(make("hflip", 0.3), v2.RandomHorizontalFlip) and make("hflip", 0.3).p == 0.3
    assert isinstance(make("vflip", 0.7), v2.RandomVerticalFlip) and make("vflip", 0.7).p == 0.7
    rotation = make("rotation", 45)
    assert isinstance(rotation, v2.RandomRotation) and list(rotation.degrees) == [-45, 45]
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
    assert default.active() == [] and build_pipeline(default, 3) is None


def test_active_lists_the_chosen_augmentations_in_pipeline_order():
    cfg = AugmentConfig(erasing=0.5, hflip=0.5, blur=1.0, crop=0.8)
    assert cfg.active() == ["hflip", "crop", "blur", "erasing"]
    pipeline = build_pipeline(cfg, 3)
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
        "    v2.RandomRotation(degrees=15),\n"
        "])"
    )


def test_pipeline_code_runs_and_builds_the_same_transforms():
    namespace = {"v2": v2, "size": 16}
    exec(pipeline_code(EVERYTHING), namespace)
    written, built = namespace["train_transform"].transforms, build_pipeline(EVERYTHING, 3).transforms
    assert len(written) == len(built) == 8
    for w, b in zip(written, built, strict=True):
        if isinstance(w, v2.RandomResizedCrop):
            assert w.scale == (b.scale, 1.0)
            continue
        assert type(w) is type(b)
        for attr in ("p", "degrees", "brightness", "contrast", "saturation", "kernel_size", "sigma", "scale"):
            if hasattr(b, attr):
                assert getattr(w, attr) == getattr(b, attr), (type(b).__name__, attr)


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_a_value_outside_the_slider_gets_a_sentence(name):
    spec = AUGMENTATIONS.get(name)
    for bad in (spec.low - 0.1, spec.high + 1):
        cfg = AugmentConfig(**{name: bad})
        with pytest.raises(ConfigError) as err:
            build_pipeline(cfg, 3)
        assert str(err.value) == (
            f"{spec.label}: the {spec.parameter} must be between {spec.low:g} and {spec.high:g}, not {bad}."
        )


@pytest.mark.parametrize("channels", [1, 3])
def test_augment_batch_keeps_shape_dtype_and_range(channels):
    x = torch.rand(40, channels, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    for name, spec in AUGMENTATIONS.items():
        out = augment_batch(build_pipeline(AugmentConfig(**{name: spec.high}), channels), x)
        assert out.shape == x.shape and out.dtype == torch.float32, name
        assert out.min().item() >= 0.0 and out.max().item() <= 1.0, name
    out = augment_batch(build_pipeline(EVERYTHING, channels), x)
    assert out.shape == x.shape and out.min().item() >= 0.0 and out.max().item() <= 1.0
    assert augment_batch(None, x) is x


def test_grey_images_take_colour_jitter_without_saturation():
    grey = torch.rand(20, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    out = augment_batch(build_pipeline(AugmentConfig(jitter=0.9), 1), grey)
    assert out.shape == grey.shape and not torch.equal(out, grey)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


def test_sure_flips_equal_flipping_the_tensor(images):
    assert torch.equal(augment_batch(build_pipeline(AugmentConfig(hflip=1.0), 3), images), images.flip(-1))
    assert torch.equal(augment_batch(build_pipeline(AugmentConfig(vflip=1.0), 3), images), images.flip(-2))


def test_each_group_gets_its_own_draw_and_shares_it():
    same = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3)).expand(64, -1, -1, -1)
    torch.manual_seed(0)
    out = augment_batch(build_pipeline(AugmentConfig(rotation=180), 3), same)
    groups = out.split(GROUP)
    assert len(groups) == 64 // GROUP
    for group in groups:
        assert all(torch.equal(image, group[0]) for image in group)  # one draw per group
    firsts = torch.stack([group[0] for group in groups])
    distinct = {tuple(image.flatten().tolist()) for image in firsts}
    assert len(distinct) == len(groups)  # every group drew its own angle
    # with 1 image per group every image gets its own draw (two angles a degree apart can give
    # the same 16-pixel image under nearest interpolation: 7 of 8 differ on this seed)
    torch.manual_seed(0)
    single = augment_batch(build_pipeline(AugmentConfig(rotation=180), 3), same[:8], group=1)
    assert len({tuple(image.flatten().tolist()) for image in single}) >= 6


def test_a_small_batch_is_one_group(images):
    same = images[:1].expand(GROUP, -1, -1, -1)
    torch.manual_seed(0)
    out = augment_batch(build_pipeline(AugmentConfig(rotation=180), 3), same)
    assert all(torch.equal(image, out[0]) for image in out)


def test_preview_shows_different_draws_and_is_seeded(images):
    pipeline = build_pipeline(AugmentConfig(rotation=90, jitter=0.5), 3)
    image = images[0]
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    grid = preview(pipeline, image, 9, seed=4)
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is untouched
    assert grid.shape == (9, 3, 16, 16)
    assert len({tuple(tile.flatten().tolist()) for tile in grid}) == 9
    assert torch.equal(preview(pipeline, image, 9, seed=4), grid)
    assert not torch.equal(preview(pipeline, image, 9, seed=5), grid)
    plain = preview(None, image, 4, seed=0)
    assert plain.shape == (4, 3, 16, 16) and all(torch.equal(tile, image) for tile in plain)
    grey = preview(build_pipeline(AugmentConfig(jitter=0.9, rotation=30), 1), image[:1], 5, seed=0)
    assert grey.shape == (5, 1, 16, 16)
