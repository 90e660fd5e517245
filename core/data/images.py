"""Image datasets held in memory: the ImageSet every image lab trains on, and its stratified split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class ImageSet:
    """A stratified train/test split of images held in memory (grey or RGB)."""

    x_train: torch.Tensor  # (N_train, C, H, W) float32 in [0, 1], C = 1 (grey) or 3 (RGB)
    y_train: torch.Tensor  # (N_train,) int64 class indices
    x_test: torch.Tensor  # (N_test, C, H, W) float32 in [0, 1]
    y_test: torch.Tensor  # (N_test,) int64
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.x_train.shape[1:])

    def counts(self) -> dict[str, int]:
        """Class name -> number of images in train and test together."""
        n = torch.bincount(torch.cat([self.y_train, self.y_test]).cpu(), minlength=self.n_classes)
        return {name: int(c) for name, c in zip(self.class_names, n.tolist(), strict=True)}

    def to(self, device: torch.device) -> ImageSet:
        return ImageSet(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.class_names,
        )


def stratified_split(
    x: torch.Tensor, y: np.ndarray, class_names: tuple[str, ...], test_fraction: float, seed: int
) -> ImageSet:
    """Hold out `test_fraction` of every class (at least one image of each class with two or more).

    x: (N, C, H, W) float32 in [0, 1]; y: (N,) class indices. Same seed, same split.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.int64)
    test, train = [], []
    for c in range(len(class_names)):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = min(len(idx) - 1, max(1, round(len(idx) * test_fraction))) if len(idx) > 1 else 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    test_idx = torch.from_numpy(rng.permutation(np.concatenate(test)))
    train_idx = torch.from_numpy(rng.permutation(np.concatenate(train)))
    y_t = torch.from_numpy(y)
    return ImageSet(x[train_idx], y_t[train_idx], x[test_idx], y_t[test_idx], tuple(class_names))
