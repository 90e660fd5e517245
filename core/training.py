"""The run object: a seeded training run that advances in bounded slices."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import enum
import math
import time
import typing
from collections.abc import Sequence

import torch

from core.config import RunConfig, validate
from core.data import BatchOrder, Dataset
from core.device import default_device
from core.models import build_mlp
from core.probes import ActivationProbe, GradNormProbe
from core.records import EvalRecord, StepRecord
from core.registry import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES


class Status(str, enum.Enum):
    """Where a run stands; only FINISHED and DIVERGED are final."""

    READY = "ready"
    PLAYING = "playing"
    PAUSED = "paused"
    FINISHED = "finished"
    DIVERGED = "diverged"


class Trainer(abc.ABC):
    """What every lab's run shares: status, play / pause / reset, the learning rate, advance(n).

    A subclass builds its model, optimizer and records in `_build()` (also called by reset),
    trains one step in `_step()` and sets `self.cfg`, whose `.optim` is an OptimConfig and
    whose `.train.steps` is the run's length. The live driver and the comparisons need nothing
    else, so an MLP, a CNN, a recurrent net and a two-headed model all play the same way.
    """

    cfg: typing.Any
    optimizer: torch.optim.Optimizer
    records: list
    status: Status
    diverged_at: int | None
    chosen_lr: float

    @abc.abstractmethod
    def _build(self) -> None:
        """Make the model, optimizer, schedule and batch order; end with self._start()."""

    @abc.abstractmethod
    def _step(self):
        """Train one step and return its record."""

    def _start(self) -> None:
        """Called at the end of `_build()`: nothing trained yet."""
        self.records = []
        self.status = Status.READY
        self.diverged_at = None
        self.chosen_lr = self.cfg.optim.lr  # the user's learning rate; a schedule moves self.lr from it

    # ---- control -----------------------------------------------------------------------

    @property
    def step(self) -> int:
        return len(self.records)

    @property
    def done(self) -> bool:
        return self.status in (Status.FINISHED, Status.DIVERGED)

    def play(self) -> None:
        if not self.done:
            self.status = Status.PLAYING

    def pause(self) -> None:
        if not self.done:
            self.status = Status.PAUSED

    def reset(self) -> None:
        """Back to step 0 with the same initial weights and batch order."""
        self._build()

    @property
    def lr(self) -> float:
        """The learning rate the next step will use (a schedule changes it as steps go)."""
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        """Takes effect at the next step; a schedule goes on from the new value."""
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be positive, not {lr}")
        self.chosen_lr = lr
        self.cfg = dataclasses.replace(
            self.cfg, optim=dataclasses.replace(self.cfg.optim, lr=lr)
        )  # reset keeps it
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def message(self) -> str:
        """One sentence on where the run stands."""
        total = self.cfg.train.steps
        if self.status is Status.DIVERGED:
            return (
                f"Diverged at step {self.diverged_at}: the loss or the gradient became "
                "NaN or infinite, so the run stopped there."
            )
        if self.status is Status.FINISHED:
            return f"Finished all {total} steps."
        return f"Step {self.step} of {total}."

    def _clip(self, loss: float, grad_norm: float) -> tuple[bool, bool]:
        """(finite, clipped): whether the loss and gradient norm are finite, and whether the gradient
        was scaled down to the config's clip_norm (0 = never)."""
        limit = self.cfg.train.clip_norm
        finite = math.isfinite(loss) and math.isfinite(grad_norm)
        clipped = finite and limit > 0 and grad_norm > limit
        if clipped:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), limit)
        return finite, clipped

    def _after_backward(
        self, step: int, loss: float, layer_norms: list[float], total: float, activations=None
    ) -> tuple[StepRecord, bool]:
        """Clip, update and record a step whose per-layer gradient norms were read after backward.

        Returns (record, finite); the caller keeps its own books, then calls _close_step."""
        finite, clipped = self._clip(loss, total)
        lr = self._update(finite)
        record = StepRecord(
            step=step,
            loss=loss,
            lr=lr,
            grad_norms=dict(zip(self.layer_names, layer_norms, strict=True)),
            grad_norm_total=total,
            clipped=clipped,
            activations=activations,
        )
        self.records.append(record)
        return record, finite

    def _update(self, finite: bool) -> float:
        """After backward (and clipping): step the optimizer and the schedule unless the loss or the
        gradient is NaN or infinite. Returns the learning rate this step used."""
        lr = self.lr
        if finite:
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
        return lr

    def _close_step(self, step: int, finite: bool) -> None:
        """A non-finite step ends the run as diverged; otherwise evaluate every eval_every steps and at
        the last step, where the run finishes."""
        cfg = self.cfg.train
        if not finite:
            self.status = Status.DIVERGED
            self.diverged_at = step
        elif step % cfg.eval_every == 0 or step >= cfg.steps:
            self._evaluate_at(step)
        if step >= cfg.steps and not self.done:
            self.status = Status.FINISHED

    def _evaluate_at(self, step: int) -> None:
        self.evals.append(self.evaluate(step))

    def advance(self, n: int, max_seconds: float = 1.0) -> list:
        """Run up to n steps, stopping early at the end, on divergence or after max_seconds."""
        out = []
        deadline = time.perf_counter() + max_seconds
        while len(out) < n and not self.done:
            out.append(self._step())
            if time.perf_counter() > deadline:
                break
        return out


