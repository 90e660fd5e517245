"""Transfer learning, as the course teaches it: train a CNN on a first task, then learn a second task
from a few examples per class, starting from scratch, from the pretrained conv blocks (fine-tuned at
a smaller learning rate), or from those blocks frozen with only a new head trained.

Plain functions on plain data, for a process pool: `pretrain` once, then one `transfer_trial` per
(method, shots) in `jobs`; `compare` runs them all in turn. Every random number comes from a
generator seeded from `TransferConfig.seed` (core.seeding), never from torch's global one.

The data: the offline glyphs (core.data.glyphs), drawn once for pretrain_alphabets + new_alphabets
alphabets and split by alphabet. The first task is the first alphabets' characters (all their
training images); the new task is the next alphabets' characters, learnt from only `shots`
training images of each, scored on every test image of those characters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.cnn import CNN, CNNConfig, build_cnn, layer_table, validate_cnn
from core.config import OptimConfig
from core.data.glyphs import ALPHABETS, GlyphConfig, GlyphSet, generate
from core.data.glyphs import validate as validate_glyphs
from core.errors import ConfigError
from core.registry import OPTIMIZERS
from core.seeding import generator, substream

METHODS = ("scratch", "fine-tune", "freeze")
# Fine-tuning starts from conv blocks that already work: the course's advice is a smaller learning
# rate, so that the first steps (driven by a fresh, random head) do not wreck the pretrained features.
# 5x smaller, not 10x: at 10x (0.0005) fine-tuning does not fit the new task's training images in 200
# steps (training accuracy 0.91-0.98 at 5 shots, 0.82-0.86 at 10) and beats scratch at 5 shots by only
# 2-4 points (seeds 0..4), losing to it at 10 shots on 3 of them; at 5x it fits them (0.98-1.00)
# and beats scratch at 5 shots by 6 to 24 points on every one of seeds 0..9.
FINE_TUNE_LR_FACTOR = 0.2
METHOD_LABELS = {
    "scratch": "From scratch: random weights, every layer trained",
    "fine-tune": "Fine-tune: pretrained conv blocks, every layer trained at a smaller learning rate",
    "freeze": "Freeze: pretrained conv blocks frozen, only the new head trained",
}
MAX_SHOTS = 100
MAX_STEPS = 2000
EVAL_BATCH = 512  # test images scored at once


@dataclass(frozen=True)
class TransferConfig:
    """Everything the comparison needs; one seed draws the glyphs, the weights and the batch order.

    Measured on one thread of this project's (shared, 2-core) dev machine: pretraining 3.8-4.6 s when
    the machine is quiet (6-9 s when it is busy), a trial 0.6-1.8 s (freeze the cheapest: no gradient
    through the conv blocks), the whole comparison (pretraining and 12 trials) ~18 s quiet and 20-25 s
    busy. Its lesson holds on every one of seeds 0..9 (tests/test_overfitting_transfer.py checks seed 0):
    at 5 shots fine-tune beats scratch, and at 1-2 shots freeze is 11 points or more above scratch.
    """

    pretrain_alphabets: int = 4  # the first task: the first 4 alphabets' 40 characters
    new_alphabets: int = 2  # the new task: the next 2 alphabets' 20 characters, never seen in pretraining
    shots: tuple[int, ...] = (1, 2, 5, 10)  # training images per new character: one trial per method each
    per_character: int = 60  # glyph images per character: the first task trains on 45 of each
    test_fraction: float = 0.25  # of them held out: 15 test images per character, 300 for the new task
    size: int = 20  # pixels a side: MNIST's 28 costs 1.4-2x a step, and scratch nears fine-tune there
    # 3 blocks (8, 16, 32 channels; 5,888 parameters) leave 32 x 2 x 2 features; head 0: one Linear
    # layer to the classes, so "freeze" trains a linear read-out of them (2,580 parameters for 20 classes)
    model: CNNConfig = field(default_factory=lambda: CNNConfig(blocks=3, channels=8, head=0))
    pretrain_epochs: int = 12  # passes over the first task's 1,800 images: 684 steps, ~93% test accuracy
    pretrain_lr: float = 0.003  # Adam's rate while pretraining
    steps: int = 200  # Adam steps of each trial, whatever its shots (scratch fits 10 shots to 82-100%)
    lr: float = 0.005  # Adam's rate for scratch and freeze; fine-tune's is FINE_TUNE_LR_FACTOR times it
    batch_size: int = 32  # images per step (a trial with fewer training images uses them all each step)
    seed: int = 0  # glyphs, initial weights and batch order


@dataclass(frozen=True)
class LayerTraining:
    """One layer of a transfer trial's model: its parameters and whether they were trained."""

    name: str  # "conv 1", ..., "dense", "output" (core.cnn.CNN.layers)
    params: int  # parameters in the layer
    trained: bool  # False: frozen (requires_grad = False)
    changed: bool  # whether any of its weights (or BatchNorm statistics) differ from the trial's start


