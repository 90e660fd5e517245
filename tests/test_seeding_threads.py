"""Every lab's run draws its weights, dropout masks, augmentation and batches from its own seeded streams:
runs built and trained in many threads at once equal a lone one bit for bit, and torch's global generator is
neither read nor moved."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch
from torch.nn import functional as F

from core.cnn import CNNConfig, build_cnn
from core.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from core.data.catalog import DATASETS, IMAGE_DATASETS
from core.data.glyphs import GlyphConfig, generate
from core.images.augment import AugmentConfig
from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig, ImageTrainConfig
from core.models import build_mlp
from core.multitask.config import MTTrainConfig, MultiTaskConfig, NetConfig
from core.multitask.models import build_net
from core.multitask.run import MultiTaskRun
from core.seeding import Dropout
from core.sequences.config import CellConfig, SeqConfig, SeqTrainConfig, WindowConfig
from core.sequences.models import build_forecaster
from core.sequences.run import SeqRun
from core.training import Run
from tests.test_sequences import tiny_series

CPU = torch.device("cpu")
THREADS = 8
STEPS = 20

MLP_RUN = RunConfig(
    data=DataConfig(name="moons", n_samples=128, noise=0.1),
    model=ModelConfig(depth=2, width=8, init="xavier_uniform"),
    optim=OptimConfig(name="adam", lr=0.01),
    train=TrainConfig(steps=STEPS, batch_size=16, probe_every=5, eval_every=10, seed=3),
)
IMAGE_RUN = ImageRunConfig(
    data=ImageDataConfig(name="shapes", per_class=20, size=16, noise=0.0),
    model=CNNConfig(channels=4, head=8, dropout=0.3),
    augment=AugmentConfig(hflip=0.5, rotation=30, jitter=0.3),
    optim=OptimConfig(name="adam", lr=0.01),
    train=ImageTrainConfig(batch_size=16, steps=STEPS, eval_every=10, seed=3),
)
SEQ_RUN = SeqConfig(
    window=WindowConfig(seq_len=12, horizon=2, stride=2),
    model=CellConfig(cell="lstm", hidden=4),
    optim=OptimConfig(name="adam", lr=0.01),
    train=SeqTrainConfig(batch_size=8, steps=STEPS, eval_every=10, eval_windows=40, seed=3),
)
GLYPHS = GlyphConfig(n_alphabets=3, per_character=12, size=16)
MT_RUN = MultiTaskConfig(
    data=GLYPHS,
    model=NetConfig(setup="char_given_alphabet", channels=4, hidden=16),
    train=MTTrainConfig(batch_size=8, steps=STEPS, eval_every=10, seed=3),
)


@pytest.fixture(scope="module")
def labs() -> dict[str, tuple[Callable, Callable]]:
    """Lab -> (make its run, one step record's losses)."""
    moons = DATASETS.get("moons").load(MLP_RUN.data)
    shapes = IMAGE_DATASETS.get("shapes").load(IMAGE_RUN.data)
    series, glyphs = tiny_series(), generate(GLYPHS)
    return {
        "mlp": (lambda: Run(MLP_RUN, moons, CPU), lambda r: r.loss),
        "images": (lambda: ImageRun(IMAGE_RUN, shapes, CPU), lambda r: r.loss),
        "sequences": (lambda: SeqRun(SEQ_RUN, series, CPU), lambda r: r.loss),
        "multitask": (lambda: MultiTaskRun(MT_RUN, glyphs, CPU), lambda r: (r.total, r.raw)),
    }


def _train(make: Callable, losses: Callable) -> tuple[list[torch.Tensor], list]:
    """Build a run, train it STEPS steps: (its parameters, its steps' losses)."""
    run = make()
    records = run.advance(STEPS, max_seconds=120)
    return [p.detach().clone() for p in run.model.parameters()], [losses(r) for r in records]


@pytest.mark.parametrize("lab", ["mlp", "images", "sequences", "multitask"])
def test_runs_trained_in_threads_at_once_equal_a_lone_run(labs, lab):
    make, losses = labs[lab]
    alone = _train(make, losses)
    start = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def worker(i: int) -> None:
        start.wait()  # every thread builds its run at the same moment
        results[i] = _train(make, losses)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for params, steps in results:
        assert len(steps) == STEPS and steps == alone[1]
        assert all(torch.equal(a, b) for a, b in zip(params, alone[0], strict=True))


BUILDERS = {
    "mlp": lambda: build_mlp(2, 3, ModelConfig(depth=2, width=8, batchnorm=True), seed=3),
    "mlp kaiming": lambda: build_mlp(2, 1, ModelConfig(init="kaiming_normal"), seed=3),
    "cnn": lambda: build_cnn(CNNConfig(channels=4, batchnorm=True, dropout=0.5), (1, 16, 16), 5, seed=3),
    "rnn": lambda: build_forecaster(CellConfig(cell="rnn", hidden=4, layers=2), horizon=2, seed=3),
    "gru": lambda: build_forecaster(CellConfig(cell="gru", hidden=4), horizon=2, seed=3),
    "multitask": lambda: build_net(NetConfig(setup="char_given_alphabet", channels=4), (1, 16, 16), 9, 3, 3),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_building_neither_reads_nor_moves_the_global_generator(name):
    torch.manual_seed(1)
    before = torch.get_rng_state()
    first = BUILDERS[name]().state_dict()
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(2)
    second = BUILDERS[name]().state_dict()
    for key, value in first.items():
        assert torch.equal(value, second[key]), key
        assert torch.isfinite(value.float()).all(), key  # materialise left no memory unset


def test_training_with_dropout_and_augmentation_leaves_the_global_generator_alone(labs):
    make, _ = labs["images"]
    before = torch.get_rng_state()
    make().advance(3, max_seconds=60)
    assert torch.equal(torch.get_rng_state(), before)


def test_dropout_equals_torch_dropout_under_the_same_seed():
    x = torch.randn(64, 32)
    for p in (0.0, 0.3, 0.9, 1.0):
        torch.manual_seed(5)
        expected = F.dropout(x, p, training=True)
        assert torch.equal(Dropout(p, seed=5).train()(x), expected), p
    assert Dropout(0.5, seed=5).eval()(x) is x  # identity outside training, as nn.Dropout
