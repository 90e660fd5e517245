"""The dataset catalogue: every built-in dataset (tables and 2-D toys; image sets) by name, with its
label, description and loader, for the pickers and for the runs that load them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ConfigError
from core.registry import Registry

# ---- datasets --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in dataset: its label, a one-line description and its loader."""

    label: str
    description: str
    load: Callable  # (DataConfig) -> core.data.Dataset
    toy: bool  # True: 2-D, generated; n_samples and noise apply


def _needs_upload(cfg):
    raise ConfigError("Upload a CSV file and pick its label column first.")


def _datasets() -> Registry[DatasetSpec]:
    from core.data import digits, tabular, toy

    reg: Registry[DatasetSpec] = Registry("dataset")
    for name, (label, description) in toy.TOY_SETS.items():
        reg.add(name, DatasetSpec(label, description, toy.loader(name), True))
    reg.add("digits", DatasetSpec(digits.LABEL, digits.DESCRIPTION, digits.load, False))
    for name, (label, description, load) in tabular.TABLES.items():
        reg.add(name, DatasetSpec(label, description, load, False))
    # the user's own table: a page passes the parsed Dataset to its runs itself
    reg.add(
        "csv",
        DatasetSpec(
            "Your CSV file", "A table you upload: numeric features and a label column.", _needs_upload, False
        ),
    )
    return reg


DATASETS: Registry[DatasetSpec] = _datasets()
BUILT_IN_DATASETS = [name for name in DATASETS.names() if name != "csv"]  # those that need no upload


# ---- image datasets --------------------------------------------------------------------


@dataclass(frozen=True)
class ImageDatasetSpec:
    """A built-in image dataset: label, description, loader and which settings apply."""

    label: str
    description: str
    load: Callable  # (core.images.run.ImageDataConfig) -> core.data.images.ImageSet
    max_per_class: int
    generated: bool  # True: size and noise apply


def _image_datasets() -> Registry[ImageDatasetSpec]:
    from core.data import mnist, shapes

    def load_shapes(cfg):
        return shapes.generate(
            shapes.ShapesConfig(
                size=cfg.size,
                per_class=cfg.per_class,
                noise=cfg.noise,
                seed=cfg.seed,
                test_fraction=cfg.test_fraction,
            )
        )

    reg: Registry[ImageDatasetSpec] = Registry("image dataset")
    reg.add(
        "mnist",
        ImageDatasetSpec(
            mnist.LABEL,
            mnist.DESCRIPTION,
            lambda cfg: mnist.load(cfg.per_class, cfg.test_fraction, cfg.seed),
            mnist.PER_CLASS,
            False,
        ),
    )
    reg.add("shapes", ImageDatasetSpec(shapes.LABEL, shapes.DESCRIPTION, load_shapes, 2000, True))
    return reg


IMAGE_DATASETS: Registry[ImageDatasetSpec] = _image_datasets()
