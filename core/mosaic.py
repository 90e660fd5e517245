"""Image grids as uint8 arrays: samples, augmentation previews, feature maps and filters.

Shown with st.image: one PNG per grid is far cheaper to redraw live than a plotly heatmap per map.
"""

from __future__ import annotations

import numpy as np
import torch

BACKGROUND = 255  # white gaps between tiles


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (N, H, W, 3) uint8; grey images become grey RGB."""
    x = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    x = np.clip(x, 0.0, 1.0)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    return (x.transpose(0, 2, 3, 1) * 255 + 0.5).astype(np.uint8)


def grid(tiles: np.ndarray, cols: int, scale: int = 1, gap: int = 2) -> np.ndarray:
    """(N, h, w, 3) uint8 -> one (rows*(h*scale+gap)-gap, ..., 3) image, tiles enlarged by `scale`."""
    n, h, w, _ = tiles.shape
    if scale > 1:
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)  # nearest neighbour: pixels stay crisp
        h, w = h * scale, w * scale
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), BACKGROUND, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[i]
    return out


def viridis(x: np.ndarray) -> np.ndarray:
    """[0, 1] -> (..., 3) uint8 on a viridis-like ramp (dark blue, green, yellow)."""
    stops = np.array(
        [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32
    )
    pos = np.clip(x, 0, 1) * (len(stops) - 1)
    low = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    frac = (pos - low)[..., None]
    return (stops[low] * (1 - frac) + stops[low + 1] * frac + 0.5).astype(np.uint8)


def feature_tiles(maps: np.ndarray) -> np.ndarray:
    """(C, h, w) activations -> (C, h, w, 3) uint8, each map scaled to its own range (all-zero stays dark)."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    scaled = np.where(span > 1e-12, (maps - low) / np.where(span > 1e-12, span, 1.0), 0.0)
    return viridis(scaled)


def feature_grid(maps: np.ndarray, width: int = 480, max_maps: int = 32) -> np.ndarray:
    """(C, h, w) -> a grid about `width` pixels wide of the first `max_maps` maps."""
    maps = maps[:max_maps]
    c, w = maps.shape[0], maps.shape[2]
    cols = min(c, 8)
    scale = max(1, width // (cols * (w + 2)))
    return grid(feature_tiles(maps), cols, scale)


def filter_tiles(weights: np.ndarray) -> np.ndarray:
    """(out, in, k, k) first-layer kernels -> (out, k, k, 3) uint8: RGB kernels in colour, grey ones
    in a blue (negative) / white / red (positive) scale, each kernel scaled to its own largest |w|."""
    cin = weights.shape[1]
    peak = np.abs(weights).max(axis=(1, 2, 3), keepdims=True)
    w = weights / np.where(peak > 1e-12, peak, 1.0)  # (out, in, k, k) in [-1, 1]
    if cin == 3:
        return ((w.transpose(0, 2, 3, 1) + 1) / 2 * 255 + 0.5).astype(np.uint8)
    g = w.mean(axis=1)  # (out, k, k)
    pos, neg = np.clip(g, 0, 1), np.clip(-g, 0, 1)
    rgb = np.stack([1 - neg, 1 - pos - neg, 1 - pos], axis=-1)  # red for +, blue for -, white at 0
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
