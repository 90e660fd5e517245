"""Cut a series into (window, target) pairs, split them by time (or, as a warning, at random)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.errors import ConfigError
from core.sequences.config import WindowConfig


@dataclass(frozen=True, eq=False)
class Windows:
    """A normalised series and the start index of every training and test window.

    A window starting at s holds steps s .. s+T-1 as input and s+T .. s+T+h-1 as target.
    Windows are gathered from the series on demand, so overlapping windows cost no memory.
    """

    z: torch.Tensor  # (N,) float32: (value - mean) / std
    train_starts: torch.Tensor  # (n_train,) int64
    test_starts: torch.Tensor  # (n_test,) int64
    shown_starts: torch.Tensor  # (n_shown,) int64: every window whose targets start in the test period
    seq_len: int
    horizon: int
    split_at: int  # index of the first value of the test period
    mean: float  # of the values the statistics were taken from (the training period, for a time split)
    std: float
    split: str  # "time" or "shuffled"

    @property
    def n(self) -> int:
        return len(self.z)

    def inputs(self, starts: torch.Tensor) -> torch.Tensor:
        """(B,) starts -> (B, T, 1): batch, sequence, features."""
        steps = torch.arange(self.seq_len, device=starts.device)
        return self.z[starts[:, None] + steps].unsqueeze(-1)  # (B, T) -> (B, T, 1)

    def targets(self, starts: torch.Tensor) -> torch.Tensor:
        """(B,) starts -> (B, h): the h values right after each window."""
        steps = torch.arange(self.horizon, device=starts.device) + self.seq_len
        return self.z[starts[:, None] + steps]

    def original(self, z: torch.Tensor | np.ndarray) -> np.ndarray:
        """Normalised values back in the series' own unit, for plots."""
        z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
        return z.astype(np.float64) * self.std + self.mean

    def to(self, device: torch.device) -> Windows:
        moved = {
            name: getattr(self, name).to(device)
            for name in ("z", "train_starts", "test_starts", "shown_starts")
        }
        return Windows(**(vars(self) | moved))


def make_windows(values: np.ndarray, cfg: WindowConfig, seed: int = 0) -> Windows:
    """Windows of cfg.seq_len inputs and cfg.horizon targets, split as cfg.split says.

    time: the last test_fraction of the series is the test period; training windows have every
    target before it, test windows (stride 1) every target inside it, and the mean and std come
    from the training period alone. shuffled: windows are dealt to train and test at random and
    the statistics come from the whole series; test targets then sit inside training windows.
    Raises ConfigError with one sentence when the series is too short for the settings.
    """
    n, T, h = len(values), cfg.seq_len, cfg.horizon
    split_at = n - round(n * cfg.test_fraction)
    if n < T + h:
        raise ConfigError(
            f"The series has {n:,} values, fewer than one window needs ({T} inputs + {h} to predict "
            f"= {T + h}); shorten the sequence length or use a longer series."
        )
    if n - split_at < h:
        raise ConfigError(
            f"The test period holds {n - split_at} values, fewer than the horizon of {h}; raise the "
            "test share or shorten the horizon."
        )
    if split_at < T + h:
        raise ConfigError(
            f"With a test share of {cfg.test_fraction:.0%} the training period holds {split_at:,} "
            f"values, fewer than one window needs ({T + h}); shorten the sequence length or lower the "
            "test share."
        )
    shown = np.arange(split_at - T, n - T - h + 1)
    if cfg.split == "time":
        train = np.arange(0, split_at - T - h + 1, cfg.stride)
        test = shown
        fitted = values[:split_at]
    else:
        every = np.random.default_rng(seed).permutation(np.arange(0, n - T - h + 1, cfg.stride))
        n_test = max(1, round(len(every) * cfg.test_fraction))
        test, train = np.sort(every[:n_test]), np.sort(every[n_test:])
        fitted = values
        if not len(train):
            raise ConfigError(
                "A shuffled split needs at least 2 windows; lower the stride or the sequence length."
            )
    mean, std = float(fitted.mean()), float(fitted.std())
    std = std if std > 0 else 1.0  # a constant series stays 0 instead of NaN
    z = torch.from_numpy(((values - mean) / std).astype(np.float32))
    return Windows(
        z,
        *(torch.from_numpy(s.astype(np.int64)) for s in (train, test, shown)),
        T,
        h,
        split_at,
        mean,
        std,
        cfg.split,
    )


# ---- naive forecasts the models must beat ---------------------------------------------------


def last_value(w: Windows, starts: torch.Tensor) -> torch.Tensor:
    """(B, h): the window's last value, repeated for every future step."""
    return w.z[starts + w.seq_len - 1][:, None].expand(-1, w.horizon)


def seasonal_naive(w: Windows, starts: torch.Tensor, season: int) -> torch.Tensor:
    """(B, h): the value one season (a day) before each target; the day before that if still unknown."""
    future = (
        starts[:, None] + w.seq_len + torch.arange(w.horizon, device=starts.device)
    )  # (B, h) target indices
    back = season * (torch.arange(w.horizon, device=starts.device) // season + 1)  # a whole number of seasons
    return w.z[(future - back).clamp(min=0)]
