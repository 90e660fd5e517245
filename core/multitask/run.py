"""MultiTaskRun: one glyph model trained on one weighted sum of its tasks' losses, in bounded slices."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from core.budget import VALUE_MACS, Cost, data_bytes, rows_per_piece
from core.cnn import forward_cost
from core.data import BatchOrder
from core.data.glyphs import GlyphConfig, GlyphSet, generate
from core.device import default_device
from core.multitask.config import MultiTaskConfig, validate
from core.multitask.models import SETUPS, TASKS, build_net, net_table, task_loss
from core.probes import GradNormProbe
from core.registry import OPTIMIZERS, SCHEDULES
from core.training import Pieces, Trainer

EVAL_CHUNK = 512  # most test images per piece of an evaluation; fewer for a costly model (rows_per_piece)
NORMALISER_IMAGES = 512  # training images on which each task's loss at the start is measured
SIDE_BY_SIDE = 5  # runs that step together at most: the weight sweep's five weightings (A and B are two)


def multitask_run_cost(cfg: MultiTaskConfig, glyphs: GlyphSet) -> tuple[Cost, int]:
    """(the estimated cost of a run of `cfg` on these glyphs, one image's evaluation in multiply-adds and
    their like), from the layer table alone: nothing is built."""
    rows = net_table(cfg.model, glyphs.image_shape, glyphs.n_chars, glyphs.n_alphabets)
    conv_macs, values = forward_cost(rows, glyphs.image_shape)
    params = sum(r.params for r in rows)
    macs = conv_macs + params  # the dense layer and the heads: a multiply-add per weight
    batch = min(cfg.train.batch_size, len(glyphs.x_train))
    cost = Cost(  # per weight: itself, its gradient, two optimizer states, the probe's copy (5 x 4 bytes);
        # per image of a batch: every layer's output, kept for backward, and about as much in gradients
        bytes=data_bytes(glyphs) + 20 * params + 4 * 2 * batch * values,
        step_macs=batch * (3 * macs + VALUE_MACS * values),  # backward costs about twice the forward pass
        eval_macs=(len(glyphs.x_test) + NORMALISER_IMAGES) * (macs + VALUE_MACS / 3 * values),
    )
    return cost, macs + VALUE_MACS / 3 * values


@dataclass(frozen=True, slots=True)
class MTStepRecord:
    """One optimizer step: the total it minimised and the terms it is the sum of."""

    step: int  # 1-based
    total: float  # the loss that was backpropagated: exactly the sum of `parts`
    raw: dict[str, float]  # task -> its own loss on this batch, in its own unit
    parts: dict[str, float]  # task -> weight x raw / normaliser, the terms of `total`
    lr: float
    grad_norm: float  # of all parameters, before clipping
    clipped: bool


@dataclass(frozen=True, slots=True)
class MTEvalRecord:
    """Each task on the whole test set, model in eval mode."""

    step: int
    loss: dict[str, float]  # task -> raw test loss
    score: dict[str, float]  # task -> accuracy in [0, 1] (classes) or MSE in degrees² (angle)


class MultiTaskRun(Trainer):
    """A glyph model with one or two inputs and one or two heads, trained on one weighted loss.

    Runs with the same seed start from the same encoder, dense layer and same-task heads and see the same
    batches, so two setups or two weightings differ only in what they were told to differ in.
    """

    # what a page reads of a run that trains in a live engine (core.enginehost): sent once, or called there
    VIEW_ATTRS = ("device", "setup", "tasks", "weights", "shares", "n_parameters", "normalisers", "factors")
    VIEW_CALLS = ("chance",)

    def __init__(self, cfg: MultiTaskConfig, glyphs: GlyphSet, device: torch.device | None = None):
        validate(cfg)
        self.cfg = cfg
        self.device = device or default_device()
        self.glyphs = glyphs.to(self.device)
        self.setup = SETUPS.get(cfg.model.setup)
        self.tasks = self.setup.tasks
        self.weights = {task: float(getattr(cfg.loss, task)) for task in self.tasks}
        cost, per_image = multitask_run_cost(cfg, glyphs)
        self.cost = cost.check(
            "use fewer channels or blocks, a smaller batch or fewer samples per character", SIDE_BY_SIDE
        )
        self._rows = rows_per_piece(per_image, most=EVAL_CHUNK)  # test images per piece of an evaluation
        self._build()

    def _build(self) -> None:
        cfg, g = self.cfg, self.glyphs
        self.model = build_net(cfg.model, g.image_shape, g.n_chars, g.n_alphabets, cfg.train.seed)
        self.model.to(self.device)
        self.n_parameters = sum(p.numel() for p in self.model.parameters())
        self.optimizer = OPTIMIZERS.get(cfg.optim.name).make(self.model.parameters(), cfg.optim)
        self.scheduler = SCHEDULES.get(cfg.optim.schedule).make(self.optimizer, cfg.optim, cfg.train.steps)
        self._batches = BatchOrder(len(g.x_train), cfg.train.batch_size, cfg.train.seed, self.device)
        self._grads = GradNormProbe(self.model.layers())
        self.normalisers = self._normalisers()
        self.factors = {task: self.weights[task] / self.normalisers[task] for task in self.tasks}
        self._start()
        self.evals: list[MTEvalRecord] = [self.evaluate(0)]

    @property
    def shares(self) -> dict[str, float]:
        """The weights in sum-to-one form."""
        total = sum(self.weights.values())
        return {task: w / total for task, w in self.weights.items()}

    def _targets(self, split: str, idx=slice(None)) -> dict[str, torch.Tensor]:
        g = self.glyphs
        return {task: getattr(g, f"{TASKS[task].target}_{split}")[idx] for task in self.tasks}

    def _forward(self, x: torch.Tensor, alphabet: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(x, alphabet if self.setup.alphabet_input else None)

    @torch.no_grad()
    def _normalisers(self) -> dict[str, float]:
        """Task -> the divisor of its loss: 1, or its loss with the initial weights on a fixed sample."""
        if self.cfg.loss.normalise == "none":
            return dict.fromkeys(self.tasks, 1.0)
        g, sample = self.glyphs, slice(0, NORMALISER_IMAGES)  # the training set is already shuffled
        self.model.eval()
        out = self._forward(g.x_train[sample], g.alphabet_train[sample])
        targets = self._targets("train", sample)
        losses = torch.stack([task_loss(t, out[t], targets[t]) for t in self.tasks]).tolist()
        return dict(zip(self.tasks, losses, strict=True))

    # ---- training ------------------------------------------------------------------------

    def _step(self) -> MTStepRecord:
        step = self.step + 1
        idx = self._batches.next()
        g = self.glyphs
        if not self.model.training:
            self.model.train()
        out = self._forward(g.x_train[idx], g.alphabet_train[idx])  # task -> (B, K)
        targets = self._targets("train", idx)
        raw = [task_loss(t, out[t], targets[t]) for t in self.tasks]
        parts = [loss * self.factors[t] for t, loss in zip(self.tasks, raw, strict=True)]
        total = parts[0]
        for part in parts[1:]:
            total = total + part  # the very sum the page shows, term by term
        self._grads.zero()
        total.backward()
        (total_v, *values), _, norm = self._grads.read(total, *raw, *parts)  # one device->host copy
        k = len(self.tasks)
        own = dict(zip(self.tasks, values[:k], strict=True))  # task -> its loss, in its own unit
        terms = dict(zip(self.tasks, values[k:], strict=True))  # task -> its term of the total
        record, finite = self._finish_step(
            total_v, norm, lambda lr, clipped: MTStepRecord(step, total_v, own, terms, lr, norm, clipped)
        )
        self._close_step(step, finite)
        return record

    # ---- evaluation ----------------------------------------------------------------------

    def _evaluation(self, step: int) -> Pieces:
        """Each task's loss and score on the whole test set, model in eval mode."""
        g = self.glyphs
        chunks = yield from self._in_pieces(self._forward, g.x_test, g.alphabet_test, size=self._rows)
        out = {task: torch.cat([c[task] for c in chunks]) for task in self.tasks}  # task -> (N, K)
        targets = self._targets("test")
        values = []
        for task in self.tasks:
            loss = task_loss(task, out[task], targets[task])
            hits = loss if TASKS[task].regression else (out[task].argmax(1) == targets[task]).float().mean()
            values += [loss, hits]
        values = torch.stack(values).tolist()  # one device->host copy
        return MTEvalRecord(
            step,
            dict(zip(self.tasks, values[0::2], strict=True)),
            dict(zip(self.tasks, values[1::2], strict=True)),
        )

    def chance(self) -> dict[str, float]:
        """Task -> the score of a guess: 1 / classes, or the MSE of always saying the training mean angle."""
        g = self.glyphs
        levels = {"char": 1 / g.n_chars, "alphabet": 1 / g.n_alphabets}
        mean = g.angle_train.mean()
        levels["angle"] = ((g.angle_test - mean) ** 2).mean().item()
        return {task: levels[task] for task in self.tasks}


@functools.lru_cache(maxsize=4)
def builtin_glyphs(data: GlyphConfig) -> GlyphSet:
    """The glyphs of a config, drawn once per process (a live engine's: 0.2 s)."""
    return generate(data)


def glyph_run(glyphs: GlyphSet | None, cfg: MultiTaskConfig) -> MultiTaskRun:
    """A run of cfg on `glyphs`, or on its config's glyphs drawn here when None (picklable with
    functools.partial: the build a session sends to a live engine)."""
    return MultiTaskRun(cfg, glyphs if glyphs is not None else builtin_glyphs(cfg.data))
