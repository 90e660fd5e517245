"""The Images lab's run: a CNN trained live on in-memory images with v2 augmentation."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.budget import VALUE_MACS, Cost, rows_per_piece
from core.cnn import CNNConfig, build_cnn, forward_cost, layer_table, parameter_count
from core.config import OptimConfig, check_clip, check_optim
from core.data import BatchOrder, shapes, tvsets
from core.data.catalog import IMAGE_DATASETS
from core.data.images import ImageSet
from core.device import default_device
from core.errors import ConfigError
from core.images.augment import AugmentConfig
from core.images.kernels import Augmenter, augment_rng, build_augmenter
from core.metrics import ClassReport, class_report
from core.probes import GradNormProbe
from core.records import EvalRecord, StepRecord
from core.registry import OPTIMIZERS, SCHEDULES
from core.training import Pieces, Trainer, run_all, weight_fingerprint

MAX_IMAGE_STEPS = 3000
AUG_CHUNK = 4  # training batches augmented in one go (bench.images: the augmenter's fixed cost / 4)
EVAL_CHUNK = 512  # most images per forward pass when evaluating; fewer for a costly CNN (rows_per_piece)
MAX_IMAGE_SET_BYTES = 128 * 2**20  # one image set in memory (float32): the shared cache holds a few


@dataclass(frozen=True)
class ImageDataConfig:
    """Which built-in image set, how many images and how they are split."""

    name: str = "mnist"  # key of core.data.catalog.IMAGE_DATASETS: mnist (real digits) or shapes
    per_class: int = 300  # images per class (train + test); MNIST has at most 500 per class
    size: int = 28  # generated shapes only: image side in pixels
    noise: float = 0.5  # generated shapes only: jitter, shading and pixel noise, 0..1
    test_fraction: float = 0.25  # held out from every class alike
    seed: int = 0  # generation and split


@dataclass(frozen=True)
class ImageTrainConfig:
    """How long and on what batches an image run trains."""

    batch_size: int = 32  # images per step
    steps: int = 300  # optimizer steps, at most MAX_IMAGE_STEPS
    seed: int = 0  # initial weights, batch order and augmentation draws
    eval_every: int = 50  # test metrics every k steps (a test pass costs about 15 training steps)
    clip_norm: float = 0.0  # gradient clipping by total norm; 0 = off


def image_set_size(cfg: ImageDataConfig) -> tuple[int, int, int] | None:
    """(images, channels, side) of the built-in or downloadable set `cfg` names, known before it is
    made; None for an upload, which its reader bounds."""
    if cfg.name.startswith("tv:"):
        channels = tvsets.TV_SETS[cfg.name.removeprefix("tv:")].channels
        return cfg.per_class * 10, channels, 28 if channels == 1 else 32
    if cfg.name == "shapes":
        return cfg.per_class * len(shapes.CLASSES), 3, cfg.size
    if cfg.name == "mnist":
        return min(cfg.per_class, IMAGE_DATASETS.get("mnist").max_per_class) * 10, 1, 28
    return None


def check_image_set(cfg: ImageDataConfig) -> None:
    """ConfigError with one sentence if the images of `cfg` would take more than MAX_IMAGE_SET_BYTES."""
    size = image_set_size(cfg)
    if size is None:
        return
    n, channels, side = size
    nbytes = n * channels * side * side * 4  # float32
    if nbytes > MAX_IMAGE_SET_BYTES:
        smaller = " or a smaller image size" if cfg.name == "shapes" else ""
        raise ConfigError(
            f"{n:,} images of {side}x{side} {'colour ' if channels == 3 else ''}pixels would take "
            f"{nbytes / 2**20:,.0f} MB of memory, more than one image set may take on a server the whole "
            f"class shares ({MAX_IMAGE_SET_BYTES // 2**20} MB): choose fewer images per class{smaller}."
        )


class AugmentedBatches:
    """The training batches in the order of a BatchOrder, augmented AUG_CHUNK batches at a time.

    Every image still gets its own random draw; augmenting 4 batches in one call pays the
    augmenter's fixed cost per call (~30 small tensor and numpy operations) once per 4 steps.
    The draws come from the run's own stream (`seed`), so they depend on the seed only.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        order: BatchOrder,
        augmenter: Augmenter | None,
        seed: int,
        chunk: int = AUG_CHUNK,
    ):
        self.x, self.y, self.order, self.augmenter, self.chunk = x, y, order, augmenter, chunk
        self._rng = augment_rng(seed)
        self._ready: deque[tuple[torch.Tensor, torch.Tensor]] = deque()

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (B, C, H, W) augmented images and their (B,) labels."""
        if self.augmenter is None:
            idx = self.order.next()
            return self.x[idx], self.y[idx]
        if not self._ready:
            idx = [self.order.next() for _ in range(self.chunk)]
            sizes, idx = [len(i) for i in idx], torch.cat(idx)
            x = self.augmenter(self.x[idx], self._rng)
            self._ready.extend(zip(x.split(sizes), self.y[idx].split(sizes), strict=True))
        return self._ready.popleft()


@dataclass(frozen=True)
class ImageRunConfig:
    """Everything one image run needs."""

    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: CNNConfig = field(default_factory=CNNConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=0.003))
    train: ImageTrainConfig = field(default_factory=ImageTrainConfig)


def validate_image_run(cfg: ImageRunConfig) -> None:
    """Raise ConfigError with one sentence for settings that cannot run (shapes are checked on build)."""
    d, t, o = cfg.data, cfg.train, cfg.optim
    spec = IMAGE_DATASETS.get(d.name) if d.name in IMAGE_DATASETS else None
    if spec is not None and not 10 <= d.per_class <= spec.max_per_class:
        raise ConfigError(f"{spec.label} has 10 to {spec.max_per_class} images per class, not {d.per_class}.")
    if not 1 <= t.steps <= MAX_IMAGE_STEPS:
        raise ConfigError(f"The steps must be between 1 and {MAX_IMAGE_STEPS}, not {t.steps}.")
    if not 1 <= t.batch_size <= 512:
        raise ConfigError(f"The batch size must be between 1 and 512, not {t.batch_size}.")
    if not 1 <= t.eval_every <= MAX_IMAGE_STEPS:
        raise ConfigError(
            f"The evaluation interval must be between 1 and {MAX_IMAGE_STEPS}, not {t.eval_every}."
        )
    if cfg.model.batchnorm and t.batch_size < 2:
        raise ConfigError("BatchNorm needs at least 2 images per batch to compute a mean and a variance.")
    check_optim(o)
    check_clip(t.clip_norm)


def image_run_cost(
    cfg: ImageRunConfig, image_shape: tuple[int, int, int], n_classes: int, n_train: int, n_test: int
) -> tuple[Cost, int]:
    """(the estimated cost of a run of `cfg` on these images, one image's evaluation in multiply-adds and
    their like), from the layer table alone: nothing is built (ConfigError if the shapes do not fit)."""
    rows = layer_table(cfg.model, image_shape, n_classes)
    macs, values = forward_cost(rows, image_shape)
    batch = min(cfg.train.batch_size, n_train)
    pixels = math.prod(image_shape)
    cost = Cost(  # the images (float32) and labels (int64); per weight: itself, its gradient, two optimizer
        # states, the probe's copy (5 x 4 bytes); per image of a batch: every layer's output, kept for
        # backward, about as much in gradients, and the augmenter's copies of the AUG_CHUNK batches it draws
        bytes=(4 * pixels + 8) * (n_train + n_test)
        + 20 * sum(r.params for r in rows)
        + 4 * batch * (2 * values + 4 * AUG_CHUNK * pixels),
        step_macs=batch * (3 * macs + VALUE_MACS * values),  # backward costs about twice the forward pass
        eval_macs=(n_test + min(1000, n_train)) * (macs + VALUE_MACS / 3 * values),  # step 0's is the largest
    )
    return cost, macs + VALUE_MACS / 3 * values


class ImageRun(Trainer):
    """A CNN on an ImageSet: augmented training batches, live loss and accuracy, test metrics.

    Same seed, same initial weights (where the layers match), same batches, the same
    augmentation draws and dropout masks: two runs that differ only in, say, the flip see the
    same images.
    """

    def __init__(self, cfg: ImageRunConfig, images: ImageSet, device: torch.device | None = None):
        validate_image_run(cfg)
        self.cfg = cfg
        self.device = device or default_device()
        self.images = images.to(self.device)
        self.class_names = images.class_names
        self.layer_rows = layer_table(cfg.model, images.image_shape, images.n_classes)
        cost, macs = image_run_cost(
            cfg, images.image_shape, images.n_classes, len(images.y_train), len(images.y_test)
        )
        self.cost = cost.check(
            "use fewer channels or blocks, a smaller kernel or batch, more pooling or fewer images"
        )
        self._rows = rows_per_piece(macs, most=EVAL_CHUNK)  # images per piece of an evaluation
        self._augmenter = build_augmenter(cfg.augment, images.image_shape[0])
        self._build()

    def _build(self) -> None:
        cfg, images = self.cfg, self.images
        self.model = build_cnn(cfg.model, images.image_shape, images.n_classes, cfg.train.seed).to(
            self.device
        )
        self.n_parameters = parameter_count(self.model)
        self.layer_names = [name for name, _ in self.model.layers()]
        self.init_fingerprint = weight_fingerprint(self.model)
        self.optimizer = OPTIMIZERS.get(cfg.optim.name).make(self.model.parameters(), cfg.optim)
        self.scheduler = SCHEDULES.get(cfg.optim.schedule).make(self.optimizer, cfg.optim, cfg.train.steps)
        self._batches = BatchOrder(len(images.x_train), cfg.train.batch_size, cfg.train.seed, self.device)
        self._grads = GradNormProbe(self.model.layers())
        self._train = AugmentedBatches(
            images.x_train, images.y_train, self._batches, self._augmenter, cfg.train.seed + 1
        )
        self._since_eval: list[tuple[float, float]] = []  # (batch loss, batch accuracy) since the last eval
        self._start()
        self.report: ClassReport | None = None
        self.test_pred = np.zeros(0, dtype=np.int64)  # (N_test,) predicted class at the last evaluation
        self.evals: list[EvalRecord] = [self.evaluate(0)]

    # ---- training ----------------------------------------------------------------------

    def _step(self) -> StepRecord:
        step = self.step + 1
        x, y = self._train.next()  # (B, C, H, W) augmented, (B,)
        if not self.model.training:
            self.model.train()
        out = self.model(x)  # (B, K); dropout masks from the model's own seeded streams
        loss = nn.functional.cross_entropy(out, y)
        hits = (out.argmax(dim=1) == y).float().mean()
        self._grads.zero()
        loss.backward()
        (loss_v, acc_v), layer_v, total_v = self._grads.read(loss, hits)  # one device->host copy
        record, finite = self._after_backward(step, loss_v, layer_v, total_v)
        self._since_eval.append((loss_v, acc_v))
        self._close_step(step, finite)
        return record

    # ---- evaluation --------------------------------------------------------------------

    def _evaluation(self, step: int) -> Pieces:
        """Test loss, accuracy and the class report; the train side is the mean over the batches since."""
        images = self.images
        logits = torch.cat((yield from self._in_pieces(self.model, images.x_test, size=self._rows)))
        test_loss = nn.functional.cross_entropy(logits, images.y_test).item()
        pred = logits.argmax(dim=1)
        if self._since_eval:
            train_loss, train_acc = np.mean(self._since_eval, axis=0).tolist()
        else:  # before the first step: the untrained model on (up to) 1,000 training images
            x, y = images.x_train[:1000], images.y_train[:1000]
            train_logits = torch.cat((yield from self._in_pieces(self.model, x, size=self._rows)))
            train_loss = nn.functional.cross_entropy(train_logits, y).item()
            train_acc = (train_logits.argmax(dim=1) == y).float().mean().item()
        self.report = class_report(step, pred, images.y_test, len(self.class_names))
        self.test_pred = pred.cpu().numpy()
        self._since_eval = []
        return EvalRecord(step, train_loss, train_acc, test_loss, self.report.accuracy)

    def misclassified(self, true: int, pred: int) -> np.ndarray:
        """Indices of test images of class `true` that the model (at its last evaluation) called `pred`."""
        y = self.images.y_test.cpu().numpy()
        return np.flatnonzero((y == true) & (self.test_pred == pred))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) on any device -> (N, K) softmax probabilities on the CPU, model in eval mode."""
        logits = torch.cat(run_all(self._in_pieces(self.model, x.to(self.device), size=self._rows)))
        return logits.softmax(dim=1).cpu()

    def feature_maps(self, image: torch.Tensor) -> list[tuple[str, np.ndarray]]:
        """(C, H, W) -> [(layer name, (channels, h, w) float32)] after every activation and pooling."""
        return self.model.feature_maps(image)

    def filters(self) -> np.ndarray:
        """The first conv layer's learned kernels: (out channels, in channels, k, k) float32."""
        return self.model.blocks[0].conv.weight.detach().float().cpu().numpy()
