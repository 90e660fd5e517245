"""The run object: a seeded training run that advances in bounded slices.

A step is one optimizer update and, every eval_every steps, an evaluation over whole data sets. The
evaluation is a generator of pieces (a slice of the test set each): `advance` runs them all at once,
while the live worker (core.live) runs one piece at a time and lets a waiting command in between two,
so that Pause does not wait for a whole test set. A run evaluating is never trained: the model does not
change between the pieces, so the pieces give the same numbers whenever they run, and the record lands
whole with the last one.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import enum
import itertools
import math
import time
import typing
from collections.abc import Callable, Generator, Sequence

import torch

from core.budget import Cost, data_bytes, rows_per_piece
from core.config import RunConfig, validate
from core.data import BatchOrder, Dataset
from core.device import default_device
from core.models import build_mlp
from core.probes import ActivationProbe, GradNormProbe
from core.records import EvalRecord, StepRecord
from core.registry import ACTIVATIONS, LOSSES, OPTIMIZERS, SCHEDULES

Pieces = Generator[None, None, typing.Any]  # an evaluation: yields after each piece, returns its record


def run_all(pieces: Pieces) -> typing.Any:
    """Every piece at once; what the last returns."""
    while True:
        try:
            next(pieces)
        except StopIteration as end:
            return end.value


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
    trains one step in `_step()`, evaluates in pieces in `_evaluation()` and sets `self.cfg`,
    whose `.optim` is an OptimConfig and whose `.train.steps` is the run's length. The live
    driver and the comparisons need nothing else, so an MLP, a CNN, a recurrent net and a
    two-headed model all play the same way.
    """

    cfg: typing.Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    records: list
    evals: list
    status: Status
    diverged_at: int | None
    chosen_lr: float
    _evaluating: Pieces | None = None  # the evaluation under way, if a step made one due
    cost: Cost | None = None  # what the run holds and spends, as estimated before it was built
    generation = 0  # +1 at every start over (reset, rebuild): a live engine sends records since then
    # what a page may read of a run trained in a live engine (core.remote) beside its records and status:
    # attributes sent once with the run, and methods called in the engine under the worker's lock
    VIEW_ATTRS: tuple[str, ...] = ()
    VIEW_CALLS: tuple[str, ...] = ()

    @abc.abstractmethod
    def _build(self) -> None:
        """Make the model, optimizer, schedule and batch order; end with self._start()."""

    @abc.abstractmethod
    def _step(self):
        """Train one step and return its record (ends with `_close_step`)."""

    @abc.abstractmethod
    def _evaluation(self, step: int) -> Pieces:
        """The evaluation at `step` in pieces: a `yield` after each piece, the record returned at the end.

        Whatever else it keeps (a class report, a forecast) it sets after its last `yield`, so that a
        reader between two pieces sees the last evaluation whole. Never `yield` inside `torch.no_grad()`
        or another thread-local mode: the worker trains other runs between two pieces.
        """

    def _start(self) -> None:
        """Called at the end of `_build()`: nothing trained yet."""
        self.records = []
        self.generation += 1
        self.status = Status.READY
        self.diverged_at = None
        self.chosen_lr = self.cfg.optim.lr  # the user's learning rate; a schedule moves self.lr from it
        self._evaluating = None

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

    def _finish_step(self, loss: float, grad_norm: float, record: Callable[[float, bool], typing.Any]):
        """After backward, for every run: clip, update, and keep the step's record, `record(lr, clipped)`
        (lr: the rate this step used). Returns (record, finite); the caller then calls _close_step."""
        finite, clipped = self._clip(loss, grad_norm)
        kept = record(self._update(finite), clipped)
        self.records.append(kept)
        return kept, finite

    def _after_backward(
        self, step: int, loss: float, layer_norms: list[float], total: float, activations=None
    ) -> tuple[StepRecord, bool]:
        """_finish_step for a run whose per-layer gradient norms were read after backward (a StepRecord)."""
        norms = dict(zip(self.layer_names, layer_norms, strict=True))
        return self._finish_step(
            loss,
            total,
            lambda lr, clipped: StepRecord(step, loss, lr, norms, total, clipped, activations),
        )

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
        """A non-finite step ends the run as diverged; otherwise an evaluation is due every eval_every
        steps and at the last step, where the run finishes once it is recorded."""
        cfg = self.cfg.train
        if not finite:
            self.status = Status.DIVERGED
            self.diverged_at = step
        elif step % cfg.eval_every == 0 or step >= cfg.steps:
            self._evaluating = self._closing(step)

    def _closing(self, step: int) -> Pieces:
        record = yield from self._evaluation(step)
        self.evals.append(record)
        if step >= self.cfg.train.steps and not self.done:
            self.status = Status.FINISHED

    def _in_pieces(self, forward: Callable, *tensors: torch.Tensor, size: int) -> Pieces:
        """forward(*rows) on `size` rows of the tensors at a time, in eval mode without autograd, one
        piece each; returns the outputs in order. Every piece sets eval mode again: a reader between two
        pieces may have changed it."""
        out = []
        for rows in zip(*(t.split(size) for t in tensors), strict=True):
            self.model.eval()
            with torch.no_grad():
                out.append(forward(*rows))
            yield
        return out

    # ---- stepping: all at once, or one piece at a time -----------------------------------

    @property
    def evaluating(self) -> bool:
        """True while an evaluation that a step made due has pieces left (see `work`)."""
        return self._evaluating is not None

    def work(self) -> None:
        """One piece of the evaluation under way; its record lands with the last piece."""
        try:
            next(self._evaluating)
        except StopIteration:
            self._evaluating = None
        except BaseException:
            self._evaluating = None  # a failed evaluation is dropped whole, never half-recorded
            raise

    def train_step(self):
        """One optimizer step and its record, after the rest of any evaluation under way; the evaluation
        that this step makes due is left under way, for `work`."""
        while self.evaluating:
            self.work()
        return self._step()

    def evaluate(self, step: int):
        """The evaluation at `step`, every piece at once; returns its record (not added to `evals`)."""
        return run_all(self._evaluation(step))

    def advance(self, n: int, max_seconds: float = 1.0) -> list:
        """Run up to n whole steps (each with its evaluation), stopping early at the end, on divergence
        or after max_seconds."""
        out = []
        deadline = time.perf_counter() + max_seconds
        while len(out) < n and not self.done:
            out.append(self.train_step())
            while self.evaluating:
                self.work()
            if time.perf_counter() > deadline:
                break
        return out


