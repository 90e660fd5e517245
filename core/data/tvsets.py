"""torchvision's MNIST, FashionMNIST and CIFAR-10 as ImageSets, downloaded only when asked.

The files live where torchvision puts them under one root directory (GP_DATA_DIR, else
~/.cache/gradient-playground/torchvision): MNIST/raw/*-ubyte, FashionMNIST/raw/*-ubyte,
cifar-10-batches-py/*. Images are converted from each dataset's own `.data` and `.targets`
arrays in one step (not item by item through PIL) and subsampled, stratified and seeded,
to a size a 2-core CPU trains on in a lesson: 6,000 training and 1,000 test images by default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple
from urllib.error import HTTPError, URLError

import numpy as np
import torch
from torchvision import datasets

from core.data.images import ImageSet
from core.errors import ConfigError

DATA_DIR_ENV = "GP_DATA_DIR"  # where downloads go; read at call time
DEFAULT_DATA_DIR = Path.home() / ".cache" / "gradient-playground" / "torchvision"


class TvSet(NamedTuple):
    """One torchvision dataset: how the app names it, and what it is."""

    label: str
    description: str
    dataset: type[datasets.VisionDataset]
    channels: int  # 1 grey (28x28) or 3 RGB (32x32)


TV_SETS = {  # name -> (label, one-sentence description, torchvision class, channels)
    "mnist": TvSet(
        "MNIST digits (download)",
        "70,000 handwritten digits, 28×28 grey, 10 classes; a one-time download of about 12 MB.",
        datasets.MNIST,
        1,
    ),
    "fashion_mnist": TvSet(
        "Fashion-MNIST (download)",
        "70,000 photos of clothes and shoes, 28×28 grey, 10 classes; a one-time download of about 30 MB.",
        datasets.FashionMNIST,
        1,
    ),
    "cifar10": TvSet(
        "CIFAR-10 (download)",
        "60,000 small colour photos (planes, cars, animals), 32×32, 10 classes; "
        "a one-time download of about 170 MB.",
        datasets.CIFAR10,
        3,
    ),
}
DOWNLOAD_MB = {"mnist": 12, "fashion_mnist": 30, "cifar10": 170}  # compressed download, for messages
SHORT_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
OFFLINE_INSTEAD = {  # short name -> the built-in dataset to suggest when a download fails
    "MNIST": "the built-in MNIST digits",
    "Fashion-MNIST": "the built-in MNIST digits",
    "CIFAR-10": "the built-in coloured shapes",
}


class TvSetError(ConfigError):
    """A torchvision dataset that cannot be loaded; its message is one sentence for the user."""


def data_dir() -> Path:
    """The root directory for downloads: $GP_DATA_DIR, else ~/.cache/gradient-playground/torchvision."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def is_downloaded(name: str, root: str | Path | None = None) -> bool:
    """Whether the dataset's files are in `root` (their checksums are checked only when loading)."""
    return all(path.is_file() for path in _files(_entry(name), Path(root) if root else data_dir()))


def load_tv_set(
    name: str,
    root: str | Path | None = None,
    download: bool = False,
    max_train: int = 6000,
    max_test: int = 1000,
    seed: int = 0,
) -> ImageSet:
    """The dataset's own train and test splits, each subsampled to at most max_train / max_test images.

    Subsamples keep every class's share (stratified) and depend only on `seed`. Images are
    float32 in [0, 1]: (N, 1, 28, 28) for MNIST and Fashion-MNIST, (N, 3, 32, 32) for CIFAR-10.
    Downloads only with download=True; raises TvSetError with one sentence when the files are
    missing, the download fails or the files are damaged.
    """
    entry = _entry(name)
    if max_train < 1 or max_test < 1:
        raise ConfigError(f"max_train and max_test must be at least 1, not {max_train} and {max_test}.")
    root = Path(root) if root else data_dir()
    short = SHORT_NAMES[name]
    if not download and not is_downloaded(name, root):
        raise TvSetError(
            f"{short} is not on this machine yet; it needs a one-time download of about "
            f"{DOWNLOAD_MB[name]} MB."
        )
    try:
        train = entry.dataset(str(root), train=True, download=download)
        test = entry.dataset(str(root), train=False, download=False)
    except Exception as e:
        raise _load_error(short, root, e, download) from None
    rng = np.random.default_rng(seed)
    x_train, y_train = _subset(train, max_train, rng, entry.channels)
    x_test, y_test = _subset(test, max_test, rng, entry.channels)
    return ImageSet(x_train, y_train, x_test, y_test, _class_names(name, train))


