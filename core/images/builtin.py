"""The Predict page's built-in model: a small CNN trained on the offline MNIST digits.

Rerun with `python -m core.images.builtin`: it trains with a fixed seed through the Images
lab's own ImageRun, measures the accuracy on the held-out digits, prints it and writes
assets/models/mnist-cnn.pt (a checkpoint of core.checkpoint, well under 1 MB). The page
states the accuracy stored in that file; tests/test_predict.py measures it again.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from core import checkpoint
from core.cnn import CNNConfig
from core.config import OptimConfig
from core.data import mnist
from core.data.images import ImageSet
from core.images.augment import AugmentConfig
from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig, ImageTrainConfig

PATH = Path(__file__).resolve().parents[2] / "assets" / "models" / "mnist-cnn.pt"
DATASET = "MNIST digits (offline)"
HELD_OUT = "1,000 held-out MNIST digits (100 of each)"  # the test split of DATA, as the page says
DATA = ImageDataConfig(name="mnist", per_class=mnist.PER_CLASS, test_fraction=0.2, seed=0)  # 4,000 + 1,000
CONFIG = ImageRunConfig(
    data=DATA,
    model=CNNConfig(blocks=2, channels=16, head=64, dropout=0.2),  # ~106,000 weights, ~430 kB
    augment=AugmentConfig(rotation=12.0, crop=0.8),  # photographed digits lean and sit off-centre
    optim=OptimConfig(name="adam", lr=0.002),
    train=ImageTrainConfig(batch_size=64, steps=2000, seed=0, eval_every=500),
)


def test_images() -> ImageSet:
    """The digits the model is trained and tested on: the same split every time."""
    return mnist.load(DATA.per_class, DATA.test_fraction, DATA.seed)


def load() -> checkpoint.Checkpoint:
    """The shipped model; CheckpointError with one sentence if the file is missing or damaged."""
    try:
        data = PATH.read_bytes()
    except OSError:
        raise checkpoint.CheckpointError(
            f"The built-in model {PATH.name} is missing: run `python -m core.images.builtin` to make it."
        ) from None
    return checkpoint.from_bytes(data, f"The built-in model {PATH.name}")


def train() -> tuple[bytes, float]:
    """Train on the CPU with one thread (the same result on every machine); (checkpoint bytes, accuracy)."""
    torch.set_num_threads(1)
    run = ImageRun(CONFIG, test_images(), device=torch.device("cpu"))
    while not run.done:
        run.advance(CONFIG.train.steps, max_seconds=60.0)
    accuracy = run.report.accuracy
    data = checkpoint.to_bytes(
        run.model, CONFIG.model, run.images.image_shape, run.class_names, DATASET, accuracy
    )
    return data, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PATH, help=f"where to write (default {PATH})")
    out = parser.parse_args().out
    start = time.perf_counter()
    data, accuracy = train()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    n_test = len(test_images().y_test)
    print(f"wrote {out} ({len(data) / 1e3:.0f} kB) in {time.perf_counter() - start:.0f} s")
    print(f"test accuracy {accuracy:.4f} on {n_test:,} held-out digits")


if __name__ == "__main__":
    main()
