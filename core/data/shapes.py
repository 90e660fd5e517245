"""Generated colour images of simple shapes, some classes mirror images of each other (offline).

Every class is one polygon in a square frame [-1, 1]^2 (y pointing down, as in images), drawn
with PIL on a random background in a random foreground colour. Each image gets its own small
shift, scale and rotation, drawn from distributions symmetric about zero, and is never flipped:
the left arrow is exactly the right arrow mirrored, so a horizontal-flip augmentation turns one
class into the other while the symmetric classes (circle, square, triangles) stay themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.data.images import ImageSet
from core.errors import ConfigError

LABEL = "Coloured shapes (mirror pairs)"
DESCRIPTION = "Eight generated shape classes in random colours; some classes are mirror images."

CLASSES = (
    "arrow left",
    "arrow right",
    "L",
    "J",
    "circle",
    "square",
    "triangle up",
    "triangle down",
)

DESCRIPTIONS = {
    "arrow left": "An arrow pointing left: the mirror image of 'arrow right'.",
    "arrow right": "An arrow pointing right: the mirror image of 'arrow left'.",
    "L": "A block L (bar on the left, foot to the right): the mirror image of 'J'.",
    "J": "A block J (bar on the right, foot to the left): the mirror image of 'L'.",
    "circle": "A disc: the same under any flip or rotation.",
    "square": "An upright square: the same under flips and quarter turns.",
    "triangle up": "A triangle with its tip at the top: the same under a horizontal flip.",
    "triangle down": "A triangle with its tip at the bottom: 'triangle up' flipped vertically.",
}

# Pairs that a horizontal flip (W axis) swaps; every other class maps onto itself.
MIRROR_PAIRS = (("arrow left", "arrow right"), ("L", "J"))
FLIP_SYMMETRIC = ("circle", "square", "triangle up", "triangle down")

_SUPERSAMPLE = 4  # draw at 4x the side and box-average down: smooth edges, exact symmetry
_SHAPE_SCALE = 0.8  # base shapes reach ~0.6 of the half side, room left for the jitter
_TILES = 16  # polygons drawn per canvas side: one PIL canvas holds 16 x 16 images
_MIN_CONTRAST = 0.35  # least |luma(foreground) - luma(background)|, on a 0..1 scale
_LUMA = np.array([0.299, 0.587, 0.114])


def _mirror(points):
    return [(-x, y) for x, y in points]


def _flip_vertical(points):
    return [(x, -y) for x, y in points]


_ARROW_RIGHT = [  # shaft from the left edge, head on the right
    (-0.7, -0.17),
    (0.05, -0.17),
    (0.05, -0.5),
    (0.72, 0.0),
    (0.05, 0.5),
    (0.05, 0.17),
    (-0.7, 0.17),
]
_L = [(-0.48, -0.7), (-0.13, -0.7), (-0.13, 0.35), (0.48, 0.35), (0.48, 0.7), (-0.48, 0.7)]
_TRIANGLE_UP = [(0.0, -0.62), (0.7, 0.55), (-0.7, 0.55)]
_CIRCLE = [(0.62 * math.sin(t), 0.62 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 48, endpoint=False)]

_POLYGONS = {
    "arrow left": _mirror(_ARROW_RIGHT),
    "arrow right": _ARROW_RIGHT,
    "L": _L,
    "J": _mirror(_L),
    "circle": _CIRCLE,
    "square": [(-0.52, -0.52), (0.52, -0.52), (0.52, 0.52), (-0.52, 0.52)],
    "triangle up": _TRIANGLE_UP,
    "triangle down": _flip_vertical(_TRIANGLE_UP),
}


@dataclass(frozen=True)
class ShapesConfig:
    size: int = 28  # image side in pixels: small enough for a CPU CNN, big enough to see the shape
    per_class: int = 150  # images per class (train + test): 1,200 images, generated in a fraction of a second
    noise: float = 0.5  # 0..1: shift up to ±5% of the side, rotation up to ±10°, mild shading and pixel noise
    seed: int = 0  # same seed, same images and same split
    test_fraction: float = 0.25  # held out from every class alike


def validate(cfg: ShapesConfig) -> None:
    """Raise ConfigError with one readable sentence if the images cannot be generated."""
    if isinstance(cfg.size, bool) or not isinstance(cfg.size, int) or not 16 <= cfg.size <= 64:
        raise ConfigError(f"The image size must be a whole number of pixels from 16 to 64, not {cfg.size}.")
    n = cfg.per_class
    if isinstance(n, bool) or not isinstance(n, int) or not 10 <= n <= 2000:
        raise ConfigError(f"The number of images per class must be from 10 to 2000, not {cfg.per_class}.")
    if not 0.0 <= cfg.noise <= 1.0:
        raise ConfigError(f"The noise must be between 0 and 1, not {cfg.noise}.")
    if not 0.05 <= cfg.test_fraction <= 0.9:
        raise ConfigError(f"The test fraction must be between 0.05 and 0.9, not {cfg.test_fraction}.")
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise ConfigError(f"The seed must be a whole number of at least 0, not {cfg.seed}.")


def _colours(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(background, foreground): (n, 3) RGB in [0, 1] whose lumas differ by at least _MIN_CONTRAST."""
    bg = rng.uniform(size=(n, 3))
    fg = rng.uniform(size=(n, 3))
    bad = np.abs((fg - bg) @ _LUMA) < _MIN_CONTRAST
    while bad.any():  # redraw only the pairs that are too close (about 3 in 4 the first time)
        fg[bad] = rng.uniform(size=(int(bad.sum()), 3))
        bad = np.abs((fg - bg) @ _LUMA) < _MIN_CONTRAST
    return bg, fg


