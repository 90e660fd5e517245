"""The Overfitting lab's run: epochs over a training set, the validation set after each one, the test set
only when asked.

Each epoch visits the training examples once in a seeded order, in batches (the last one possibly
smaller, as a DataLoader without drop_last). After the epoch the run records the mean of its batches'
training losses (the course's `running_loss / len(dataloader)`, measured in train mode, dropout on),
then the validation loss and accuracy with the model in eval mode, the accuracy on the training
examples and the weights' norm. Early stopping (patience > 0) keeps the weights of the epoch with the
lowest validation loss and puts them back when it stops (or at the last epoch).
"""

from __future__ import annotations

import copy
import itertools
import math
import statistics
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.budget import Cost, data_bytes, rows_per_piece
from core.device import default_device
from core.overfitting.config import FitConfig, validate
from core.overfitting.data import Splits, load
from core.overfitting.models import build_model, parameter_count, with_masks
from core.registry import OPTIMIZERS, SCHEDULES
from core.seeding import generator, substream
from core.training import Pieces, Status, Trainer

AUGMENT_DEGREES = 10.0  # the largest turn of a training image
AUGMENT_PIXELS = 0.5  # the largest shift, in pixels, each way (a whole pixel is an eighth of a digit)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One optimizer step."""

    step: int
    epoch: int  # the epoch this step belongs to, from 1
    loss: float  # the batch's training loss, train mode
    lr: float
    clipped: bool = False  # never: this lab does not clip (kept for the shared step path)


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """The end of one epoch (epoch 0: before training)."""

    epoch: int
    step: int
    train_loss: float  # mean of the epoch's batch losses, train mode; epoch 0: eval-mode loss
    train_accuracy: float  # eval mode, every training example
    val_loss: float  # eval mode
    val_accuracy: float
    weight_norm: float  # L2 norm of every Linear weight together

    @property
    def gap(self) -> float:
        """Validation loss minus training loss: how much worse the model does on data it did not see."""
        return self.val_loss - self.train_loss


@dataclass(frozen=True, slots=True)
class TestLook:
    """One look at the test set, asked for by the student."""

    epoch: int
    loss: float
    accuracy: float


