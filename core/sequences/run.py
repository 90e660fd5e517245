"""SeqRun: a seeded forecasting run over windows of a series, advanced in bounded slices."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from torchmetrics.regression import MeanSquaredError

from core.data import BatchOrder
from core.data.series import Series
from core.device import default_device
from core.registry import OPTIMIZERS, SCHEDULES
from core.sequences.config import SeqConfig, validate
from core.sequences.models import build_forecaster, parameter_count
from core.sequences.windows import Windows, last_value, make_windows, seasonal_naive
from core.training import Trainer

PROBE_WINDOWS = 64  # test windows whose input gradients are averaged
MAX_SHOWN = 1_000  # forecast points drawn from the start of the test period (10 days at 15 min)


@dataclass(frozen=True, slots=True)
class SeqStepRecord:
    """One optimizer step."""

    step: int  # 1-based
    loss: float  # MSE on this step's batch, normalised units, before the update
    lr: float
    grad_norm: float  # of all parameters, before clipping
    seconds: float  # wall time of the step: batch, forward, backward, update


@dataclass(frozen=True, slots=True)
class SeqEvalRecord:
    """MSE on the train and test windows, and how strongly each input step moves the test loss."""

    step: int
    train_mse: float  # normalised units, on up to eval_windows evenly spaced windows
    test_mse: float
    input_grads: tuple[float, ...]  # (T,) oldest input first: mean over windows of |d loss / d x_t|


@dataclass(frozen=True)
class Forecast:
    """The test period's first MAX_SHOWN values, and forecasts for them in the series' unit."""

    times: np.ndarray  # (M,) datetime64
    truth: np.ndarray  # (M,)
    one_step: np.ndarray  # (M,) each value predicted from the true window right before it
    multi: np.ndarray  # (M,) recursive forecasts started at each origin, NaN before the first
    origins: np.ndarray  # (K,) positions in `times` where a recursive forecast starts
    length: int  # steps of each long forecast (a day when the series has days)
    horizon: int  # steps the model predicts at once; a longer forecast feeds them back in
    multi_mse: float  # normalised units, over every recursive step
    seasonal_multi: np.ndarray  # (M,) the day before, over the same stretches, for comparison
    seasonal_multi_mse: float


def evenly(starts: torch.Tensor, k: int) -> torch.Tensor:
    """At most k of the starts, evenly spaced (all of them when there are few)."""
    if len(starts) <= k:
        return starts
    return starts[torch.linspace(0, len(starts) - 1, k).round().long().to(starts.device)]


class SeqRun(Trainer):
    """One recurrent cell on one split of one series; runs with the same split, seed and batch size
    see the same windows in the same batches, and the same cell and seed start from the same weights."""

    def __init__(self, cfg: SeqConfig, series: Series, device: torch.device | None = None):
        validate(cfg)
        self.cfg = cfg
        self.series = series
        self.device = device or default_device()
        self.windows: Windows = make_windows(series.values, cfg.window, cfg.train.seed).to(self.device)
        w, k = self.windows, cfg.train.eval_windows
        self._train_eval, self._test_eval = evenly(w.train_starts, k), evenly(w.test_starts, k)
        self._probe = evenly(w.test_starts, PROBE_WINDOWS)
        self._mse = MeanSquaredError().to(self.device)
        self.baselines = self._baselines()
        self._build()

    def _build(self) -> None:
        cfg = self.cfg
        self.model = build_forecaster(cfg.model, cfg.window.horizon, cfg.train.seed).to(self.device)
        self.n_parameters = parameter_count(self.model)
        self.optimizer = OPTIMIZERS.get(cfg.optim.name).make(self.model.parameters(), cfg.optim)
        self.scheduler = SCHEDULES.get(cfg.optim.schedule).make(self.optimizer, cfg.optim, cfg.train.steps)
        n_train = len(self.windows.train_starts)
        self._batches = BatchOrder(n_train, cfg.train.batch_size, cfg.train.seed, self.device)
        self._forecast: tuple[int, Forecast] | None = None
        self._start()
        self.evals: list[SeqEvalRecord] = [self.evaluate(0)]

    # ---- training ------------------------------------------------------------------------

    def _step(self) -> SeqStepRecord:
        started = time.perf_counter()
        cfg = self.cfg.train
        step = self.step + 1
        starts = self.windows.train_starts[self._batches.next()]
        x, y = self.windows.inputs(starts), self.windows.targets(starts)  # (B, T, 1), (B, h)
        self.model.train()
        loss = F.mse_loss(self.model.predict(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        limit = cfg.clip_norm if cfg.clip_norm > 0 else math.inf  # inf: measure the norm, scale nothing
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), limit)
        loss_v, norm_v = torch.stack([loss.detach(), norm]).tolist()  # one device->host copy per step
        finite = math.isfinite(loss_v) and math.isfinite(norm_v)
        lr = self._update(finite)
        record = SeqStepRecord(step, loss_v, lr, norm_v, time.perf_counter() - started)
        self.records.append(record)
        self._close_step(step, finite)
        return record

    def _score(self, pred: torch.Tensor, target: torch.Tensor) -> float:
        """torchmetrics' MSE over every predicted value."""
        self._mse.reset()
        return float(self._mse(pred.flatten(), target.flatten()))

    def evaluate(self, step: int) -> SeqEvalRecord:
        """Train and test MSE (model in eval mode), and the input-gradient profile of the test loss."""
        w = self.windows
        self.model.eval()
        with torch.no_grad():
            train, test = (
                self._score(self.model.predict(w.inputs(s)), w.targets(s))
                for s in (self._train_eval, self._test_eval)
            )
        return SeqEvalRecord(step, train, test, self.input_gradients())

    def input_gradients(self) -> tuple[float, ...]:
        """(T,) how much each input step moves the loss: |d loss / d x_t|, norm over features, batch mean.

        Each window's own squared error is differentiated, so the numbers do not shrink with the batch.
        Train mode because cuDNN differentiates recurrent layers only there (these have no dropout).
        """
        w = self.windows
        x = w.inputs(self._probe).requires_grad_(True)  # (B, T, 1)
        self.model.train()
        loss = (self.model.predict(x) - w.targets(self._probe)).pow(2).mean(dim=1).sum()
        (grad,) = torch.autograd.grad(loss, x)  # (B, T, 1)
        return tuple(grad.norm(dim=2).mean(dim=0).tolist())  # (T,)

    def _baselines(self) -> dict[str, float]:
        """Test MSE of the naive forecasts, on the same windows the model's test MSE uses."""
        w, s = self.windows, self._test_eval
        scores = {"Last value": self._score(last_value(w, s), w.targets(s))}
        if self.series.season:
            scores["Same time the day before"] = self._score(
                seasonal_naive(w, s, self.series.season), w.targets(s)
            )
        return scores

    @property
    def best_baseline(self) -> tuple[str, float]:
        return min(self.baselines.items(), key=lambda item: item[1])

    # ---- reading the run -------------------------------------------------------------------

    def seconds_per_step(self, last: int = 20) -> float | None:
        """Median wall time of the last steps (the first steps pay one-off costs)."""
        times = [r.seconds for r in self.records[-last:]]
        return float(np.median(times)) if times else None

    def forecast(self) -> Forecast:
        """Forecasts over the start of the test period; recomputed only after a new evaluation."""
        at = self.evals[-1].step
        if self._forecast is None or self._forecast[0] != at:
            self._forecast = (at, self._compute_forecast())
        return self._forecast[1]

    @torch.no_grad()
    def _compute_forecast(self) -> Forecast:
        w, series = self.windows, self.series
        self.model.eval()
        starts = w.shown_starts[:MAX_SHOWN]  # windows whose first target is each shown time
        first = w.split_at
        m = len(starts)
        times = series.times[first : first + m]
        truth = series.values[first : first + m]
        one_step = w.original(self.model.predict(w.inputs(starts))[:, 0])
        length = series.season or w.seq_len
        offset = _first_midnight(times) if series.season else 0
        origins = np.arange(offset, m - length + 1, length)
        multi, seasonal = np.full(m, np.nan), np.full(m, np.nan)
        multi_mse = seasonal_mse = math.nan
        if len(origins):
            rolled = self.model.roll(w.inputs(starts[origins]), length)  # (K, L) normalised
            future = (
                starts[origins][:, None] + w.seq_len + torch.arange(length, device=starts.device)
            )  # (K, L)
            back = w.z[(future - length).clamp(min=0)]  # the stretch just before: yesterday, same times
            target = w.z[future]
            multi_mse, seasonal_mse = self._score(rolled, target), self._score(back, target)
            spots = (origins[:, None] + np.arange(length)).ravel()
            multi[spots], seasonal[spots] = w.original(rolled).ravel(), w.original(back).ravel()
        return Forecast(
            times, truth, one_step, multi, origins, length, w.horizon, multi_mse, seasonal, seasonal_mse
        )


def _first_midnight(times: np.ndarray) -> int:
    """Position of the first time at 00:00, so day-long forecasts cover calendar days."""
    midnight = np.flatnonzero(times == times.astype("datetime64[D]"))
    return int(midnight[0]) if len(midnight) else 0
