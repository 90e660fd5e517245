"""The Images lab's data: built-in image sets, an uploaded zip of class folders, torchvision sets on
request (each loaded once per server and shared: images are immutable), and the Data tab."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from core import mosaic
from core.data import imagefiles, imagezip, tvsets
from core.data.catalog import IMAGE_DATASETS
from core.data.images import ImageSet
from core.errors import ConfigError, escape_markdown
from core.images import figures
from core.images.run import ImageDataConfig, check_image_set
from ui.charts import chart
from ui.runs import SHARED_IMAGES

LAB = "img"  # the Images lab's key in session state and links (ui.labs.images takes it from here)
LOADING = "Loading the images…"
SOURCES = {
    **{n: IMAGE_DATASETS.get(n).label for n in IMAGE_DATASETS.names()},
    "zip": "Your images (a zip with one folder per class)",
    **{f"tv:{n}": tvsets.TV_SETS[n].label for n in tvsets.TV_SETS},
}


def load_builtin(cfg) -> ImageSet:
    """Built-in images are immutable and keyed by their frozen config: safe to share (ConfigError with one
    sentence, before anything is made, when they would take too much memory)."""
    check_image_set(cfg)
    return SHARED_IMAGES.get(("builtin", cfg), lambda: IMAGE_DATASETS.get(cfg.name).load(cfg), LOADING)


def dataset(cfg: ImageDataConfig) -> tuple[ImageSet | None, str | None]:
    """(images, data key) for the chosen source, or (None, None) after a message saying what is missing.

    A bad upload or a failed download stops here, before the runs: the session's runs survive.
    """
    try:
        if cfg.name == "zip":
            return _uploaded_zip(cfg)
        if cfg.name.startswith("tv:"):
            return _torchvision(cfg)
        return load_builtin(cfg), None
    except ConfigError as err:
        st.error(escape_markdown(err))
    return None, None


def source_label(name: str) -> str:
    """The chosen source's name as the picker shows it."""
    return SOURCES.get(name, name)


def _read_zip(
    data: bytes, digest: str, name: str, size: int, test_fraction: float, seed: int
) -> imagezip.ZipImport | str:
    """Keyed by the file's digest: the same zip is read once however often the page reruns, and so is a
    refused one (its sentence is kept, not its cost paid again)."""

    def read() -> imagezip.ZipImport | str:
        try:
            return imagezip.read_image_zip(data, name, size=size, test_fraction=test_fraction, seed=seed)
        except ConfigError as err:
            return str(err)

    return SHARED_IMAGES.get(("zip", digest, name, size, test_fraction, seed), read, "Reading the zip…")


def _uploaded_zip(cfg) -> tuple[ImageSet | None, str | None]:
    upload = st.file_uploader(
        "A zip with one folder of images per class "
        "(for example `clouds/cirrus/*.jpg`, `clouds/cumulus/*.jpg`)",
        type=["zip"],
        key=f"{LAB}:zip",
        help=f"At most {imagefiles.MAX_UPLOAD_BYTES // 2**20} MB and {imagezip.MAX_ZIP_ENTRIES:,} files; "
        "the folder names become the class names.",
    )
    if upload is None:
        st.info("Upload a zip of your own images to train on them; your settings and runs stay as they are.")
        return None, None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    result = _read_zip(data, digest, upload.name, cfg.size, cfg.test_fraction, cfg.seed)
    if isinstance(result, str):
        raise ConfigError(result)
    for note in result.notes:
        st.warning(escape_markdown(note))
    key = f"zip:{digest[:16]}:{cfg.size}:{cfg.test_fraction}:{cfg.seed}"
    return result.images, key


def _load_tv(name: str, per_class: int, test_fraction: float, seed: int) -> ImageSet:
    test = max(10, round(per_class * test_fraction)) * 10
    return SHARED_IMAGES.get(
        ("tv", name, per_class, test_fraction, seed),
        lambda: tvsets.load_tv_set(
            name, max_train=per_class * 10 - test, max_test=test, seed=seed, download=False
        ),
        LOADING,
    )


def _torchvision(cfg) -> tuple[ImageSet | None, str | None]:
    check_image_set(cfg)
    name = cfg.name.removeprefix("tv:")
    entry = tvsets.TV_SETS[name]
    if not tvsets.is_downloaded(name):
        st.info(entry.description)
        wanted = f"{LAB}:download"
        st.button(
            f"Download {tvsets.SHORT_NAMES[name]}",
            icon=":material/download:",
            on_click=st.session_state.__setitem__,
            args=(wanted, name),
        )
        if st.session_state.pop(wanted, None) != name:
            return None, None
        with st.spinner(f"Downloading {tvsets.SHORT_NAMES[name]}…"):
            tvsets.load_tv_set(name, download=True, max_train=10, max_test=10)
    return _load_tv(name, cfg.per_class, cfg.test_fraction, cfg.seed), cfg.name


def draw_data(images: ImageSet, label: str) -> None:
    counts = images.counts()
    total = sum(counts.values())
    st.markdown(
        f"**{label}**: {images.n_classes} classes, {total:,} images of "
        f"{'x'.join(map(str, images.image_shape[1:]))} pixels "
        f"({'colour' if images.image_shape[0] == 3 else 'grey'}); "
        f"{len(images.y_train):,} for training, {len(images.y_test):,} for testing."
    )
    low = min(counts.values())
    if low < 0.5 * total / len(counts):
        st.warning(
            f"Imbalanced: the smallest class has {low} images, under half the average. Watch its recall, "
            "and prefer macro averages (the plain mean over classes) to accuracy."
        )
    chart(figures.class_counts(counts), key="class-counts")
    per_class = 8
    picks = []
    y = images.y_train.cpu().numpy()
    for c in range(images.n_classes):
        idx = np.flatnonzero(y == c)[:per_class]
        picks.append(idx)
    rows = [mosaic.to_uint8(images.x_train[torch_index(idx)]) for idx in picks]
    cols = st.columns(min(5, images.n_classes))
    for c, tiles in enumerate(rows):
        cols[c % len(cols)].image(
            mosaic.grid(tiles, 4, scale=2), caption=escape_markdown(images.class_names[c])
        )


def torch_index(idx: np.ndarray):
    import torch

    return torch.from_numpy(np.asarray(idx, dtype=np.int64))
