"""scikit-learn's 1,797 real 8x8 handwritten digits, flattened to 64 features (offline)."""

from __future__ import annotations

import numpy as np

from core.data import Dataset, split_and_standardise

LABEL = "Handwritten digits (8x8, 64 features)"
DESCRIPTION = "1,797 real handwritten digits shipped with scikit-learn, 10 classes."


def load(cfg) -> Dataset:
    """Load digits (cfg.n_samples and cfg.noise do not apply); split by cfg.seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data.astype(np.float64) / 16.0  # (1797, 64) pixel intensities 0..1
    names = tuple(str(c) for c in bunch.target_names)
    return split_and_standardise("digits", x, bunch.target, names, cfg.test_fraction, cfg.seed)