@dataclass(frozen=True, eq=False)
class Pretrained:
    """The first task's trained conv blocks (CPU tensors, core.cnn.CNN's state-dict keys) and its score."""

    encoder: Mapping[str, torch.Tensor]  # "blocks.0.conv.weight" -> tensor: the conv blocks only
    accuracy: float  # test accuracy on the first task's characters
    n_classes: int  # the first task's characters
    steps: int  # optimizer steps of pretraining
    seconds: float  # wall-clock time of pretraining (glyphs included)


@dataclass(frozen=True)
class TransferResult:
    """One trial: a method, a number of shots, and how well the new characters are recognised."""

    method: str  # one of METHODS
    shots: int  # training images per new character
    accuracy: float  # test accuracy on the new characters (chance: 1 / their number)
    train_accuracy: float  # accuracy on the few training images themselves
    steps: int  # optimizer steps
    seconds: float  # wall-clock time of the trial (glyphs included)
    layers: tuple[LayerTraining, ...]  # from the input side to the output

    @property
    def trained_params(self) -> int:
        return sum(layer.params for layer in self.layers if layer.trained)


def validate(cfg: TransferConfig) -> None:
    """Raise ConfigError with one readable sentence if the comparison cannot run."""
    total = len(ALPHABETS)
    for label, value, low, high in (
        ("number of pretraining alphabets", cfg.pretrain_alphabets, 1, total - 1),
        ("number of new alphabets", cfg.new_alphabets, 1, total - 1),
        ("number of pretraining epochs", cfg.pretrain_epochs, 1, 100),
        ("number of steps", cfg.steps, 1, MAX_STEPS),
        ("batch size", cfg.batch_size, 1, 1024),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"The {label} must be a whole number from {low} to {high}, not {value}.")
    if cfg.pretrain_alphabets + cfg.new_alphabets > total:
        raise ConfigError(
            f"There are {total} alphabets: {cfg.pretrain_alphabets} for pretraining and "
            f"{cfg.new_alphabets} new ones are too many."
        )
    for label, lr in (("pretraining learning rate", cfg.pretrain_lr), ("learning rate", cfg.lr)):
        if isinstance(lr, bool) or not (isinstance(lr, int | float) and 0 < lr <= 1):
            raise ConfigError(f"The {label} must be above 0 and at most 1, not {lr}.")
    validate_glyphs(_glyph_config(cfg))
    validate_cnn(cfg.model)
    layer_table(cfg.model, (1, cfg.size, cfg.size), 2)  # a feature map that would vanish
    train_per_char = cfg.per_character - _test_per_character(cfg)
    shots = cfg.shots
    if not isinstance(shots, tuple) or not shots:
        raise ConfigError(f"The shot counts must be a non-empty tuple of whole numbers, not {shots!r}.")
    for k in shots:
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= min(MAX_SHOTS, train_per_char):
            raise ConfigError(
                f"Each shot count must be a whole number from 1 to {min(MAX_SHOTS, train_per_char)} "
                f"(the training images per character), not {k}."
            )
    if len(set(shots)) != len(shots):
        raise ConfigError(f"The shot counts must differ from each other, not {shots}.")


def jobs(cfg: TransferConfig) -> list[tuple[str, int]]:
    """Every (method, shots) trial of the full comparison, shots first, then the methods in order."""
    return [(method, k) for k in cfg.shots for method in METHODS]


