"""SeqRun: a seeded forecasting run over windows of a series, advanced in bounded slices."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from torchmetrics.regression import MeanSquaredError

from core.budget import Cost
from core.data import BatchOrder
from core.data.series import SERIES, Series, SeriesConfig
from core.device import default_device
from core.registry import OPTIMIZERS, SCHEDULES
from core.sequences.config import SPLITS, SeqConfig, validate
from core.sequences.models import CELLS, Forecaster, build_forecaster, parameter_count
from core.sequences.windows import Windows, last_value, make_windows, seasonal_naive
from core.training import Pieces, Trainer, run_all

PROBE_WINDOWS = 64  # test windows whose input gradients are averaged
MAX_SHOWN = 1_000  # forecast points drawn from the start of the test period (10 days at 15 min)
EVAL_WINDOWS = 64  # windows per piece of an evaluation or a forecast (BENCHMARKS.md: the run budget)
SIDE_BY_SIDE = len(CELLS) * len(SPLITS)  # runs that step together at most: every cell on both splits
# What a recurrent layer costs at each time step besides its multiply-adds, counted as multiply-adds:
# on a CPU a GRU runs a few small operations per time step (~0.5 ms of a training step, forward and
# backward, on the project's machine); an evaluation, forward only and without autograd, about a fifth.
RECURRENT_STEP_MACS = 2.5e6


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


def seq_run_cost(cfg: SeqConfig, length: int, n_train: int, evaluated: int) -> Cost:
    """The estimated cost of a run of `cfg` on a series of `length` values with `n_train` training
    windows, whose evaluation (forecasts included) reads `evaluated` windows; nothing is built."""
    t, layers, hidden, horizon = cfg.window.seq_len, cfg.model.layers, cfg.model.hidden, cfg.window.horizon
    rnn = Forecaster(cfg.model, horizon).rnn  # on the meta device: no memory
    weights = sum(p.numel() for name, p in rnn.named_parameters() if name.startswith("weight"))
    window_macs = t * weights + hidden * horizon  # one window's forward pass
    batch = min(cfg.train.batch_size, n_train)
    pieces = -(-evaluated // EVAL_WINDOWS)
    return Cost(  # the series, normalised, beside its windows; per weight: itself, its gradient and two
        # optimizer states (4 x 4 bytes); per window of a batch, layer and time step: the gates and states
        # kept for backward (~6 x hidden), and their gradients
        bytes=4 * 3 * length + 16 * (weights + hidden * horizon) + 4 * 2 * batch * t * layers * 6 * hidden,
        step_macs=3 * batch * window_macs + t * layers * RECURRENT_STEP_MACS,
        eval_macs=evaluated * window_macs + pieces * t * layers * RECURRENT_STEP_MACS / 5,
    )


def evenly(starts: torch.Tensor, k: int) -> torch.Tensor:
    """At most k of the starts, evenly spaced (all of them when there are few)."""
    if len(starts) <= k:
        return starts
    return starts[torch.linspace(0, len(starts) - 1, k).round().long().to(starts.device)]


class SeqRun(Trainer):
    """One recurrent cell on one split of one series; runs with the same split, seed and batch size
    see the same windows in the same batches, and the same cell and seed start from the same weights."""

    # what a page reads of a run that trains in a live engine (core.enginehost): sent once, or called there
    VIEW_ATTRS = ("series", "device", "windows", "baselines", "best_baseline", "n_parameters")
    VIEW_CALLS = ("forecast", "seconds_per_step")

    def __init__(self, cfg: SeqConfig, series: Series, device: torch.device | None = None):
        validate(cfg)
        self.cfg = cfg
        self.series = series
        self.device = device or default_device()
        self.windows: Windows = make_windows(series.values, cfg.window, cfg.train.seed).to(self.device)
        w, k = self.windows, cfg.train.eval_windows
        self._train_eval, self._test_eval = evenly(w.train_starts, k), evenly(w.test_starts, k)
        self._probe = evenly(w.test_starts, PROBE_WINDOWS)
        evaluated = len(self._train_eval) + len(self._test_eval) + 3 * len(self._probe) + MAX_SHOWN
        self.cost = seq_run_cost(cfg, len(series.values), len(w.train_starts), evaluated).check(
            "use a shorter window, fewer layers, or a smaller hidden size or batch", SIDE_BY_SIDE
        )
        self._mse = MeanSquaredError().to(self.device)
        self.baselines = self._baselines()
        self._forecasting = False  # made with every evaluation once the page has asked for a forecast
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
        step = self.step + 1
        starts = self.windows.train_starts[self._batches.next()]
        x, y = self.windows.inputs(starts), self.windows.targets(starts)  # (B, T, 1), (B, h)
        self.model.train()
        loss = F.mse_loss(self.model.predict(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        loss_v, norm_v = torch.stack([loss.detach(), norm]).tolist()  # one device->host copy per step
        record, finite = self._finish_step(  # clip, update, record: as every run (core.training)
            loss_v,
            norm_v,
            lambda lr, _: SeqStepRecord(step, loss_v, lr, norm_v, time.perf_counter() - started),
        )
        self._close_step(step, finite)
        return record

    def _score(self, pred: torch.Tensor, target: torch.Tensor) -> float:
        """torchmetrics' MSE over every predicted value."""
        self._mse.reset()
        return float(self._mse(pred.flatten(), target.flatten()))

    def _predict(self, starts: torch.Tensor) -> torch.Tensor:
        """(B,) window starts -> (B, h) predictions, normalised."""
        return self.model.predict(self.windows.inputs(starts))

    def _evaluation(self, step: int) -> Pieces:
        """Train and test MSE (model in eval mode), the input-gradient profile of the test loss, and the
        forecasts once the page has asked for them."""
        w = self.windows
        scores = []
        for starts in (self._train_eval, self._test_eval):
            pred = torch.cat((yield from self._in_pieces(self._predict, starts, size=EVAL_WINDOWS)))
            scores.append(self._score(pred, w.targets(starts)))
        grads = yield from self.input_gradients()
        if self._forecasting:
            self._forecast = (step, (yield from self._forecast_pieces()))
        return SeqEvalRecord(step, *scores, grads)

    def input_gradients(self) -> Pieces:
        """(T,) how much each input step moves the loss: |d loss / d x_t|, norm over features, batch mean.

        Each window's own squared error is differentiated, so the numbers do not shrink with the batch.
        Train mode because cuDNN differentiates recurrent layers only there (these have no dropout).
        """
        w = self.windows
        norms = []
        for starts in self._probe.split(EVAL_WINDOWS):
            x = w.inputs(starts).requires_grad_(True)  # (B, T, 1)
            self.model.train()
            loss = (self.model.predict(x) - w.targets(starts)).pow(2).mean(dim=1).sum()
            (grad,) = torch.autograd.grad(loss, x)  # (B, T, 1)
            norms.append(grad.norm(dim=2))  # (B, T)
            yield
        return tuple(torch.cat(norms).mean(dim=0).tolist())  # (T,)

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
        """Forecasts over the start of the test period, as of the last evaluation. The first is made here;
        from then on every evaluation makes them too, in its pieces, so the page never waits for them."""
        at = self.evals[-1].step
        if self._forecast is None or self._forecast[0] != at:
            self._forecasting = True
            self._forecast = (at, run_all(self._forecast_pieces()))
        return self._forecast[1]

    def _forecast_pieces(self) -> Pieces:
        w, series = self.windows, self.series
        starts = w.shown_starts[:MAX_SHOWN]  # windows whose first target is each shown time
        first = w.split_at
        m = len(starts)
        times = series.times[first : first + m]
        truth = series.values[first : first + m]
        pred = torch.cat((yield from self._in_pieces(self._predict, starts, size=EVAL_WINDOWS)))  # (M, h)
        one_step = w.original(pred[:, 0])
        length = series.season or w.seq_len
        offset = _first_midnight(times) if series.season else 0
        origins = np.arange(offset, m - length + 1, length)
        multi, seasonal = np.full(m, np.nan), np.full(m, np.nan)
        multi_mse = seasonal_mse = math.nan
        if len(origins):
            pieces = self._in_pieces(
                lambda s: self.model.roll(w.inputs(s), length), starts[origins], size=EVAL_WINDOWS
            )
            rolled = torch.cat((yield from pieces))  # (K, L) normalised
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


@functools.lru_cache(maxsize=8)
def builtin_series(data: SeriesConfig) -> Series:
    """A built-in series, made once per process (a live engine's)."""
    return SERIES.get(data.name).load(data)


def series_run(series: Series | None, cfg: SeqConfig) -> SeqRun:
    """A run of cfg on an uploaded series, or on the built-in one when series is None (picklable with
    functools.partial: the build a session sends to a live engine with its configs)."""
    return SeqRun(cfg, series if series is not None else builtin_series(cfg.data))
