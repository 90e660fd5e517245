"""torchvision datasets from tiny files written in their own on-disk formats; no test touches the network."""

from __future__ import annotations

import os
import pickle
import socket
import struct
import urllib.request
from urllib.error import HTTPError, URLError

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar

from core.data.tvsets import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    TV_SETS,
    TvSetError,
    _stratified_indices,
    data_dir,
    is_downloaded,
    load_tv_set,
)
from core.errors import ConfigError

N_TRAIN, N_TEST = 4, 2  # images per class written for each split
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt fails here, as on a machine without internet."""

    def refuse(*args, **kwargs):
        raise OSError("tests may not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _labels(per_class: int) -> np.ndarray:
    return np.repeat(np.arange(10, dtype=np.uint8), per_class)  # 0,0,..,1,1,..


def _idx(array: np.ndarray) -> bytes:
    """IDX ('ubyte') file: magic 0x0000 08 ndim (unsigned bytes), big-endian dims, then the data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(root, folder: str = "MNIST") -> None:
    """root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte; each image's grey is 20 x its label."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for split, per_class in (("train", N_TRAIN), ("t10k", N_TEST)):
        labels = _labels(per_class)
        images = np.broadcast_to((labels * 20)[:, None, None], (len(labels), 28, 28)).astype(np.uint8)
        (raw / f"{split}-images-idx3-ubyte").write_bytes(_idx(images))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(_idx(labels))


def write_cifar(root) -> None:
    """root/cifar-10-batches-py: five training batches, a test batch and batches.meta, as pickles.

    Each row is 1,024 red, then 1,024 green, then 1,024 blue bytes: red = 20 x label, green 100, blue 200.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(labels: np.ndarray) -> dict:
        rows = np.empty((len(labels), 3072), dtype=np.uint8)
        rows[:, :1024] = (labels * 20)[:, None]
        rows[:, 1024:2048] = 100
        rows[:, 2048:] = 200
        return {"batch_label": "tiny", "labels": labels.tolist(), "data": rows}

    train = _labels(N_TRAIN)
    for i, part in enumerate(np.array_split(train, 5), start=1):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(part)))
    (folder / "test_batch").write_bytes(pickle.dumps(batch(_labels(N_TEST))))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CIFAR_NAMES}))


@pytest.fixture
def cifar_md5_not_checked(monkeypatch):
    """torchvision checks CIFAR-10's files against the md5 sums of the real ones, which files written
    here cannot match. This test-only patch keeps the check that each file exists and skips the md5
    comparison; the loading code under test is unchanged."""

    def exists_only(fpath, md5=None):
        return os.path.isfile(fpath)

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists_only)


def _assert_images(data, channels: int, side: int) -> None:
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (channels, side, side) and len(x) == len(y)
        assert x.min() >= 0.0 and x.max() <= 1.0


def test_mnist_from_its_idx_files(tmp_path):
    write_mnist(tmp_path)
    data = load_tv_set("mnist", tmp_path, download=False)
    _assert_images(data, 1, 28)
    assert data.class_names == tuple("0123456789")
    assert data.counts() == dict.fromkeys(data.class_names, N_TRAIN + N_TEST)
    assert len(data.x_train) == 10 * N_TRAIN and len(data.x_test) == 10 * N_TEST  # under the caps: all
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        assert torch.allclose(x.mean(dim=(1, 2, 3)) * 255, y.float() * 20, atol=1e-3)  # label kept with image


def test_fashion_mnist_from_its_idx_files(tmp_path):
    write_mnist(tmp_path, "FashionMNIST")
    data = load_tv_set("fashion_mnist", tmp_path)
    _assert_images(data, 1, 28)
    assert data.class_names[0] == "T-shirt/top" and data.class_names[-1] == "Ankle boot"
    assert torch.allclose(data.x_test.mean(dim=(1, 2, 3)) * 255, data.y_test.float() * 20, atol=1e-3)


def test_cifar10_from_its_pickles(tmp_path, cifar_md5_not_checked):
    write_cifar(tmp_path)
    data = load_tv_set("cifar10", tmp_path, download=False)
    _assert_images(data, 3, 32)
    assert data.class_names == tuple(CIFAR_NAMES)
    assert data.counts() == dict.fromkeys(CIFAR_NAMES, N_TRAIN + N_TEST)
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        means = x.mean(dim=(2, 3)) * 255  # (N, 3): red, green, blue
        assert torch.allclose(means[:, 0], y.float() * 20, atol=1e-3)
        assert torch.allclose(means[:, 1:], torch.tensor([100.0, 200.0]).expand(len(y), 2), atol=1e-3)