def compare(cfg: TransferConfig) -> list[TransferResult]:
    """Pretrain once, then every trial of `jobs(cfg)` in turn (the page fans the trials out instead)."""
    pretrained = pretrain(cfg)
    return [transfer_trial(cfg, pretrained, method, k) for method, k in jobs(cfg)]


# ---- the data -------------------------------------------------------------------------------


def _glyph_config(cfg: TransferConfig) -> GlyphConfig:
    return GlyphConfig(
        n_alphabets=cfg.pretrain_alphabets + cfg.new_alphabets,
        per_character=cfg.per_character,
        size=cfg.size,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
    )


def _characters(cfg: TransferConfig) -> tuple[int, int]:
    """(characters of the first task, characters of the new task)."""
    sizes = [len(chars) for chars in ALPHABETS.values()]
    first = sum(sizes[: cfg.pretrain_alphabets])
    return first, sum(sizes[cfg.pretrain_alphabets : cfg.pretrain_alphabets + cfg.new_alphabets])


def _test_per_character(cfg: TransferConfig) -> int:
    return max(1, round(cfg.per_character * cfg.test_fraction))  # as core.data.glyphs.generate


@dataclass(frozen=True, eq=False)
class TaskData:
    """One task's images and labels (0 .. n_classes - 1)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int


def task_data(cfg: TransferConfig, shots: int | None = None) -> tuple[TaskData, TaskData]:
    """(first task, new task): the glyphs split by alphabet. The new task keeps the first `shots`
    training images of each character (the glyphs come shuffled, so these are a random few, and the
    images of 1 shot are among those of 2); None keeps them all."""
    glyphs: GlyphSet = generate(_glyph_config(cfg))
    n_pre, _ = _characters(cfg)
    first = glyphs.char_train < n_pre
    first_test = glyphs.char_test < n_pre
    old = TaskData(
        glyphs.x_train[first], glyphs.char_train[first], glyphs.x_test[first_test],
        glyphs.char_test[first_test], n_pre,
    )  # fmt: skip
    y = glyphs.char_train - n_pre
    keep = y >= 0
    if shots is not None:
        seen = torch.zeros_like(y)  # for each image: how many images of its character come before it
        for c in range(glyphs.n_chars - n_pre):
            mine = y == c
            seen[mine] = torch.arange(int(mine.sum()))
        keep &= seen < shots
    new_test = glyphs.char_test >= n_pre
    new = TaskData(
        glyphs.x_train[keep], y[keep], glyphs.x_test[new_test], glyphs.char_test[new_test] - n_pre,
        glyphs.n_chars - n_pre,
    )  # fmt: skip
    return old, new


# ---- training --------------------------------------------------------------------------------


def _adam(params, lr: float) -> torch.optim.Optimizer:
    return OPTIMIZERS.get("adam").make(params, OptimConfig(name="adam", lr=lr))


def _train(model: CNN, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int, lr: float, seed: int):
    """`steps` Adam steps on batches drawn without replacement, epoch after epoch, in a seeded order."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _adam(params, lr)
    g = generator(seed)
    batch = min(batch, len(x))
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if len(order) < batch:
            order = torch.cat([order, torch.randperm(len(x), generator=g)])
        idx, order = order[:batch], order[batch:]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    hits = sum(
        int((model(x[a : a + EVAL_BATCH]).argmax(1) == y[a : a + EVAL_BATCH]).sum())
        for a in range(0, len(x), EVAL_BATCH)
    )
    model.train(was_training)
    return hits / max(1, len(x))


def _encoder_state(model: CNN) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k.startswith("blocks.")}


