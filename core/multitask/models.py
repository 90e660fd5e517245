"""The tasks, the four input/output setups, and the network: a CNN encoder and a shared dense layer read
the image; the alphabet's one-hot vector, when it is an input, joins their output; one head per task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from core.cnn import CNNConfig, LayerRow, build_cnn, layer_table
from core.multitask.config import NetConfig
from core.registry import Registry
from core.seeding import generator, materialise


@dataclass(frozen=True)
class TaskSpec:
    """One output: what it predicts, its loss, and how it is scored on the test set."""

    label: str  # "character"
    target: str  # GlyphSet field prefix: char, alphabet, angle
    regression: bool  # True: one number, MSE; False: classes, cross-entropy
    loss_label: str
    score_label: str


TASKS: dict[str, TaskSpec] = {
    "char": TaskSpec("character", "char", False, "cross-entropy", "accuracy"),
    "alphabet": TaskSpec("alphabet", "alphabet", False, "cross-entropy", "accuracy"),
    "angle": TaskSpec("angle", "angle", True, "MSE (degrees²)", "MSE (degrees²)"),
}


def task_loss(task: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean loss of one task's outputs (B, K) or (B, 1) against its targets (B,)."""
    if TASKS[task].regression:
        return F.mse_loss(out.squeeze(1), target)
    return F.cross_entropy(out, target)


@dataclass(frozen=True)
class SetupSpec:
    """Which inputs a model reads and which tasks it predicts."""

    label: str
    tasks: tuple[str, ...]
    alphabet_input: bool  # the alphabet's one-hot vector goes in beside the image
    lesson: str


SETUPS: Registry[SetupSpec] = Registry("model")
SETUPS.add(
    "char",
    SetupSpec("Image → character", ("char",), False, "one input, one output: the baseline"),
)
SETUPS.add(
    "char_given_alphabet",
    SetupSpec(
        "Image + alphabet → character",
        ("char",),
        True,
        "two inputs: told the alphabet, it only has to tell its characters apart",
    ),
)
SETUPS.add(
    "char_alphabet",
    SetupSpec(
        "Image → character and alphabet",
        ("char", "alphabet"),
        False,
        "two outputs, two heads on shared features, one weighted loss",
    ),
)
SETUPS.add(
    "angle_alphabet",
    SetupSpec(
        "Image → angle and alphabet",
        ("angle", "alphabet"),
        False,
        "a regression (MSE in degrees²) beside a classification (cross-entropy): losses on different scales",
    ),
)


def _encoder_config(cfg: NetConfig) -> CNNConfig:
    return CNNConfig(blocks=cfg.blocks, channels=cfg.channels, kernel=3, padding=1, pool="max", head=0)


class MultiTaskNet(nn.Module):
    """image -> conv features -> shared dense layer [+ alphabet one-hot] -> a head per task."""

    def __init__(
        self,
        cfg: NetConfig,
        image_shape: tuple[int, int, int],
        outputs: Mapping[str, int],
        n_alphabets: int,
        seed: int,
    ):
        super().__init__()
        rows = layer_table(_encoder_config(cfg), image_shape, 1)
        features = next(r.shape[0] for r in rows if r.name == "flatten")
        self.encoder = build_cnn(_encoder_config(cfg), image_shape, 1, seed)  # seeded conv blocks
        self.encoder.output = nn.Identity()  # keep the features, drop the classifier (torchvision's idiom)
        self.n_alphabets = n_alphabets  # one-hot width; 0 = the image only
        self.dense = nn.Sequential(_seeded_linear(features, 0, cfg.hidden, seed + 1), nn.ReLU())
        self.heads = nn.ModuleDict(  # each head seeded by its task: the same task starts the same everywhere
            {
                task: _seeded_linear(cfg.hidden, n_alphabets, n, seed + 2 + list(TASKS).index(task))
                for task, n in outputs.items()
            }
        )

    def forward(self, x: torch.Tensor, alphabet: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x (B, 1, H, W), alphabet (B,) int64 when the model reads it -> task -> (B, K) outputs."""
        h = self.dense(self.encoder.features(x))  # (B, F) conv features -> (B, hidden)
        if self.n_alphabets:
            h = torch.cat([h, F.one_hot(alphabet, self.n_alphabets).to(h.dtype)], dim=1)  # (B, hidden + A)
        return {task: head(h) for task, head in self.heads.items()}

    def layers(self) -> list[tuple[str, nn.Module]]:
        """(display name, module) from the input side to the heads, for gradient norms."""
        convs = self.encoder.layers()[:-1]  # the conv blocks; the dropped classifier has no weights
        return [*convs, ("dense", self.dense), *((f"{task} head", head) for task, head in self.heads.items())]


def _seeded_linear(n_in: int, n_extra: int, n_out: int, seed: int) -> nn.Linear:
    """Linear(n_in + n_extra, n_out) whose first n_in columns are a seeded Linear(n_in, n_out)'s and whose
    extra columns (the alphabet one-hot) start at 0: with or without the one-hot, the same start."""
    plain = materialise(nn.Linear(n_in, n_out, device="meta"), generator(seed))
    if not n_extra:
        return plain
    layer = nn.Linear(n_in + n_extra, n_out, device="meta").to_empty(device="cpu")  # every value set below
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, :n_in] = plain.weight
        layer.bias.copy_(plain.bias)
    return layer


def outputs_of(setup: SetupSpec, n_chars: int, n_alphabets: int) -> dict[str, int]:
    """Task -> output units: a score per class, or one number for the angle."""
    sizes = {"char": n_chars, "alphabet": n_alphabets, "angle": 1}
    return {task: sizes[task] for task in setup.tasks}


def build_net(
    cfg: NetConfig, image_shape: tuple[int, int, int], n_chars: int, n_alphabets: int, seed: int
) -> MultiTaskNet:
    """The same seed gives the same encoder, dense layer and same-task heads in every setup."""
    setup = SETUPS.get(cfg.setup)
    extra = n_alphabets if setup.alphabet_input else 0
    return MultiTaskNet(cfg, image_shape, outputs_of(setup, n_chars, n_alphabets), extra, seed)


def net_table(
    cfg: NetConfig, image_shape: tuple[int, int, int], n_chars: int, n_alphabets: int
) -> list[LayerRow]:
    """Each layer's output shape and parameters, from the image to every head (ConfigError on bad shapes)."""
    setup = SETUPS.get(cfg.setup)
    rows = layer_table(_encoder_config(cfg), image_shape, 1)
    rows = rows[: next(i for i, r in enumerate(rows) if r.name == "flatten") + 1]
    features, h = rows[-1].shape[0], cfg.hidden
    rows.append(LayerRow("dense", f"Linear {features}->{h}, ReLU", (h,), features * h + h))
    if setup.alphabet_input:
        h += n_alphabets
        rows.append(LayerRow("concat", f"Concatenate the alphabet one-hot ({n_alphabets})", (h,), 0))
    for task, n in outputs_of(setup, n_chars, n_alphabets).items():
        rows.append(LayerRow(f"{task} head", f"Linear {h}->{n} ({TASKS[task].label})", (n,), h * n + n))
    return rows