class Run(Trainer):
    """An MLP run: owns data, model, optimizer, loss and seed; `advance(n)` trains n steps at most.

    Two runs whose configs differ only in, say, the optimizer start from the same weights
    and see the same batches, so every comparison is a fair one.
    """

    def __init__(self, cfg: RunConfig, dataset: Dataset, device: torch.device | None = None):
        validate(cfg)
        self.cfg = cfg
        self.device = device or default_device()
        self.data = dataset.to(self.device)
        self._loss_spec = LOSSES.get(cfg.train.loss)
        self._n_out = self._loss_spec.out_features(dataset.n_classes)
        self._build()

    def _build(self) -> None:
        cfg, data = self.cfg, self.data
        self.model = build_mlp(data.n_features, self._n_out, cfg.model, cfg.train.seed).to(self.device)
        self.layer_names = [name for name, _ in self.model.layers()]
        self.init_fingerprint = weight_fingerprint(self.model)
        self.optimizer = OPTIMIZERS.get(cfg.optim.name).make(self.model.parameters(), cfg.optim)
        self.scheduler = SCHEDULES.get(cfg.optim.schedule).make(self.optimizer, cfg.optim, cfg.train.steps)
        self.loss_fn = self._loss_spec.make()
        self._y_train = self._loss_spec.target(data.y_train, data.n_classes)
        self._y_test = self._loss_spec.target(data.y_test, data.n_classes)
        self._batches = BatchOrder(len(data.x_train), cfg.train.batch_size, cfg.train.seed, self.device)
        self._grads = GradNormProbe(self.model.layers())
        self._acts = ActivationProbe(
            self.model.activations(), ACTIVATIONS.get(cfg.model.activation).saturation
        )
        self._start()
        self.evals: list[EvalRecord] = [self.evaluate(0)]

    # ---- training ----------------------------------------------------------------------

    def _step(self) -> StepRecord:
        cfg = self.cfg.train
        step = self.step + 1
        idx = self._batches.next()
        x, y = self.data.x_train[idx], self._y_train[idx]  # (B, F), (B,) or (B, C)
        sampled = (step - 1) % cfg.probe_every == 0
        if not self.model.training:  # only evaluate() switches modes; train() walks every module
            self.model.train()
        with self._acts.capture() if sampled else contextlib.nullcontext() as acts:
            out = self.model(x)
        loss = self.loss_fn(out, y)
        self._grads.zero()  # the probe's flat gradient buffer; replaces optimizer.zero_grad()
        loss.backward()
        (loss_v,), layer_v, total_v = self._grads.read(loss)  # one device->host copy per step
        record, finite = self._after_backward(step, loss_v, layer_v, total_v, dict(acts) if sampled else None)
        self._close_step(step, finite)
        return record

    @torch.no_grad()
    def evaluate(self, step: int) -> EvalRecord:
        """Loss and accuracy on all train and test examples, model in eval mode."""
        self.model.eval()
        values = []
        for x, y, labels in (
            (self.data.x_train, self._y_train, self.data.y_train),
            (self.data.x_test, self._y_test, self.data.y_test),
        ):
            out = self.model(x)
            values += [self.loss_fn(out, y), (self._loss_spec.predict(out) == labels).float().mean()]
        train_loss, train_acc, test_loss, test_acc = torch.stack(values).tolist()
        return EvalRecord(step, train_loss, train_acc, test_loss, test_acc)

    @torch.no_grad()
    def predict_grid(self, resolution: int = 60):
        """(xs (R,), ys (R,), class-1 score (R, R)) over the data's range; 2-D data only."""
        if self.data.n_features != 2:
            raise ValueError("a decision grid needs 2-D inputs")
        x = torch.cat([self.data.x_train, self.data.x_test]).cpu()  # (N, 2)
        low, high = x.min(dim=0).values - 0.3, x.max(dim=0).values + 0.3
        xs = torch.linspace(low[0].item(), high[0].item(), resolution)
        ys = torch.linspace(low[1].item(), high[1].item(), resolution)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")  # (R, R) each, rows follow y
        points = torch.stack([gx.flatten(), gy.flatten()], dim=1).to(self.device)  # (R*R, 2)
        self.model.eval()
        score = self._loss_spec.score(self.model(points)).reshape(resolution, resolution)
        return xs.numpy(), ys.numpy(), score.float().cpu().numpy()


def advance_together(runs: Sequence[Trainer], max_rounds: int, max_seconds: float = 1.0) -> int:
    """Up to max_rounds rounds of one step per unfinished run, in turn; returns the rounds run.

    Step by step, so runs that are compared grow together and none gets ahead.
    """
    deadline = time.perf_counter() + max_seconds
    for i in range(max_rounds):
        live = [run for run in runs if not run.done]
        if not live:
            return i
        for run in live:
            run.advance(1, max_seconds=math.inf)
        if time.perf_counter() > deadline:
            return i + 1
    return max_rounds


def weight_fingerprint(model: torch.nn.Module) -> tuple:
    """A cheap summary of every Linear weight: equal fingerprints mean equal weights."""
    prints = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            w = module.weight.detach().double().flatten()
            ramp = torch.linspace(1, 2, w.numel(), dtype=torch.float64, device=w.device)
            prints.append(
                (tuple(module.weight.shape), round(w.sum().item(), 9), round((w * ramp).sum().item(), 9))
            )
    return tuple(prints)