def pretrain(cfg: TransferConfig) -> Pretrained:
    """Train the CNN on the first task's characters; keep its conv blocks."""
    validate(cfg)
    started = time.perf_counter()
    old, _ = task_data(cfg)
    model = build_cnn(cfg.model, tuple(old.x_train.shape[1:]), old.n_classes, substream(cfg.seed, 1))
    batch = min(cfg.batch_size, len(old.x_train))
    steps = cfg.pretrain_epochs * -(-len(old.x_train) // batch)
    model.train()
    _train(model, old.x_train, old.y_train, steps, batch, cfg.pretrain_lr, substream(cfg.seed, 2))
    accuracy = _accuracy(model, old.x_test, old.y_test)
    return Pretrained(_encoder_state(model), accuracy, old.n_classes, steps, time.perf_counter() - started)


def transfer_model(
    cfg: TransferConfig, pretrained: Pretrained | Mapping[str, torch.Tensor] | None, method: str
) -> CNN:
    """The new task's model before training: the same random weights for every method (seeded), a new
    head with one output per new character, and for fine-tune and freeze the pretrained conv blocks
    (frozen: requires_grad False). Scratch ignores `pretrained`."""
    if method not in METHODS:
        raise ConfigError(f"Unknown transfer method '{method}'. Valid names: {', '.join(METHODS)}.")
    _, n_new = _characters(cfg)
    model = build_cnn(cfg.model, (1, cfg.size, cfg.size), n_new, substream(cfg.seed, 3))
    if method == "scratch":
        return model
    encoder = pretrained.encoder if isinstance(pretrained, Pretrained) else pretrained
    if encoder is None:
        raise ConfigError(f"The '{method}' method needs the pretrained conv blocks; pretrain first.")
    mine = {k for k in model.state_dict() if k.startswith("blocks.")}
    if set(encoder) != mine or any(encoder[k].shape != model.state_dict()[k].shape for k in mine):
        raise ConfigError(
            "The pretrained conv blocks do not fit this model: pretrain again with its settings."
        )
    model.blocks.load_state_dict({k.removeprefix("blocks."): v for k, v in encoder.items()})
    if method == "freeze":
        model.blocks.requires_grad_(False)
    return model


def _keep_frozen_in_eval(model: CNN) -> None:
    """A frozen block stays in eval mode: BatchNorm's running statistics are buffers, not parameters,
    and training mode would update them (and normalise with the batch's own statistics)."""
    for block in model.blocks:
        if not any(p.requires_grad for p in block.parameters()):
            block.eval()


def _layer_states(model: CNN) -> list[tuple[str, list[torch.Tensor]]]:
    return [
        (name, [t.detach().clone() for t in (*m.parameters(), *m.buffers())]) for name, m in model.layers()
    ]


def _layer_training(model: CNN, start: list[tuple[str, list[torch.Tensor]]]) -> tuple[LayerTraining, ...]:
    """Each layer's parameter count, whether it trains, and whether it moved since `start`
    (_layer_states at the trial's start), from the input side to the output."""
    rows = []
    for (name, module), (_, before) in zip(model.layers(), start, strict=True):
        params = list(module.parameters())
        now = [*params, *module.buffers()]
        changed = any(not torch.equal(a, b) for a, b in zip(now, before, strict=True))
        rows.append(
            LayerTraining(name, sum(p.numel() for p in params), any(p.requires_grad for p in params), changed)
        )
    return tuple(rows)


def trained_trial(
    cfg: TransferConfig,
    pretrained: Pretrained | Mapping[str, torch.Tensor] | None,
    method: str,
    shots: int,
) -> tuple[CNN, TransferResult]:
    """transfer_trial, with the trained model as well (for tests and a closer look)."""
    validate(cfg)
    started = time.perf_counter()
    model = transfer_model(cfg, pretrained, method)
    start = _layer_states(model)
    _, new = task_data(cfg, shots)
    lr = cfg.lr * (FINE_TUNE_LR_FACTOR if method == "fine-tune" else 1.0)
    model.train()
    _keep_frozen_in_eval(model)
    _train(model, new.x_train, new.y_train, cfg.steps, cfg.batch_size, lr, substream(cfg.seed, 4, shots))
    result = TransferResult(
        method,
        shots,
        _accuracy(model, new.x_test, new.y_test),
        _accuracy(model, new.x_train, new.y_train),
        cfg.steps,
        time.perf_counter() - started,
        _layer_training(model, start),
    )
    return model, result


def transfer_trial(
    cfg: TransferConfig,
    pretrained: Pretrained | Mapping[str, torch.Tensor] | None,
    method: str,
    shots: int,
) -> TransferResult:
    """Learn the new characters from `shots` training images each with one of METHODS, and score them
    on their test images. `pretrained` (Pretrained or its encoder) is ignored by scratch."""
    return trained_trial(cfg, pretrained, method, shots)[1]
