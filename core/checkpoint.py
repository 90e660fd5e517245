"""Checkpoints of trained CNNs: weights plus the app's own metadata, loaded with weights_only=True.

A checkpoint is a plain dict of tensors, strings and numbers, so torch.load never unpickles
code. A file that is not ours, was changed, does not fit its own architecture or holds weights
that are not numbers is refused with one sentence, and every cost is bounded before it is paid:
- the file: at most MAX_BYTES. Its zip records (core.data.zips, whose end-record checks make
  zipfile and torch's own reader see the same records): at most MAX_RECORDS, each stored
  uncompressed as torch.save writes them (a compressed record could inflate ~1,000 times inside
  torch.load), each CRC-32 checked, the records other than tensors (the pickle above all) at most
  MAX_METADATA_BYTES together;
- the pickle is read first with every tensor on the meta device: no tensor data is read. The
  class names are capped (MAX_CLASSES, MAX_CLASS_NAME characters), and the architecture the
  metadata describes is laid out on the meta device too: the file's tensors must have its state
  dict's names, shapes and dtypes, and the tensor records' sizes must be exactly those tensors'
  bytes, before any record is loaded or any weight allocated. Loading then costs the model's own
  size once: the file's tensors become the model's weights (load_state_dict with assign=True);
- every floating-point tensor must be finite: a diverged run's NaN weights answer nothing, so
  to_bytes refuses to save them too.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass

import torch

from core.cnn import CNN, CNNConfig
from core.data import zips
from core.data.imagezip import MAX_CLASSES
from core.errors import ConfigError

FORMAT = "gradient-playground/cnn"
VERSION = 1
MAX_BYTES = 100 * 2**20  # a 4-block CNN with 128 channels and a wide head stays far below this
MAX_RECORDS = 256  # zip records: ours hold 6 of metadata and at most 2 per conv and 5 per BatchNorm layer
MAX_METADATA_BYTES = 256 * 2**10  # the pickle and torch's small records; ours take ~2-30 KB
MAX_CLASS_NAME = 255  # characters: a folder name's limit on common file systems
_TENSOR_RECORD = re.compile(r"[^/]+/data/\d+")  # "archive/data/0": one tensor's storage


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
    """The checkpoint file's bytes: torch.save of plain data only; CheckpointError if a weight is not a
    number (the run diverged), since such a file would be refused on loading."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if not _finite(state):
        raise CheckpointError(
            "This run diverged: some of its weights are not numbers (NaN or infinite), so it cannot be "
            "saved as a checkpoint."
        )
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": dataclasses.asdict(cfg),
        "image_shape": list(image_shape),
        "class_names": list(class_names),
        "dataset": dataset,
        "test_accuracy": -1.0 if test_accuracy is None else float(test_accuracy),
        "state_dict": state,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def from_bytes(data: bytes, name: str = "the checkpoint") -> Checkpoint:
    """Rebuild the CNN; CheckpointError with one sentence naming the file if it cannot be used.

    `name` opens every sentence ("The file 'cats.pt'"): the caller shortens the file's name.
    """
    if not data:
        raise CheckpointError(f"{name} is empty.")
    if len(data) > MAX_BYTES:
        raise CheckpointError(
            f"{name} is larger than {MAX_BYTES // 2**20} MB, too large for a checkpoint of this app."
        )
    tensor_records = _checked_records(data, name)
    payload = _load(data, name, "meta")  # the pickle alone: every tensor on the meta device
    cfg, shape, names = _metadata(payload, name)
    try:
        expected = CNN(cfg, shape, len(names), seed=0).state_dict()  # on the meta device: no memory
    except ConfigError as err:
        raise CheckpointError(f"{name} describes a network that cannot be built: {err}") from None
    except Exception:  # a setting of the wrong type
        raise _changed(name) from None
    if not _fits(payload.get("state_dict"), expected, tensor_records):
        raise _changed(name)
    state = _load(data, name, "cpu")["state_dict"]  # the records: exactly the model's bytes
    if not _finite(state):
        raise CheckpointError(
            f"{name} holds weights that are not numbers (NaN or infinite): the run it was saved from "
            "diverged, so it cannot predict anything."
        )
    model = CNN(cfg, shape, len(names), seed=0)  # on the meta device: the file's tensors become its weights
    model.load_state_dict(state, strict=True, assign=True)
    model.eval()
    accuracy = payload.get("test_accuracy", -1.0)
    accuracy = float(accuracy) if isinstance(accuracy, int | float) and 0 <= accuracy <= 1 else None
    dataset = payload.get("dataset", "")
    return Checkpoint(model, cfg, shape, names, dataset if isinstance(dataset, str) else "", accuracy)