def _entry(name: str) -> TvSet:
    if name not in TV_SETS:
        raise ConfigError(f"Unknown torchvision dataset '{name}'; choose one of {', '.join(TV_SETS)}.")
    return TV_SETS[name]


def _files(entry: TvSet, root: Path) -> list[Path]:
    """The files torchvision reads, from the dataset class's own lists (no checksums here)."""
    cls = entry.dataset
    if issubclass(cls, datasets.MNIST):  # FashionMNIST too: root/<ClassName>/raw/<name without .gz>
        raw = root / cls.__name__ / "raw"
        return [raw / Path(filename).stem for filename, _ in cls.resources]
    folder = root / cls.base_folder
    files = [folder / filename for filename, _ in cls.train_list + cls.test_list]
    return [*files, folder / cls.meta["filename"]]


def _subset(dataset, n: int, rng: np.random.Generator, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most n images of a torchvision dataset, every class keeping its share: (x, y) tensors."""
    y = np.asarray(dataset.targets, dtype=np.int64)
    idx = _stratified_indices(y, n, rng)
    data = np.asarray(dataset.data)[idx]  # MNIST: (n, 28, 28) uint8; CIFAR-10: (n, 32, 32, 3) uint8
    x = torch.from_numpy(np.ascontiguousarray(data))
    x = x.unsqueeze(1) if channels == 1 else x.permute(0, 3, 1, 2)  # (n, C, H, W)
    return x.to(torch.float32).div_(255.0).contiguous(), torch.from_numpy(y[idx])


def _stratified_indices(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n indices (all of them if fewer), shuffled, each class given its share by largest remainder."""
    if n >= len(y):
        return rng.permutation(len(y))
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n / len(y)
    quota = np.floor(exact).astype(np.int64)
    quota[np.argsort(quota - exact, kind="stable")[: n - quota.sum()]] += 1  # largest remainders first
    picked = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota, strict=True)]
    return rng.permutation(np.concatenate(picked))


def _class_names(name: str, dataset) -> tuple[str, ...]:
    if name == "mnist":  # torchvision says "0 - zero"; the built-in digits say "0"
        return tuple(str(d) for d in range(10))
    return tuple(str(c) for c in dataset.classes)


def _load_error(short: str, root: Path, error: Exception, download: bool) -> TvSetError:
    """One sentence for a failed torchvision load: offline, refused by the server, or damaged files."""
    text = str(error)
    if download and (_offline(error) or "urlopen error" in text):  # MNIST folds URLErrors into text
        return TvSetError(
            f"Could not download {short}: this machine cannot reach the internet; "
            f"{OFFLINE_INSTEAD[short]} work offline."
        )
    if download and (isinstance(error, HTTPError) or "HTTP Error" in text):
        return TvSetError(f"Could not download {short}: the server refused; try again later.")
    if download and isinstance(error, OSError):
        return TvSetError(f"Could not download {short}: {error.strerror or 'the download failed'}.")
    return TvSetError(
        f"The {short} files in {root} are damaged or incomplete; delete them and download again."
    )


def _offline(error: BaseException) -> bool:
    """Whether the error, or one it came from, is a failed connection rather than a server's answer."""
    while error is not None:
        if isinstance(error, URLError) and not isinstance(error, HTTPError):
            return True
        if isinstance(error, (ConnectionError, TimeoutError)):
            return True
        error = error.__cause__ or error.__context__
    return False
