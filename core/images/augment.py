"""Data augmentation as in torchvision.transforms.v2, with a random draw for every image.

Each augmentation of the registry names the v2 transform a student writes (`make`, `code`);
`core.images.kernels` applies them to whole batches, with a random draw for every image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from core.errors import ConfigError
from core.registry import Registry

CROP_RATIO = (3 / 4, 4 / 3)  # v2.RandomResizedCrop's default aspect-ratio range
ERASE_SCALE = (0.02, 0.2)  # share of the area erased, as the code shown to the student
ERASE_RATIO = (0.3, 3.3)  # v2.RandomErasing's default aspect-ratio range
TRIES = 10  # v2's tries at a crop or an erased rectangle that fits, before it falls back


@dataclass(frozen=True)
class AugmentConfig:
    """One strength per augmentation, in pipeline order; 0 (1 for the crop) switches it off."""

    hflip: float = 0.0  # probability of a horizontal (left-right) flip
    vflip: float = 0.0  # probability of a vertical (upside-down) flip
    rotation: float = 0.0  # rotate by a random angle in [-degrees, +degrees], 0..180
    crop: float = 1.0  # random resized crop keeping at least this share of the area; 1 = off
    jitter: float = 0.0  # colour jitter strength 0..0.9: brightness, contrast (and saturation for RGB)
    autocontrast: float = 0.0  # probability of stretching the image's range to full contrast
    blur: float = 0.0  # Gaussian blur with a random sigma up to this many pixels; 0 = off
    erasing: float = 0.0  # probability of erasing a random rectangle (cutout)

    def active(self) -> list[str]:
        """Names of the augmentations switched on, in pipeline order."""
        return [name for name, spec in AUGMENTATIONS.items() if getattr(self, name) != spec.off]


@dataclass(frozen=True)
class AugmentSpec:
    """One augmentation: its label, parameter range, the v2 transform it is and a lesson."""

    label: str
    parameter: str  # what the number means, for the slider
    low: float
    high: float
    step: float
    off: float  # the value that switches it off
    make: Callable[[float, int], v2.Transform]  # (value, channels) -> the v2 transform
    code: Callable[[float], str]  # the v2 line a student would write
    caution: str  # when NOT to use it


def blur_kernel(sigma: float) -> int:
    """An odd Gaussian kernel side about four sigmas wide, at least 3."""
    return 2 * max(1, round(2 * sigma)) + 1


AUGMENTATIONS: Registry[AugmentSpec] = Registry("augmentation")
AUGMENTATIONS.add(
    "hflip",
    AugmentSpec(
        "Horizontal flip",
        "probability",
        0.0,
        1.0,
        0.1,
        0.0,
        lambda v, c: v2.RandomHorizontalFlip(p=v),
        lambda v: f"v2.RandomHorizontalFlip(p={v:g})",
        "Not when left and right mean different classes: a flipped left arrow is a right arrow, "
        "a flipped b a d.",
    ),
)
AUGMENTATIONS.add(
    "vflip",
    AugmentSpec(
        "Vertical flip",
        "probability",
        0.0,
        1.0,
        0.1,
        0.0,
        lambda v, c: v2.RandomVerticalFlip(p=v),
        lambda v: f"v2.RandomVerticalFlip(p={v:g})",
        "Not for things that have an up: digits, faces, skies; fine for cells under a microscope.",
    ),
)
AUGMENTATIONS.add(
    "rotation",
    AugmentSpec(
        "Rotation",
        "degrees",
        0.0,
        180.0,
        5.0,
        0.0,
        lambda v, c: v2.RandomRotation(degrees=v, interpolation=v2.InterpolationMode.BILINEAR),
        lambda v: f"v2.RandomRotation(degrees={v:g}, interpolation=v2.InterpolationMode.BILINEAR)",
        "Small angles help; large ones turn a 6 into a 9 and a triangle up into a triangle down.",
    ),
)
AUGMENTATIONS.add(
    "crop",
    AugmentSpec(
        "Random resized crop",
        "least area kept",
        0.3,
        1.0,
        0.05,
        1.0,
        lambda v, c: _SizedCrop(v),  # v2.RandomResizedCrop to the input's own size
        lambda v: f"v2.RandomResizedCrop(size, scale=({v:g}, 1.0))",
        "Not when the crop can cut away what defines the class, such as the head of an arrow.",
    ),
)
AUGMENTATIONS.add(
    "jitter",
    AugmentSpec(
        "Colour jitter",
        "strength",
        0.0,
        0.9,
        0.1,
        0.0,
        lambda v, c: v2.ColorJitter(brightness=v, contrast=v, saturation=v if c == 3 else None),
        lambda v: f"v2.ColorJitter(brightness={v:g}, contrast={v:g}, saturation={v:g})",
        "Not when colour is the class: a red and a green traffic light.",
    ),
)
AUGMENTATIONS.add(
    "autocontrast",
    AugmentSpec(
        "Autocontrast",
        "probability",
        0.0,
        1.0,
        0.1,
        0.0,
        lambda v, c: v2.RandomAutocontrast(p=v),
        lambda v: f"v2.RandomAutocontrast(p={v:g})",
        "Not when the overall brightness carries the label, such as day and night photos.",
    ),
)
AUGMENTATIONS.add(
    "blur",
    AugmentSpec(
        "Gaussian blur",
        "largest sigma (pixels)",
        0.0,
        3.0,
        0.25,
        0.0,
        lambda v, c: v2.GaussianBlur(kernel_size=blur_kernel(v), sigma=(min(0.1, v), v)),
        lambda v: f"v2.GaussianBlur(kernel_size={blur_kernel(v)}, sigma=({min(0.1, v):g}, {v:g}))",
        "Not when fine detail is the class: on 28-pixel images a sigma of 2 wipes out thin strokes.",
    ),
)
AUGMENTATIONS.add(
    "erasing",
    AugmentSpec(
        "Random erasing",
        "probability",
        0.0,
        1.0,
        0.1,
        0.0,
        lambda v, c: v2.RandomErasing(p=v, scale=(0.02, 0.2)),
        lambda v: f"v2.RandomErasing(p={v:g}, scale=(0.02, 0.2))",
        "Not when the object is small: the erased patch can hide all of it.",
    ),
)


class _SizedCrop(v2.Transform):
    """v2.RandomResizedCrop back to the input's own size (the size is known only per batch)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale
        self._crops: dict[tuple[int, int], v2.RandomResizedCrop] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])  # (H, W): a non-square image keeps its shape
        if size not in self._crops:  # built once per size: a v2 transform costs ~0.4 ms to construct
            self._crops[size] = v2.RandomResizedCrop(size, scale=(self.scale, 1.0), antialias=True)
        return self._crops[size](x)


def validate_augment(cfg: AugmentConfig) -> None:
    """Raise ConfigError with one sentence for a value outside its slider's range."""
    for name, spec in AUGMENTATIONS.items():
        value = getattr(cfg, name)
        if not spec.low <= value <= spec.high:
            raise ConfigError(
                f"{spec.label}: the {spec.parameter} must be between {spec.low:g} and {spec.high:g}, "
                f"not {value}."
            )


def pipeline_code(cfg: AugmentConfig) -> str:
    """The pipeline as the v2 code a student would write."""
    lines = [f"    {AUGMENTATIONS.get(name).code(getattr(cfg, name))}," for name in cfg.active()]
    if not lines:
        return "train_transform = None  # no augmentation"
    return "train_transform = v2.Compose([\n" + "\n".join(lines) + "\n])"
