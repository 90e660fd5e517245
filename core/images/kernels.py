"""The batched augmentation of core.images.augment's registry. A v2 transform draws its random
parameters once per call, so one draw per image means one Python call
per image: 106 ms for a batch of 64 on 2 cores, against ~20 ms for the CNN's whole step. So
`Augmenter` draws the parameters of a whole batch at once, for every image its own, with v2's
own rules (the same ranges, the same ten tries of `RandomResizedCrop` and `RandomErasing`), and
applies them in a few batched tensor operations. Image by image, with the same parameters, each
kernel gives what the v2 functional kernel gives (tests/test_augment.py checks it to 1e-5):

- flips: `torch.where` over the flipped batch (bit for bit);
- rotation and random resized crop: one bilinear `grid_sample` whose grid maps each output pixel
  through the crop's resize and then the rotation. Alone, each equals `v2.functional.rotate`
  (bilinear) and `v2.functional.resized_crop`; together the image is resampled once, not twice;
- colour jitter: brightness, contrast and saturation factors per image. v2 shuffles the order of
  the three per call; here the order is drawn once per batch. The three are linear and commute
  but for their clipping to [0, 1], so the order changes little;
- autocontrast: `v2.functional.autocontrast` on the batch (it works per image), kept where drawn;
- Gaussian blur: a sigma and a kernel per image, in one grouped separable convolution;
- random erasing: a rectangle per image, zeroed through one mask.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from core.images.augment import (
    CROP_RATIO,
    ERASE_RATIO,
    ERASE_SCALE,
    TRIES,
    AugmentConfig,
    blur_kernel,
    validate_augment,
)

# ---- the batched kernels: the batch on its device, each image's parameters in numpy arrays ----
# The parameters of 32 images are small: numpy works them out on the host in microseconds, and
# each kernel moves them to the batch's device once.


def _to(x: torch.Tensor, a: np.ndarray) -> torch.Tensor:
    """A host array of parameters as a tensor beside the batch x (its device and float dtype)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device=x.device, dtype=x.dtype)


def flip(x: torch.Tensor, chosen: np.ndarray, dim: int) -> torch.Tensor:
    """(N, C, H, W), (N,) bool -> the chosen images flipped along `dim` (-1 left-right, -2 upside down)."""
    mask = torch.from_numpy(np.asarray(chosen, dtype=bool)).to(x.device).view(-1, 1, 1, 1)
    return torch.where(mask, x.flip(dim), x)


def rotate_crop(
    x: torch.Tensor,
    angles: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    hflip: np.ndarray | None = None,
    vflip: np.ndarray | None = None,
) -> torch.Tensor:
    """Flip, rotate, then crop and resize back each image, in one bilinear resampling.

    x: (N, C, H, W); hflip, vflip: (N,) bool; angles: (N,) degrees, counter-clockwise as
    v2.functional.rotate; boxes: (N, 4) (top, left, height, width) in pixels of the rotated image,
    as v2.functional.resized_crop. Outside the image is 0, as v2's rotation without a fill.
    Each output pixel's source point is worked out per row and per column, and the grid is their
    sum: one broadcast addition, then one grid_sample.
    """
    n, _, height, width = x.shape
    cols = np.broadcast_to(np.arange(width, dtype=np.float64), (n, width))  # output pixel columns
    rows = np.broadcast_to(np.arange(height, dtype=np.float64), (n, height))
    if boxes is not None:  # where the resize of each box samples, as interpolate(align_corners=False)
        top, left, h, w = np.asarray(boxes, dtype=np.float64).T[:, :, None]
        cols = left + np.minimum(np.maximum((cols + 0.5) * (w / width) - 0.5, 0.0), w - 1)
        rows = top + np.minimum(np.maximum((rows + 0.5) * (h / height) - 0.5, 0.0), h - 1)
    u = cols + (0.5 - width / 2)  # (N, W) pixel centres relative to the image centre
    v = rows + (0.5 - height / 2)  # (N, H)
    rad = np.zeros((n, 1)) if angles is None else np.radians(np.asarray(angles, dtype=np.float64))[:, None]
    cos, sin = np.cos(rad), np.sin(rad)
    sx = np.where(np.asarray(hflip, dtype=bool), -1.0, 1.0)[:, None] if hflip is not None else 1.0
    sy = np.where(np.asarray(vflip, dtype=bool), -1.0, 1.0)[:, None] if vflip is not None else 1.0
    # the source point, in grid_sample's [-1, 1]: the inverse rotation, then the flips
    by_col = np.stack((sx * cos * u / (width / 2), sy * sin * u / (height / 2)), axis=1)  # (N, 2, W)
    by_row = np.stack((-sx * sin * v / (width / 2), sy * cos * v / (height / 2)), axis=1)  # (N, 2, H)
    parts = _to(x, np.concatenate((by_col, by_row), axis=2))  # one copy to the device
    # (N, 2, H, W) added with W innermost (fast), then viewed as grid_sample's (N, H, W, 2)
    grid = (parts[:, :, None, :width] + parts[:, :, width:, None]).permute(0, 2, 3, 1)
    return nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