class Run(Trainer):
    """An MLP run: owns data, model, optimizer, loss and seed; `advance(n)` trains n steps at most.

    Two runs whose configs differ only in, say, the optimizer start from the same weights
    and see the same batches, so every comparison is a fair one.
    """

    VIEW_ATTRS = ("data", "layer_names", "init_fingerprint")
    VIEW_CALLS = ("predict_grid",)

    def __init__(self, cfg: RunConfig, dataset: Dataset, device: torch.device | None = None):
        validate(cfg)
        self.cfg = cfg
        self.device = device or default_device()
        self.data = dataset.to(self.device)
        self._loss_spec = LOSSES.get(cfg.train.loss)
        self._n_out = self._loss_spec.out_features(dataset.n_classes)
        widths = [dataset.n_features] + [cfg.model.width] * cfg.model.depth + [self._n_out]
        macs = sum(a * b for a, b in itertools.pairwise(widths))  # one example's forward pass
        batch = min(cfg.train.batch_size, len(dataset.x_train))
        self.cost = Cost(  # per weight: itself, its gradient, two optimizer states, the probe's copy
            # (5 x 4 bytes); per unit and example: its input and output, kept for backward, their gradients
            bytes=data_bytes(dataset) + 20 * macs + 4 * 2 * 3 * batch * sum(widths),
            step_macs=3 * batch * macs,  # backward costs about twice the forward pass
            eval_macs=(len(dataset.x_train) + len(dataset.x_test)) * macs,
        ).check("use fewer or narrower layers, a smaller batch or fewer samples")
        self._rows = rows_per_piece(macs)
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

    def _evaluation(self, step: int) -> Pieces:
        """Loss and accuracy on all train and test examples, model in eval mode."""
        values = []
        for x, y, labels in (
            (self.data.x_train, self._y_train, self.data.y_train),
            (self.data.x_test, self._y_test, self.data.y_test),
        ):
            out = torch.cat((yield from self._in_pieces(self.model, x, size=self._rows)))
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
