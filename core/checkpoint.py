"""Checkpoints of trained CNNs: weights plus the app's own metadata, loaded with weights_only=True.

A checkpoint is a plain dict of tensors, strings and numbers, so torch.load never unpickles
code. The architecture is rebuilt from the stored CNNConfig fields and the class names, and a
file that is not ours, was edited, or does not fit its own architecture is refused with one
sentence.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from dataclasses import dataclass

import torch

from core.cnn import CNN, CNNConfig, build_cnn
from core.errors import ConfigError

FORMAT = "gradient-playground/cnn"
VERSION = 1
MAX_BYTES = 100 * 2**20  # a 4-block CNN with 128 channels and a wide head stays far below this


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used; its text is one sentence for the student."""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A CNN rebuilt from a checkpoint, with what it was trained on."""

    model: CNN
    config: CNNConfig
    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    dataset: str  # the dataset's label, for the page
    test_accuracy: float | None


def to_bytes(
    model: CNN,
    cfg: CNNConfig,
    image_shape: tuple[int, int, int],
    class_names: tuple[str, ...],
    dataset: str,
    test_accuracy: float | None,
) -> bytes:
    """The checkpoint file's bytes: torch.save of plain data only."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": dataclasses.asdict(cfg),
        "image_shape": list(image_shape),
        "class_names": list(class_names),
        "dataset": dataset,
        "test_accuracy": -1.0 if test_accuracy is None else float(test_accuracy),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes, name: str = "the checkpoint") -> Checkpoint:
    """Rebuild the CNN; CheckpointError with one sentence naming the file if it cannot be used."""
    if not data:
        raise CheckpointError(f"{name} is empty.")
    if len(data) > MAX_BYTES:
        raise CheckpointError(
            f"{name} is larger than {MAX_BYTES // 2**20} MB, too large for a checkpoint of this app."
        )
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError(f"{name} is not a PyTorch checkpoint file (a .pt file saved by this app).")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # weights_only refuses pickled code and unknown types: not ours
        raise CheckpointError(
            f"{name} is not a checkpoint of this app: it holds objects other than weights, "
            "so it is not loaded."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{name} is a PyTorch file but not a checkpoint saved by this app.")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{name} was saved by another version of this app (format {payload.get('version')})."
        )
    try:
        fields = {f.name for f in dataclasses.fields(CNNConfig)}
        cfg = CNNConfig(**{k: v for k, v in payload["config"].items() if k in fields})
        shape = tuple(int(v) for v in payload["image_shape"])
        names = tuple(str(n) for n in payload["class_names"])
        if len(shape) != 3 or shape[0] not in (1, 3) or not 8 <= shape[1] <= 256 or len(names) < 2:
            raise ValueError("bad metadata")
        model = build_cnn(cfg, shape, len(names), seed=0)
        model.load_state_dict(payload["state_dict"], strict=True)
    except ConfigError as err:
        raise CheckpointError(f"{name} describes a network that cannot be built: {err}") from None
    except Exception:
        raise CheckpointError(
            f"{name} does not match its own architecture (its weights or metadata were changed), "
            "so it is not loaded."
        ) from None
    model.eval()
    accuracy = float(payload.get("test_accuracy", -1.0))
    return Checkpoint(
        model, cfg, shape, names, str(payload.get("dataset", "")), accuracy if accuracy >= 0 else None
    )