def test_cifar10_md5_check_is_real_without_the_patch(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(TvSetError, match="damaged or incomplete; delete them and download again"):
        load_tv_set("cifar10", tmp_path)


def test_subsample_is_stratified_and_seeded(tmp_path):
    write_mnist(tmp_path)
    a = load_tv_set("mnist", tmp_path, max_train=20, max_test=10, seed=1)
    b = load_tv_set("mnist", tmp_path, max_train=20, max_test=10, seed=1)
    c = load_tv_set("mnist", tmp_path, max_train=20, max_test=10, seed=2)
    assert torch.bincount(a.y_train, minlength=10).tolist() == [2] * 10
    assert torch.bincount(a.y_test, minlength=10).tolist() == [1] * 10
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)  # the same classes, in another order


def test_stratified_indices_give_each_class_its_share():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    rng = np.random.default_rng(0)
    assert np.bincount(y[_stratified_indices(y, 10, rng)]).tolist() == [5, 3, 2]
    picked = _stratified_indices(y, 7, rng)
    assert len(picked) == 7 and len(set(picked.tolist())) == 7
    assert np.bincount(y[picked], minlength=3).tolist() == [4, 2, 1]  # 3.5, 2.1, 1.4 by largest remainder
    assert sorted(_stratified_indices(y, 500, rng).tolist()) == list(range(100))


def test_not_downloaded_and_no_download_asked_says_so(tmp_path):
    assert not is_downloaded("mnist", tmp_path)
    with pytest.raises(TvSetError) as caught:
        load_tv_set("mnist", tmp_path, download=False)
    assert (
        str(caught.value) == "MNIST is not on this machine yet; it needs a one-time download of about 12 MB."
    )
    write_mnist(tmp_path)
    assert is_downloaded("mnist", tmp_path) and not is_downloaded("fashion_mnist", tmp_path)


def _offline(*args, **kwargs):
    raise URLError(OSError(-3, "Temporary failure in name resolution"))


@pytest.mark.parametrize(
    ("name", "short", "instead"),
    [
        ("mnist", "MNIST", "the built-in MNIST digits"),
        ("fashion_mnist", "Fashion-MNIST", "the built-in MNIST digits"),
        ("cifar10", "CIFAR-10", "the built-in coloured shapes"),
    ],
)
def test_offline_download_is_one_clear_sentence(tmp_path, monkeypatch, name, short, instead):
    monkeypatch.setattr(urllib.request, "urlopen", _offline)  # torchvision fetches through urlopen
    with pytest.raises(TvSetError) as caught:
        load_tv_set(name, tmp_path, download=True)
    assert str(caught.value) == (
        f"Could not download {short}: this machine cannot reach the internet; {instead} work offline."
    )


def test_connection_refused_is_offline_too(tmp_path):
    """Without the urlopen patch the no_network fixture refuses the socket itself."""
    with pytest.raises(TvSetError, match="cannot reach the internet"):
        load_tv_set("cifar10", tmp_path, download=True)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_server_refusal_is_not_called_offline(tmp_path, monkeypatch, name):
    def forbidden(request, *args, **kwargs):
        raise HTTPError(getattr(request, "full_url", str(request)), 403, "Forbidden", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    with pytest.raises(TvSetError, match="the server refused; try again later"):
        load_tv_set(name, tmp_path, download=True)


def test_damaged_files_say_so(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    with pytest.raises(TvSetError, match=r"The MNIST files in .* are damaged or incomplete"):
        load_tv_set("mnist", tmp_path)


def test_unknown_name_and_bad_caps_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="choose one of mnist, fashion_mnist, cifar10"):
        load_tv_set("imagenet", tmp_path)
    with pytest.raises(ConfigError, match="at least 1"):
        load_tv_set("mnist", tmp_path, max_train=0)


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_dir() == DEFAULT_DATA_DIR
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    write_mnist(tmp_path)
    assert data_dir() == tmp_path and is_downloaded("mnist")
    assert load_tv_set("mnist").n_classes == 10


def test_registry_entries_unpack_to_label_description_class_channels():
    for name, (label, description, dataset, channels) in TV_SETS.items():
        assert label and description.endswith(".") and channels in (1, 3), name
        assert issubclass(dataset, torchvision.datasets.VisionDataset)