def _masks(labels: np.ndarray, size: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """(n, size, size) float32 coverage in [0, 1] of each jittered shape."""
    n = len(labels)
    angle = np.radians(rng.uniform(-20.0, 20.0, size=n) * noise)
    scale = _SHAPE_SCALE * rng.uniform(1.0 - 0.25 * noise, 1.0 + 0.15 * noise, size=n)
    shift = rng.uniform(-0.2, 0.2, size=(n, 2)) * noise  # with the scale, every shape stays inside its frame
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    rot = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)  # (n, 2, 2) row-vector form
    out = np.empty((n, size, size), dtype=np.float32)
    for c, name in enumerate(CLASSES):
        idx = np.flatnonzero(labels == c)
        base = np.asarray(_POLYGONS[name], dtype=np.float64)
        pts = np.einsum("pj,njk->npk", base, rot[idx]) + shift[idx, None, :]  # (m, vertices, 2)
        for start in range(0, len(idx), _TILES * _TILES):
            chunk = idx[start : start + _TILES * _TILES]
            out[chunk] = _draw_tiles(pts[start : start + len(chunk)], size)
    return out


def _draw_tiles(pts: np.ndarray, size: int) -> np.ndarray:
    """Draw up to _TILES^2 polygons (frame coordinates) on supersampled canvases of tiles.

    PIL's fill rule treats left and right edges slightly differently (up to 1/8 pixel here), so
    each shape is the average of its own raster and the flipped raster of its mirror image:
    then drawing a mirrored polygon gives exactly the flipped image.
    """
    own = _raster(pts, size)
    mirrored = _raster(pts * np.array([-1.0, 1.0]), size)
    return (own + mirrored[:, :, ::-1]) * np.float32(0.5)


def _raster(pts: np.ndarray, size: int) -> np.ndarray:
    """(m, size, size) coverage of m polygons, drawn as tiles of one canvas and box-averaged down."""
    from PIL import Image, ImageDraw

    big = size * _SUPERSAMPLE
    half = big / 2  # frame [-1, 1] -> pixels [0, big]: x -> -x is the pixel flip
    m = len(pts)
    cols = min(m, _TILES)
    rows = -(-m // cols)
    canvas = Image.new("L", (cols * big, rows * big), 0)
    draw = ImageDraw.Draw(canvas)
    tile = np.arange(m)
    offset = np.stack([tile % cols, tile // cols], 1)[:, None, :] * big  # (m, 1, 2) tile corner
    for polygon in ((pts + 1.0) * half + offset).reshape(m, -1).tolist():
        draw.polygon(polygon, fill=255)
    small = np.asarray(canvas.reduce(_SUPERSAMPLE), dtype=np.float32) / 255.0
    return small.reshape(rows, size, cols, size).transpose(0, 2, 1, 3).reshape(-1, size, size)[:m]


def _render(labels: np.ndarray, cfg: ShapesConfig, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, size, size) float32 images in [0, 1], composed in chunks to bound the memory."""
    n, size, noise = len(labels), cfg.size, cfg.noise
    bg, fg = (c.astype(np.float32) for c in _colours(n, rng))
    theta = rng.uniform(0.0, 2 * math.pi, size=n)
    masks = _masks(labels, size, noise, rng)
    axis = ((np.arange(size) + 0.5) / size * 2 - 1).astype(np.float32)
    out = np.empty((n, 3, size, size), dtype=np.float32)
    step = 512
    for a in range(0, n, step):
        b = min(n, a + step)
        mask = masks[a:b, None]  # (m, 1, H, W)
        img = bg[a:b, :, None, None] + (fg[a:b] - bg[a:b])[:, :, None, None] * mask
        # Shading: a brightness ramp in a random direction (symmetric, so mirrors stay exact).
        cos = np.cos(theta[a:b]).astype(np.float32)[:, None, None, None]
        sin = np.sin(theta[a:b]).astype(np.float32)[:, None, None, None]
        img *= 1.0 + 0.15 * noise * (cos * axis + sin * axis[:, None])
        if noise > 0:
            img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.06 * noise)
        np.clip(img, 0.0, 1.0, out=out[a:b])
    return out


def generate(cfg: ShapesConfig) -> ImageSet:
    """Balanced images of every class in CLASSES, split per class by cfg.test_fraction."""
    validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    k = len(CLASSES)
    n_test = max(1, round(cfg.per_class * cfg.test_fraction))  # stratified: the same share of every class
    y_test = rng.permutation(np.repeat(np.arange(k), n_test))
    y_train = rng.permutation(np.repeat(np.arange(k), cfg.per_class - n_test))
    x = torch.from_numpy(_render(np.concatenate([y_train, y_test]), cfg, rng))
    return ImageSet(
        x[: len(y_train)],
        torch.from_numpy(y_train.astype(np.int64)),
        x[len(y_train) :],
        torch.from_numpy(y_test.astype(np.int64)),
        CLASSES,
    )
