"""What the Images lab's augmented pipeline costs: the course's DataLoader recipe, the app, the bound.

    python -m bench.images                 # CPU, one torch thread (the app's GP_TORCH_THREADS=1)
    python -m bench.images --workers 2     # also the course recipe with 2 DataLoader workers
    python -m bench.images --breakdown     # also where the app's step spends its time
    python -m bench.images --device cuda

Every way trains the same CNN (core.cnn.build_cnn, CNNConfig(), same seed) with Adam (lr 0.003)
and cross-entropy on the built-in colour shapes (150 per class, 896 training images), batch 32,
for STEPS steps, with the same augmentations in the same order (AUGMENT: horizontal flip,
rotation, random resized crop, colour jitter, autocontrast):

- (a) course: the recipe of an ImageFolder course. A torch.utils.data.Dataset holds PIL images
  (converted from the tensors once, untimed, as if loaded from disk) and applies a per-sample
  v2.Compose of the same transforms, then v2.ToImage and v2.ToDtype; a DataLoader(batch_size=32,
  shuffle=True, drop_last=True, num_workers=0) batches them; then forward, backward, step.
  num_workers=0 because on the 2-core target machine workers compete with the training process
  for the same cores (and the app's runs must share them with other sessions); --workers N adds
  the same recipe with N workers as a diagnostic, timed on the wall clock only.
- (b) app: core.images.run.ImageRun(cfg, images).advance(STEPS), the app's own code: seeded index
  batches into in-memory tensors, core.images.augment.Augmenter on the batch tensor (a random draw for
  every image, from the run's own generator), per-layer gradient norms every step. The config
  has steps = eval_every = MAX_IMAGE_STEPS, so no evaluation falls inside the timed steps.
- (c) bound: the same model on the very batches the app draws, augmented beforehand (untimed),
  so only forward, loss, backward and step remain (plus `loss.item()` into a list each step,
  as any loop that draws a loss curve does).

Only training is timed on every side: building the model, the optimizer, the run (and its
step-0 evaluation), the PIL images and the pre-augmented batches happen before the clock starts.
An untimed warm-up round runs first; it pays the first optimizer's one-off imports and checks
that (b) and (c) produce exactly the same loss at every step, i.e. that they do the same work.

The clock is this process's CPU time (time.process_time), as in bench.overhead: on the shared
2-core target machine wall-clock rounds of the same work vary by up to 2x while other processes
run, CPU time far less; with num_workers=0 and one torch thread all the work is in this process
and its one thread. Wall-clock rates are printed beside it. On a GPU the clock is the wall clock
after torch.cuda.synchronize(). The three ways take turns for ROUNDS rounds, each in every
position equally often; each round gives ratios, and the lines report medians:
`pipeline_efficiency=` (b)/(c) images/s and, last, `images_speedup=` (b)/(a) images/s.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision.transforms import v2

from core.cnn import CNNConfig, build_cnn
from core.config import OptimConfig
from core.data import BatchOrder
from core.data.catalog import IMAGE_DATASETS
from core.data.images import ImageSet
from core.images.augment import AugmentConfig, pipeline_code
from core.images.kernels import Augmenter, augment_rng, build_augmenter
from core.images.run import (
    AUG_CHUNK,
    MAX_IMAGE_STEPS,
    AugmentedBatches,
    ImageDataConfig,
    ImageRun,
    ImageRunConfig,
    ImageTrainConfig,
)
from core.registry import OPTIMIZERS

STEPS = 100  # optimizer steps per way and round: 3,200 images
ROUNDS = 6  # a multiple of 3: every way takes every position equally often
BATCH = 32  # the app's default batch size
AUGMENT = AugmentConfig(hflip=0.5, rotation=15.0, jitter=0.3, autocontrast=0.3, crop=0.7)
TARGET_EFFICIENCY = 0.85
TARGET_SPEEDUP = 2.0

CFG = ImageRunConfig(
    data=ImageDataConfig(name="shapes", per_class=150),
    model=CNNConfig(),
    augment=AUGMENT,
    optim=OptimConfig(name="adam", lr=0.003),
    # steps = eval_every = the most allowed: advance(STEPS) never evaluates or finishes.
    train=ImageTrainConfig(batch_size=BATCH, steps=MAX_IMAGE_STEPS, eval_every=MAX_IMAGE_STEPS, seed=0),
)

Trainer = Callable[[], list[float]]  # one timed round's training; returns the loss of every step


def course_transform(cfg: AugmentConfig, size: int) -> v2.Compose:
    """The per-sample transform a course writes: the same augmentations on a PIL image, then to float."""
    made = {
        "hflip": lambda: v2.RandomHorizontalFlip(p=cfg.hflip),
        "rotation": lambda: v2.RandomRotation(
            degrees=cfg.rotation, interpolation=v2.InterpolationMode.BILINEAR
        ),
        "crop": lambda: v2.RandomResizedCrop(size, scale=(cfg.crop, 1.0), antialias=True),
        "jitter": lambda: v2.ColorJitter(brightness=cfg.jitter, contrast=cfg.jitter, saturation=cfg.jitter),
        "autocontrast": lambda: v2.RandomAutocontrast(p=cfg.autocontrast),
    }
    active = cfg.active()  # the app's pipeline order
    assert set(active) <= set(made), f"the course recipe here covers {sorted(made)}, not {active}"
    return v2.Compose(
        [*(made[name]() for name in active), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    )


class PILImages(TorchDataset):
    """An ImageFolder-style dataset: (PIL image, class index) through a per-sample transform."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: v2.Transform):
        # Once, untimed: 8-bit RGB PIL images, as an ImageFolder would have decoded them from disk.
        self.images = [v2.functional.to_pil_image(img) for img in (x * 255).round().to(torch.uint8)]
        self.labels = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def new_model(cfg: ImageRunConfig, images: ImageSet, device: torch.device):
    model = build_cnn(cfg.model, images.image_shape, images.n_classes, cfg.train.seed).to(device)
    optimizer = OPTIMIZERS.get(cfg.optim.name).make(model.parameters(), cfg.optim)
    return model, optimizer


