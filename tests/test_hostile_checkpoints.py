"""Hostile checkpoints: each is refused with one sentence naming the file, before it costs memory.

Memory is the growth of the process's peak resident memory while from_bytes runs (tests.badfiles.cost);
the old loader inflated compressed records, built the model the metadata described, and loaded tampered
or NaN weights (SECURITY.md has the figures).
"""

from __future__ import annotations

import functools
import io
import warnings
import zipfile

import pytest
import torch

from core import checkpoint
from core.cnn import CNNConfig, build_cnn
from tests.badfiles import MIB, cost, honest_zip64

CFG = CNNConfig(blocks=1, channels=4, head=0)
SHAPE = (1, 16, 16)
NAME = "The file 'shared.pt'"


@functools.cache
def good() -> bytes:
    model = build_cnn(CFG, SHAPE, 3, seed=0)
    return checkpoint.to_bytes(model, CFG, SHAPE, ("cat", "dog", "owl"), "pets", 0.5)


def payload() -> dict:
    return torch.load(io.BytesIO(good()), weights_only=True)


def saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def recompressed(data: bytes) -> bytes:
    """The same records, DEFLATE-compressed: torch.load reads them, inflating each in full."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return out.getvalue()


def record_start(data: bytes, suffix: str) -> int:
    """Where the bytes of the record whose name ends with `suffix` begin."""
    info = next(i for i in zipfile.ZipFile(io.BytesIO(data)).infolist() if i.filename.endswith(suffix))
    extra = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.header_offset + 30 + len(info.filename.encode()) + extra


# a head-less 1-block CNN on 39x39 grey images with 128 channels and no pooling: 194,688 features
HUGE = {"blocks": 1, "channels": 128, "kernel": 1, "padding": 0, "pool": "none", "head": 0}


def refused(data: bytes) -> tuple[str, object]:
    result, spent = cost(checkpoint.from_bytes, data, NAME)
    assert isinstance(result, checkpoint.CheckpointError), result
    message = str(result)
    assert message.startswith(NAME) and message.endswith(".") and "\n" not in message
    return message, spent


def test_a_compressed_record_is_refused_before_torch_inflates_it():
    inflated = saved({**payload(), "state_dict": {"w": torch.zeros(16 * MIB // 4)}})  # 16 MiB of zeros
    data = recompressed(inflated)  # ~16 kB
    message, spent = refused(data)
    assert "holds compressed records, which PyTorch never writes" in message
    assert spent.peak_bytes < 4 * MIB, spent  # torch.load would have inflated all 16 MiB


def test_more_classes_than_any_lab_makes_are_refused_before_anything_is_built():
    """2,500 classes after 194,688 features: 1.95 GB of weights that the old loader built from 1 kB."""
    names = [str(i) for i in range(2500)]
    data = saved({**payload(), "config": {**payload()["config"], **HUGE}, "image_shape": [1, 39, 39],
                  "class_names": names})  # fmt: skip
    message, spent = refused(data)
    assert message == f"{NAME} has 2,500 classes; the limit is 100."
    assert spent.peak_bytes < 4 * MIB, spent


def test_an_architecture_larger_than_the_weights_is_laid_out_on_the_meta_device_and_refused():
    """100 classes (allowed) after 194,688 features: 78 MB of weights that the old loader built first."""
    data = saved({**payload(), "config": {**payload()["config"], **HUGE}, "image_shape": [1, 39, 39],
                  "class_names": [str(i) for i in range(100)]})  # fmt: skip
    message, spent = refused(data)
    assert "does not match its own architecture" in message
    assert spent.peak_bytes < 8 * MIB, spent


def test_a_flipped_byte_in_a_weight_fails_its_crc():
    data = bytearray(good())
    data[record_start(bytes(data), "data/0") + 1] ^= 0x40
    message, _ = refused(bytes(data))
    assert message == f"{NAME} fails its checksum (CRC-32): it was changed or damaged; it is not loaded."


def test_nan_weights_are_refused_and_never_saved():
    nan = {k: torch.full_like(v, float("nan")) for k, v in payload()["state_dict"].items()}
    message, _ = refused(saved({**payload(), "state_dict": nan}))
    assert "holds weights that are not numbers (NaN or infinite)" in message
    model = build_cnn(CFG, SHAPE, 3, seed=0)
    with torch.no_grad():
        model.output[-1].weight[0, 0] = float("inf")
    with pytest.raises(checkpoint.CheckpointError, match="This run diverged"):
        checkpoint.to_bytes(model, CFG, SHAPE, ("a", "b", "c"), "d", 0.5)


def test_weights_that_are_views_of_a_larger_storage_or_extra_tensors_are_refused():
    state = payload()["state_dict"]
    big = torch.zeros(4 * MIB)  # 16 MiB saved with a view of its first few numbers
    views = {k: big[: v.numel()].view(v.shape) if k.endswith("bias") else v for k, v in state.items()}
    for changed in ({**payload(), "state_dict": views}, {**payload(), "junk": torch.zeros(1000)}):
        message, spent = refused(saved(changed))
        assert "does not match its own architecture" in message
        assert spent.peak_bytes < 4 * MIB, spent  # refused on the meta device: the 16 MiB is never read


def test_metadata_larger_than_the_apps_own_is_refused():
    message, _ = refused(saved({**payload(), "note": "x" * (300 * 1024)}))
    assert "holds more than 256 KB besides its weights" in message


def test_class_names_must_be_short_text():
    for names in (["cat", "d" * 300, "owl"], ["cat", 7, "owl"]):
        message, _ = refused(saved({**payload(), "class_names": names}))
        assert "does not match its own architecture" in message


def test_a_record_listed_twice_or_disagreeing_end_records_are_refused():
    data = good()
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        first = source.infolist()[0].filename
        target.writestr(first, b"another pickle")  # zipfile would read this one, torch maybe the other
    message, _ = refused(out.getvalue())
    assert message == f"{NAME} lists a record twice, so it was changed; it is not loaded."
    zipped = bytearray(honest_zip64(data))
    zipped[zipped.rfind(b"PK\x06\x07") + 8] ^= 0x01  # the locator points one byte off
    message, _ = refused(bytes(zipped))
    assert "has end records that disagree, so it is damaged or forged" in message


def test_a_good_checkpoint_still_loads_and_costs_about_its_own_size():
    cfg = CNNConfig(blocks=2, channels=32, head=256)  # ~2.1 million weights: an 8.4 MB file
    model = build_cnn(cfg, (3, 32, 32), 10, seed=0)
    data = checkpoint.to_bytes(model, cfg, (3, 32, 32), tuple("abcdefghij"), "d", 0.5)
    loaded, spent = cost(checkpoint.from_bytes, data, NAME)
    assert isinstance(loaded, checkpoint.Checkpoint), loaded
    restored = loaded.model.state_dict()
    assert all(torch.equal(weights, restored[key]) for key, weights in model.state_dict().items())
    assert spent.peak_bytes < 1.5 * len(data) + 8 * MIB, (spent, len(data))  # the tensors become the weights
