"""Two-dimensional toy sets in the spirit of TensorFlow Playground, generated offline."""

from __future__ import annotations

import numpy as np

from core.data import Dataset, split_and_standardise

TOY_SETS = {
    "circle": ("Circle", "A disc of one class inside a ring of the other."),
    "xor": ("XOR", "Four quadrants: the class is the sign of x times y."),
    "gauss": ("Two Gaussians", "Two blobs; noise makes them overlap."),
    "spiral": ("Spiral", "Two interleaved spirals, hard for shallow models."),
    "moons": ("Moons", "Two interleaving half circles (scikit-learn's make_moons)."),
}


def _circle(n, noise, rng):
    from sklearn.datasets import make_circles

    return make_circles(n, noise=noise, factor=0.5, random_state=rng.integers(2**31))


def _moons(n, noise, rng):
    from sklearn.datasets import make_moons

    return make_moons(n, noise=noise, random_state=rng.integers(2**31))


def _gauss(n, noise, rng):
    from sklearn.datasets import make_blobs

    centers = [(1.0, 1.0), (-1.0, -1.0)]
    return make_blobs(n, centers=centers, cluster_std=0.3 + 2 * noise, random_state=rng.integers(2**31))


def _xor(n, noise, rng):
    pts = rng.uniform(-1, 1, size=(n, 2))
    pts += np.sign(pts) * 0.05  # a small gap along the axes, as in TF Playground
    y = (pts[:, 0] * pts[:, 1] > 0).astype(np.int64)
    return pts + rng.normal(0, noise, size=pts.shape), y


def _spiral(n, noise, rng):
    half = n // 2
    t = np.sqrt(rng.uniform(0, 1, size=half)) * 3 * np.pi  # angle; sqrt spreads points evenly
    arms = []
    for label, phase in ((0, 0.0), (1, np.pi)):
        r = t / (3 * np.pi)
        arm = np.stack([r * np.cos(t + phase), r * np.sin(t + phase)], axis=1)
        arms.append((arm + rng.normal(0, noise / 3, size=arm.shape), np.full(half, label)))
    x = np.concatenate([a for a, _ in arms])
    y = np.concatenate([b for _, b in arms])
    return x, y


_GENERATORS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral, "moons": _moons}


def generate(name: str, n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): (n, 2) float64 points and (n,) int labels of the named toy set."""
    rng = np.random.default_rng(seed)
    x, y = _GENERATORS[name](n_samples, noise, rng)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def loader(name: str):
    """A loader (DataConfig) -> Dataset for one toy set."""

    def load(cfg) -> Dataset:
        x, y = generate(name, cfg.n_samples, cfg.noise, cfg.seed)
        return split_and_standardise(name, x, y, ("class 0", "class 1"), cfg.test_fraction, cfg.seed)

    return load