_LUMA = (0.2989, 0.587, 0.114)  # v2.functional.rgb_to_grayscale's weights


def jitter(x: torch.Tensor, factors: np.ndarray, order: tuple[int, ...] = (0, 1, 2)) -> torch.Tensor:
    """Colour jitter with a factor per image: factors (3, N) for brightness, contrast and saturation.

    `order` applies them in that order (0 brightness, 1 contrast, 2 saturation), each clipped to
    [0, 1] as v2.functional.adjust_brightness, adjust_contrast and adjust_saturation do.
    Saturation leaves grey images as they are, as in v2. It is linear in the channels, so each
    image's saturation is one 3x3 matrix, built on the host: one batched matmul for the batch.
    """
    n, c, height, width = x.shape
    b, k, s = np.asarray(factors, dtype=np.float64)
    luma = np.array(_LUMA)
    # per image: s * (its pixel) + (1 - s) * (its grey), as a matrix on the channels
    saturation = s[:, None, None] * np.eye(3) + (1 - s)[:, None, None] * luma
    params = _to(x, np.concatenate((b, k, 1 - k, saturation.ravel())))  # one copy to the device
    b, k, k_rest = params[: 3 * n].view(3, n, 1, 1, 1)
    for step in order:
        if step == 0:
            x = (x * b).clamp_(0, 1)
        elif step == 1:  # towards the mean grey level: the luma of the channels' means
            means = x.mean((2, 3))  # (N, C)
            mean = means @ params.new_tensor(_LUMA) if c == 3 else means[:, 0]
            x = (x * k).add_(mean.view(n, 1, 1, 1) * k_rest).clamp_(0, 1)
        elif c == 3:
            mixed = torch.bmm(params[3 * n :].view(n, 3, 3), x.reshape(n, 3, height * width))
            x = mixed.view(n, 3, height, width).clamp_(0, 1)
    return x


def autocontrast(x: torch.Tensor, chosen: np.ndarray) -> torch.Tensor:
    """(N, C, H, W), (N,) bool -> the chosen images stretched as v2.functional.autocontrast does.

    Per image and channel, the darkest pixel goes to 0 and the brightest to 1; a flat channel is
    left as it is, and so are the images not chosen: (x - 0) / 1.
    """
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    low = flat.amin(dim=2, keepdim=True)  # amin + amax beat aminmax 5x on a CPU
    span = flat.amax(dim=2, keepdim=True) - low
    keep = span == 0
    if not np.all(chosen):
        keep |= torch.from_numpy(~np.asarray(chosen, dtype=bool)).to(x.device).view(n, 1, 1)
    low, span = low.masked_fill(keep, 0.0), span.masked_fill(keep, 1.0)
    return (flat - low).div_(span).clamp_(0, 1).view_as(x)


def blur(x: torch.Tensor, sigmas: np.ndarray, size: int) -> torch.Tensor:
    """A Gaussian blur with a sigma per image (N,) and a `size` kernel, as v2.functional.gaussian_blur."""
    n, c, height, width = x.shape
    lim = (size - 1) / (2.0 * math.sqrt(2.0))
    taps = -((np.linspace(-lim, lim, size)[None, :] / np.asarray(sigmas, dtype=np.float64)[:, None]) ** 2)
    kernel = np.exp(taps - taps.max(axis=1, keepdims=True))
    kernel = np.repeat(kernel / kernel.sum(axis=1, keepdims=True), c, axis=0)  # (N*C, size): v2's softmax
    weights = _to(x, kernel)
    pad = size // 2
    out = nn.functional.pad(x.reshape(1, n * c, height, width), (pad, pad, pad, pad), mode="reflect")
    out = nn.functional.conv2d(out, weights.view(n * c, 1, 1, size), groups=n * c)  # along rows
    out = nn.functional.conv2d(out, weights.view(n * c, 1, size, 1), groups=n * c)  # along columns
    return out.view(n, c, height, width)


def erase(x: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
    """Zero each image's rectangle: boxes (N, 4) of (top, left, height, width); height 0 erases nothing."""
    top, left, h, w = np.asarray(boxes).T[:, :, None]
    rows = np.arange(x.shape[-2])
    cols = np.arange(x.shape[-1])
    inside = np.concatenate(((rows >= top) & (rows < top + h), (cols >= left) & (cols < left + w)), axis=1)
    inside = torch.from_numpy(inside).to(x.device)
    mask = inside[:, : x.shape[-2], None] & inside[:, None, x.shape[-2] :]  # (N, H, W)
    return x.masked_fill(mask[:, None], 0.0)


# ---- the random draws: v2's rules, a value per image --------------------------------------


def _boxes(
    rng: np.random.Generator, n: int, area: float, scale: tuple[float, float], ratio: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """v2's ten tries at a rectangle, all images at once: (tries, N) sqrt(area/aspect), sqrt(area*aspect)."""
    target = area * rng.uniform(scale[0], scale[1], (TRIES, n))
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), (TRIES, n)))
    return np.round(np.sqrt(target / aspect)), np.round(np.sqrt(target * aspect))