def train_step(model, optimizer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def course(cfg: ImageRunConfig, images: ImageSet, device: torch.device, workers: int = 0) -> Trainer:
    """(a) PIL images, per-sample v2 transforms, a shuffling DataLoader, then the plain loop."""
    data = PILImages(images.x_train, images.y_train, course_transform(cfg.augment, images.image_shape[-1]))
    model, optimizer = new_model(cfg, images, device)
    loader = DataLoader(
        data,
        batch_size=cfg.train.batch_size,
        shuffle=True,
        drop_last=True,  # full batches only, as the app's BatchOrder
        num_workers=workers,
        persistent_workers=workers > 0,  # workers start once per round, not once per epoch
        generator=torch.Generator().manual_seed(cfg.train.seed),
    )

    def train() -> list[float]:
        torch.manual_seed(cfg.train.seed + 1)  # the per-sample draws (num_workers=0) use the global RNG
        model.train()
        losses: list[float] = []
        while len(losses) < STEPS:  # epochs
            for x, y in loader:
                loss = train_step(model, optimizer, x.to(device), y.to(device))
                losses.append(loss.item())
                if len(losses) == STEPS:
                    break
        return losses

    return train


def course_workers(workers: int):
    def course_n(cfg: ImageRunConfig, images: ImageSet, device: torch.device) -> Trainer:
        return course(cfg, images, device, workers)

    course_n.__name__ = f"course{workers}w"
    return course_n


def app(cfg: ImageRunConfig, images: ImageSet, device: torch.device) -> Trainer:
    """(b) The app's ImageRun, exactly as the Images lab advances it."""
    run = ImageRun(cfg, images, device=device)  # builds, and evaluates step 0, untimed

    def train() -> list[float]:
        records = run.advance(STEPS, max_seconds=math.inf)
        assert len(records) == STEPS and len(run.evals) == 1, "no evaluation may fall inside the timing"
        return [r.loss for r in records]

    return train


def augmented_batches(cfg: ImageRunConfig, images: ImageSet, device: torch.device):
    """The STEPS batches ImageRun draws, augmented the same way: the same indices and draws."""
    images = images.to(device)
    augmenter = build_augmenter(cfg.augment, images.image_shape[0])
    order = BatchOrder(len(images.x_train), cfg.train.batch_size, cfg.train.seed, device)
    batches = AugmentedBatches(images.x_train, images.y_train, order, augmenter, cfg.train.seed + 1)
    return [batches.next() for _ in range(STEPS)]


def bound(cfg: ImageRunConfig, images: ImageSet, device: torch.device) -> Trainer:
    """(c) The same model on batches augmented beforehand: forward, backward and step only."""
    batches = augmented_batches(cfg, images, device)
    model, optimizer = new_model(cfg, images, device)

    def train() -> list[float]:
        model.train()
        return [train_step(model, optimizer, x, y).item() for x, y in batches]

    return train


def timed(
    way, cfg: ImageRunConfig, images: ImageSet, device: torch.device
) -> tuple[float, float, list[float]]:
    """(CPU seconds, wall seconds, losses) of one round's training, set-up untimed."""
    train = way(cfg, images, device)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    cpu, wall = time.process_time(), time.perf_counter()
    losses = train()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.process_time() - cpu, time.perf_counter() - wall, losses


# ---- where (b)'s time goes (--breakdown) ----------------------------------------------------


def breakdown(cfg: ImageRunConfig, images: ImageSet, device: torch.device, steps: int = 300) -> None:
    """Replay ImageRun._step's parts with a CPU timer around each; print microseconds per step."""
    run = ImageRun(cfg, images, device=device)
    parts: dict[str, float] = {}

    def clock(name: str, t0: float) -> float:
        t1 = time.process_time()
        parts[name] = parts.get(name, 0.0) + t1 - t0
        return t1

    # each augmentation of the pipeline alone, on AUG_CHUNK batches at once as ImageRun augments
    x_chunk = run.images.x_train[: BATCH * AUG_CHUNK]
    alone = {
        name: Augmenter(AugmentConfig(**{name: getattr(cfg.augment, name)}), images.image_shape[0])
        for name in cfg.augment.active()
    }
    rng = augment_rng(0)
    for _ in range(steps // AUG_CHUNK):
        for name, augmenter in alone.items():
            t = time.process_time()
            augmenter(x_chunk, rng)
            clock(f"  {name} alone", t)  # steps / AUG_CHUNK calls of AUG_CHUNK batches: per step below
    model, grads = run.model, run._grads
    model.train()
    for _ in range(steps):
        t = time.process_time()
        x, y = run._train.next()
        t = clock("batch, augmented (AugmentedBatches)", t)
        out = model(x)
        loss = nn.functional.cross_entropy(out, y)
        hits = (out.argmax(dim=1) == y).float().mean()
        t = clock("forward, loss, accuracy", t)
        grads.zero()
        t = clock("GradNormProbe.zero", t)
        loss.backward()
        t = clock("backward", t)
        grads.read(loss, hits)
        t = clock("GradNormProbe.read", t)
        run.optimizer.step()
        clock("optimizer step", t)
    print(f"breakdown: CPU microseconds per step of {BATCH} images, {steps} steps", flush=True)
    for name, seconds in parts.items():
        print(f"  {name:<32} {seconds / steps * 1e6:8.0f}", flush=True)


def warm_up(ways: list, images, device: torch.device) -> None:
    """One untimed training of each way (one-off imports); the app and the bound must train alike."""
    losses = {way: timed(way, CFG, images, device)[2] for way in ways}
    if losses[app] != losses[bound]:
        raise SystemExit("the app and the bound did not train identically")
    tail = {way.__name__: statistics.mean(v[-30:]) for way, v in losses.items()}
    print(
        f"warm-up: app and bound gave identical losses at all {STEPS} steps; mean loss of the last 30 "
        "steps: " + ", ".join(f"{k} {v:.3f}" for k, v in tail.items()),
        flush=True,
    )


def timed_rounds(ways: list, extra: list, images, device: torch.device) -> tuple[dict, dict]:
    """ROUNDS rounds, each way in each position in turn: process CPU and wall seconds per way."""
    cpu: dict = {way: [] for way in ways + extra}
    wall: dict = {way: [] for way in ways + extra}
    orders = list(itertools.permutations(ways))  # 6: each way in each position twice
    for i in range(ROUNDS):
        for way in [*orders[i % len(orders)], *extra]:
            c, w, _ = timed(way, CFG, images, device)
            cpu[way].append(c)
            wall[way].append(w)
    return cpu, wall


def ratio(seconds: dict, a, b) -> tuple[float, str]:
    """Median over rounds of (a images/s) / (b images/s), and the rounds as text."""
    rounds = [tb / ta for ta, tb in zip(seconds[a], seconds[b], strict=True)]
    return statistics.median(rounds), " ".join(f"{r:.3f}" for r in rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.images", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--workers", type=int, default=0, help="also time the course recipe with N workers")
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of the app's step")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.set_num_threads(1)
    images = IMAGE_DATASETS.get(CFG.data.name).load(CFG.data)
    wall_clock = device.type == "cuda"
    m = CFG.model
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, {device}, images/s by "
        f"{'wall' if wall_clock else 'process CPU'} time; {ROUNDS} interleaved rounds of {STEPS} steps x "
        f"{BATCH} images; CNN {m.blocks} blocks from {m.channels} channels, head {m.head}; shapes "
        f"{len(images.x_train)} train images {'x'.join(map(str, images.image_shape))}; augmentation: "
        + " ".join(pipeline_code(AUGMENT).split()),
        flush=True,
    )
    ways = [course, app, bound]
    extra = [course_workers(args.workers)] if args.workers > 0 else []

    warm_up(ways + extra, images, device)
    cpu, wall = timed_rounds(ways, extra, images, device)
    clock = wall if wall_clock else cpu

    n_images = STEPS * BATCH
    for way in ways:
        line = f"{way.__name__:<9} images/s={n_images / statistics.median(clock[way]):7.0f}"
        if not wall_clock:
            line += f"  (wall {n_images / statistics.median(wall[way]):7.0f})"
        print(line, flush=True)
    for way in extra:  # its workers' CPU time is not this process's: wall clock only
        print(f"{way.__name__:<9} images/s={n_images / statistics.median(wall[way]):7.0f} wall", flush=True)

    eff, eff_rounds = ratio(clock, app, bound)
    speedup, speedup_rounds = ratio(clock, app, course)
    print(f"app / bound   median {eff:.3f}  rounds: {eff_rounds}", flush=True)
    if not wall_clock:
        print("              wall median {:.3f}  rounds: {}".format(*ratio(wall, app, bound)), flush=True)
    print(f"app / course  median {speedup:.3f}  rounds: {speedup_rounds}", flush=True)
    if not wall_clock:
        print("              wall median {:.3f}  rounds: {}".format(*ratio(wall, app, course)), flush=True)
    for way in extra:
        print(
            "{} / course (wall) median {:.3f}  rounds: {}".format(way.__name__, *ratio(wall, way, course)),
            flush=True,
        )
    if args.breakdown:
        breakdown(CFG, images, device)
    print(
        f"targets: pipeline_efficiency at least {TARGET_EFFICIENCY:.2f}, "
        f"{'met' if eff >= TARGET_EFFICIENCY else 'NOT met'}; images_speedup at least {TARGET_SPEEDUP:.1f}, "
        f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}",
        flush=True,
    )
    print(f"pipeline_efficiency={eff:.3f}", flush=True)
    print(f"images_speedup={speedup:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