def _checked_records(data: bytes, name: str) -> Counter:
    """Check the zip's records before torch reads any; the sizes of its tensor records (size -> count)."""
    try:
        zf = zips.open_zip(data, MAX_RECORDS, MAX_RECORDS * 1024)
    except zips.ZipProblem as problem:
        raise CheckpointError(f"{name} {problem}, so it is not a checkpoint of this app.") from None
    except Exception:  # not a zip at all: torch.save always writes one
        raise CheckpointError(
            f"{name} is not a PyTorch checkpoint file (a .pt file saved by this app)."
        ) from None
    infos = zf.infolist()
    if len({info.filename for info in infos}) < len(infos):
        raise CheckpointError(f"{name} lists a record twice, so it was changed; it is not loaded.")
    if any(info.compress_type != zipfile.ZIP_STORED for info in infos):
        raise CheckpointError(
            f"{name} holds compressed records, which PyTorch never writes, so it is not a checkpoint saved "
            "by this app."
        )
    tensors = [info for info in infos if _TENSOR_RECORD.fullmatch(info.filename)]
    if sum(info.file_size for info in infos) - sum(info.file_size for info in tensors) > MAX_METADATA_BYTES:
        raise CheckpointError(
            f"{name} holds more than {MAX_METADATA_BYTES // 2**10} KB besides its weights, far more than "
            "this app's metadata, so it is not loaded."
        )
    for info in infos:
        try:
            zips.stored_member(data, info)
        except zips.ZipProblem as problem:
            raise CheckpointError(f"{name} {problem}; it is not loaded.") from None
    return Counter(info.file_size for info in tensors)


def _load(data: bytes, name: str, device: str) -> dict:
    """torch.load with weights_only=True, onto `device` ('meta' reads the pickle and no tensor data)."""
    try:
        payload = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
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
    return payload


def _metadata(payload: dict, name: str) -> tuple[CNNConfig, tuple[int, int, int], tuple[str, ...]]:
    """The architecture, input shape and class names the metadata states, checked for plain values."""
    broken = _changed(name)
    config, shape, names = payload.get("config"), payload.get("image_shape"), payload.get("class_names")
    if not (isinstance(config, dict) and isinstance(shape, list) and isinstance(names, list)):
        raise broken
    if len(names) > MAX_CLASSES:
        raise CheckpointError(f"{name} has {len(names):,} classes; the limit is {MAX_CLASSES}.")
    if len(names) < 2 or not all(isinstance(n, str) and 0 < len(n) <= MAX_CLASS_NAME for n in names):
        raise broken
    if len(shape) != 3 or not all(isinstance(v, int) for v in shape):
        raise broken
    if shape[0] not in (1, 3) or not 8 <= shape[1] <= 256 or not 8 <= shape[2] <= 256:
        raise broken
    fields = {f.name for f in dataclasses.fields(CNNConfig)}
    values = {k: v for k, v in config.items() if k in fields}
    if not all(isinstance(v, int | float | str) for v in values.values()):
        raise broken
    return CNNConfig(**values), (shape[0], shape[1], shape[2]), tuple(names)


def _changed(name: str) -> CheckpointError:
    return CheckpointError(
        f"{name} does not match its own architecture (its weights or metadata were changed), so it is "
        "not loaded."
    )


def _fits(state, expected: dict[str, torch.Tensor], tensor_records: Counter) -> bool:
    """Whether the file's tensors (meta) are exactly the architecture's: names, shapes, dtypes, each a
    whole contiguous storage of its own, and the tensor records' sizes exactly those storages."""
    if not isinstance(state, dict) or state.keys() != expected.keys():
        return False
    sizes = Counter()
    for key, want in expected.items():
        got = state[key]
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != want.dtype:
            return False
        nbytes = got.numel() * got.element_size()
        if not got.is_contiguous() or got.storage_offset() != 0 or got.untyped_storage().nbytes() != nbytes:
            return False
        sizes[nbytes] += 1
    return sizes == tensor_records


def _finite(state: dict[str, torch.Tensor]) -> bool:
    """Whether every floating-point number is finite; a million at a time (a mask of each, not of all)."""
    return all(
        bool(torch.isfinite(part).all())
        for t in state.values()
        if t.is_floating_point()
        for part in t.reshape(-1).split(2**20)
    )