class FitRun(Trainer):
    """An MLP trained for epochs on `train.examples` examples of the training pool (core.training.Trainer)."""

    def __init__(self, cfg: FitConfig, splits: Splits | None = None, device: torch.device | None = None):
        validate(cfg)
        self.cfg = cfg
        self.device = device or default_device()
        splits = splits or load(cfg.data)
        n = cfg.train.examples
        self.n_classes = splits.n_classes
        self.class_names = splits.class_names
        self.side = splits.side
        self.params = parameter_count(splits.n_features, splits.n_classes, cfg.model)
        widths = [splits.n_features] + [cfg.model.width] * cfg.model.depth + [splits.n_classes]
        macs = sum(a * b for a, b in itertools.pairwise(widths))
        batch = min(cfg.train.batch_size, n)
        self.cost = Cost(
            bytes=data_bytes(splits)
            + 24 * macs
            + 4 * 2 * 3 * batch * sum(widths),  # + the best weights' copy
            step_macs=3 * batch * macs,
            eval_macs=(n + len(splits.x_val)) * macs,
        ).check("use fewer or narrower layers, or a smaller batch")
        self.x_train, self.y_train = splits.x_pool[:n].to(self.device), splits.y_pool[:n].to(self.device)
        self.x_val, self.y_val = splits.x_val.to(self.device), splits.y_val.to(self.device)
        self.x_test, self.y_test = splits.x_test.to(self.device), splits.y_test.to(self.device)
        self._rows = rows_per_piece(macs)
        self._build()

    def _build(self) -> None:
        cfg = self.cfg
        seed = cfg.train.seed
        self.model = build_model(self.x_train.shape[1], self.n_classes, cfg.model, seed).to(self.device)
        self.optimizer = OPTIMIZERS.get(cfg.optim.name).make(self.model.parameters(), cfg.optim)
        self.scheduler = SCHEDULES.get(cfg.optim.schedule).make(self.optimizer, cfg.optim, cfg.train.steps)
        self._order_gen = generator(substream(seed, 1))  # the batch order of every epoch
        self._augment_gen = generator(substream(seed, 2))
        self._order = torch.empty(0, dtype=torch.long)
        self.best: EpochRecord | None = None  # the epoch with the lowest validation loss so far
        self._best_state: dict | None = None  # its weights, kept while early stopping is on
        self.stopped_at: int | None = None  # the epoch early stopping stopped after
        self.restored_from: int | None = None  # the epoch whose weights the run ended with, if put back
        self.test_looks: list[TestLook] = []
        self._start()
        self.evals: list[EpochRecord] = []
        record = self.evaluate(0)
        self.evals.append(record)
        self._keep_best(record)

    # ---- training ----------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Whole epochs trained."""
        return self.step // self.cfg.train.per_epoch

    def _step(self) -> BatchRecord:
        t = self.cfg.train
        step = self.step + 1
        i = (step - 1) % t.per_epoch
        if i == 0:
            self._order = torch.randperm(len(self.x_train), generator=self._order_gen).to(self.device)
        batch = min(t.batch_size, len(self.x_train))
        idx = self._order[i * batch : (i + 1) * batch]
        x, y = self.x_train[idx], self.y_train[idx]
        if t.augment:
            x = augment(x, self.side, self._augment_gen)
        if not self.model.training:
            self.model.train()
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), math.inf)  # the total norm, nothing clipped
        loss_v, norm_v = torch.stack([loss.detach(), norm]).tolist()
        record, finite = self._finish_step(
            loss_v, norm_v, lambda lr, clipped: BatchRecord(step, (step - 1) // t.per_epoch + 1, loss_v, lr)
        )
        self._close_step(step, finite)
        return record

    def _close_step(self, step: int, finite: bool) -> None:
        """Diverged on a non-finite loss; otherwise an evaluation at the end of every epoch."""
        if not finite:
            self.status = Status.DIVERGED
            self.diverged_at = step
        elif step % self.cfg.train.per_epoch == 0:
            self._evaluating = self._closing(step)

    def _closing(self, step: int) -> Pieces:
        record = yield from self._evaluation(step)
        self.evals.append(record)
        self._keep_best(record)
        t = self.cfg.train
        if t.patience and self.best is not None and record.epoch - self.best.epoch >= t.patience:
            self.stopped_at = record.epoch
        if self.stopped_at is not None or step >= t.steps:
            if t.patience and self._best_state is not None and self.best.epoch != record.epoch:
                self.model.load_state_dict(self._best_state)
                self.restored_from = self.best.epoch
            self.status = Status.FINISHED

    def _keep_best(self, record: EpochRecord) -> None:
        if math.isfinite(record.val_loss) and (self.best is None or record.val_loss < self.best.val_loss):
            self.best = record
            if self.cfg.train.patience:
                self._best_state = copy.deepcopy(self.model.state_dict())

    def _evaluation(self, step: int) -> Pieces:
        """Training examples and validation set, eval mode; the epoch's mean batch loss from its records."""
        values = []
        for x, y in ((self.x_train, self.y_train), (self.x_val, self.y_val)):
            out = torch.cat((yield from self._in_pieces(self.model, x, size=self._rows)))
            values += [F.cross_entropy(out, y), (out.argmax(dim=1) == y).float().mean()]
        values.append(weight_norm(self.model))
        fit_loss, train_acc, val_loss, val_acc, norm = torch.stack(values).tolist()
        per = self.cfg.train.per_epoch
        epoch = step // per
        train_loss = statistics.fmean(r.loss for r in self.records[step - per : step]) if step else fit_loss
        return EpochRecord(epoch, step, train_loss, train_acc, val_loss, val_acc, norm)

    @property
    def message(self) -> str:
        if self.stopped_at is not None:
            return (
                f"Stopped early after epoch {self.stopped_at}: {self.cfg.train.patience} epochs without a "
                f"better validation loss; the weights of epoch {self.best.epoch} were put back."
            )
        return super().message

    # ---- what the page asks for -------------------------------------------------------

    @torch.no_grad()
    def evaluate_test(self) -> TestLook:
        """Loss and accuracy on the test set, now; every look is kept (a test looked at often is no test)."""
        self.model.eval()
        out = self.model(self.x_test)
        loss, acc = torch.stack(
            [F.cross_entropy(out, self.y_test), (out.argmax(dim=1) == self.y_test).float().mean()]
        ).tolist()
        look = TestLook(self.epoch, loss, acc)
        self.test_looks.append(look)
        return look

    def dropout_masks(self) -> list[np.ndarray]:
        """Per hidden layer, which units the last training step kept (True) for its first example."""
        out = []
        for block in self.model.hidden:
            keep = block.drop.last_keep if hasattr(block, "drop") else None
            if keep is None:
                out.append(np.ones(self.cfg.model.width, dtype=bool))
            else:
                out.append((keep[0] != 0).cpu().numpy())
        return out

    @torch.no_grad()
    def mode_outputs(self, samples: int = 6, index: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
        """(index, eval-mode class probabilities (C,), train-mode ones (samples, C)) of one validation
        example: by default the one the model is least sure of now (a sure one looks the same both ways).
        Train mode draws new dropout masks each pass (from a stream of their own, so looking changes
        nothing in the run); eval mode uses every unit."""
        self.model.eval()
        if index is None:
            index = int(F.softmax(self.model(self.x_val), dim=1).max(dim=1).values.argmin())
        x = self.x_val[index : index + 1]
        g = generator(substream(self.cfg.train.seed, 3, self.step), self.device)
        eval_p = F.softmax(with_masks(self.model, x, None), dim=1)[0]
        train_p = torch.cat([F.softmax(with_masks(self.model, x, g), dim=1) for _ in range(samples)])
        return index, eval_p.cpu().numpy(), train_p.cpu().numpy()

    @torch.no_grad()
    def predict_grid(self, resolution: int = 48):
        """(xs, ys, class-1 probability (R, R)) over the points' range; 2-D data only."""
        x = torch.cat([self.x_train, self.x_val]).cpu()
        low, high = x.min(dim=0).values - 0.3, x.max(dim=0).values + 0.3
        xs = torch.linspace(low[0].item(), high[0].item(), resolution)
        ys = torch.linspace(low[1].item(), high[1].item(), resolution)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        points = torch.stack([gx.flatten(), gy.flatten()], dim=1).to(self.device)
        self.model.eval()
        score = F.softmax(self.model(points), dim=1)[:, 1].reshape(resolution, resolution)
        return xs.numpy(), ys.numpy(), score.cpu().numpy()


def weight_norm(model: nn.Module) -> torch.Tensor:
    """The L2 norm of every Linear layer's weights together (biases left out), as a 0-d tensor."""
    with torch.no_grad():
        squares = [m.weight.square().sum() for m in model.modules() if isinstance(m, nn.Linear)]
        return torch.stack(squares).sum().sqrt()


def augment(x: torch.Tensor, side: int | None, g: torch.Generator) -> torch.Tensor:
    """Each flattened side x side image turned by up to AUGMENT_DEGREES and shifted by up to AUGMENT_PIXELS
    each way, its own draw from `g`; what moves in from outside is background (0)."""
    n = len(x)
    draws = torch.rand(n, 3, generator=g) * 2 - 1  # (n, 3) in [-1, 1): angle, dx, dy
    angle = draws[:, 0] * math.radians(AUGMENT_DEGREES)
    shift = draws[:, 1:] * (2 * AUGMENT_PIXELS / side)  # grid units: the image spans [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    theta = theta.to(x.device)
    images = x.reshape(n, 1, side, side)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False).reshape(n, -1)