def _first(ok: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(tries, N) -> (N,): each image's value at its first try that fits."""
    return values[ok.argmax(axis=0), np.arange(values.shape[1])]


def _place(rng: np.random.Generator, h: np.ndarray, w: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N,) heights and widths -> (N, 4) boxes (top, left, h, w) at a uniform random place in the image."""
    where = rng.random((2, len(h)))  # a uniform integer in [0, height - h]: floor(u * (height - h + 1))
    top = np.minimum(np.floor(where[0] * (height - h + 1)), height - h)
    left = np.minimum(np.floor(where[1] * (width - w + 1)), width - w)
    return np.stack((top, left, h, w), axis=1).astype(np.int64)


def central_box(height: int, width: int) -> tuple[int, int]:
    """v2.RandomResizedCrop's fallback: the largest central box within the aspect-ratio range."""
    in_ratio = width / height
    if in_ratio < CROP_RATIO[0]:
        return round(width / CROP_RATIO[0]), width
    if in_ratio > CROP_RATIO[1]:
        return height, round(height * CROP_RATIO[1])
    return height, width


def draw_crop_boxes(rng: np.random.Generator, n: int, height: int, width: int, scale: float) -> np.ndarray:
    """(N, 4) boxes as v2.RandomResizedCrop(scale=(scale, 1)) draws them, one per image."""
    h, w = _boxes(rng, n, height * width, (scale, 1.0), CROP_RATIO)
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    fits = ok.any(axis=0)
    fallback_h, fallback_w = central_box(height, width)  # when none of the ten tries fits
    h = np.where(fits, _first(ok, h), fallback_h)
    w = np.where(fits, _first(ok, w), fallback_w)
    return _place(rng, h, w, height, width)


def draw_erase_boxes(rng: np.random.Generator, n: int, height: int, width: int, p: float) -> np.ndarray:
    """(N, 4) rectangles as v2.RandomErasing(p, scale=ERASE_SCALE) draws them; height 0 = not erased."""
    chosen = rng.random(n) < p
    w, h = _boxes(rng, n, height * width, ERASE_SCALE, ERASE_RATIO)  # v2 takes h from area * aspect
    ok = (h < height) & (w < width)
    keep = chosen & ok.any(axis=0)
    h = np.where(keep, _first(ok, h), 0)
    w = np.where(keep, _first(ok, w), 0)
    return _place(rng, h, w, height, width)


class Augmenter:
    """The chosen augmentations for batches of (N, C, H, W) floats in [0, 1], a draw per image."""

    def __init__(self, cfg: AugmentConfig, channels: int):
        validate_augment(cfg)
        self.cfg = cfg
        self.channels = channels
        self._jitters = 3 if channels == 3 else 2  # v2 leaves out saturation for grey images
        self._blur_size = blur_kernel(cfg.blur)

    def __call__(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Augment the batch; every random number comes from `rng`, in pipeline order."""
        cfg, (n, _, height, width) = self.cfg, x.shape
        hflip = rng.random(n) < cfg.hflip if cfg.hflip else None
        vflip = rng.random(n) < cfg.vflip if cfg.vflip else None
        if cfg.rotation or cfg.crop < 1:  # the flips join the one resampling
            angles = rng.uniform(-cfg.rotation, cfg.rotation, n) if cfg.rotation else None
            boxes = draw_crop_boxes(rng, n, height, width, cfg.crop) if cfg.crop < 1 else None
            x = rotate_crop(x, angles, boxes, hflip, vflip)
        else:  # flips alone: exact, no resampling
            if hflip is not None:
                x = flip(x, hflip, -1)
            if vflip is not None:
                x = flip(x, vflip, -2)
        if cfg.jitter:
            factors = np.ones((3, n))
            factors[: self._jitters] = rng.uniform(1 - cfg.jitter, 1 + cfg.jitter, (self._jitters, n))
            order = tuple(int(k) for k in rng.permutation(self._jitters))  # once per batch
            x = jitter(x, factors, order)
        if cfg.autocontrast:
            x = autocontrast(x, rng.random(n) < cfg.autocontrast)
        if cfg.blur:
            x = blur(x, rng.uniform(min(0.1, cfg.blur), cfg.blur, n), self._blur_size)
        if cfg.erasing:
            x = erase(x, draw_erase_boxes(rng, n, height, width, cfg.erasing))
        return x


def build_augmenter(cfg: AugmentConfig, channels: int) -> Augmenter | None:
    """The batched augmentation for `cfg` (None when all are off); a bad value raises ConfigError."""
    validate_augment(cfg)
    return Augmenter(cfg, channels) if cfg.active() else None


def augment_rng(seed: int) -> np.random.Generator:
    """The random stream of a run's (or a preview's) augmentation draws."""
    return np.random.default_rng(seed)


def preview(augmenter: Augmenter | None, image: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """(C, H, W) -> (n, C, H, W): the image under n independent random draws, as in training."""
    batch = image.unsqueeze(0).expand(n, *image.shape).clone()
    if augmenter is None:
        return batch
    return augmenter(batch, augment_rng(seed))
