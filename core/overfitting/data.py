"""The Overfitting lab's three sets: a training pool, a validation set and a test set, disjoint and seeded.

The validation and test sets have fixed sizes whatever the training set's size, so that a gap that opens
is the training set's doing. The pool is ordered so that its first n examples cover the classes as evenly
as n allows: ten digits from the pool are one of each, not four sevens.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from core.overfitting.config import DATASETS, FitData


@dataclass(frozen=True, eq=False)
class Splits:
    """Three disjoint sets held in memory; `side` is the image side for image data (None for points)."""

    name: str
    x_pool: torch.Tensor  # (N_pool, F) float32: the training examples, class-balanced from the start
    y_pool: torch.Tensor  # (N_pool,) int64
    x_val: torch.Tensor  # (N_val, F)
    y_val: torch.Tensor
    x_test: torch.Tensor  # (N_test, F): used only when the student asks for it
    y_test: torch.Tensor
    class_names: tuple[str, ...]
    side: int | None  # 8 for the 8x8 digits

    @property
    def n_features(self) -> int:
        return self.x_pool.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: torch.device) -> Splits:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v.to(device) for k, v in moved.items() if isinstance(v, torch.Tensor)})


def _raw(cfg: FitData) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], int | None]:
    if cfg.name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = bunch.data / 16.0  # (1797, 64) ink 0..1, background 0: augmentation pads with background
        return x, bunch.target, tuple(str(c) for c in bunch.target_names), 8
    from core.data.toy import generate

    total = DATASETS[cfg.name][1]
    x, y = generate(cfg.name, total, cfg.noise, cfg.seed)
    return (x - x.mean(axis=0)) / x.std(axis=0), y, ("class 0", "class 1"), None


def balanced_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of y reordered so that every prefix holds the classes as evenly as it can: the first of
    each class (classes in a random order), then the second of each, and so on."""
    classes = rng.permutation(np.unique(y))
    rank = np.empty(len(y), dtype=np.int64)
    for c in classes:
        where = np.flatnonzero(y == c)
        rank[where] = np.arange(len(where))
    class_turn = np.empty(int(y.max()) + 1, dtype=np.int64)
    class_turn[classes] = np.arange(len(classes))
    return np.lexsort((class_turn[y], rank))  # by rank first, then by the class's turn


def load(cfg: FitData) -> Splits:
    """The three sets of `cfg` (same config, same sets)."""
    x, y, names, side = _raw(cfg)
    _, _, n_val, n_test = DATASETS[cfg.name]
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(x))
    test, val, pool = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    pool = pool[balanced_order(y[pool], rng)]

    def tensors(rows):
        return torch.from_numpy(x[rows].astype(np.float32)), torch.from_numpy(y[rows].astype(np.int64))

    return Splits(cfg.name, *tensors(pool), *tensors(val), *tensors(test), names, side)
