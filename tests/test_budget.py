"""One student's legal settings cannot exhaust the server the class shares (issue 14): every lab's run
refuses, in one sentence and before it pays for them, settings over the run budget of core.training;
image sets are refused before they are made; the shared image cache is bounded by bytes."""

from __future__ import annotations

import dataclasses
import math
import threading
import time

import pytest
import torch

from core import budget
from core.budget import EVAL_MACS, ROUND_MACS, RUN_BYTES, SESSION_BYTES, Cost, held_beside
from core.cnn import CNNConfig
from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.data.catalog import DATASETS, IMAGE_DATASETS
from core.data.glyphs import GlyphConfig, generate
from core.data.images import ImageSet
from core.data.series import SeriesConfig, electricity
from core.errors import ConfigError
from core.images.run import (
    MAX_IMAGE_SET_BYTES,
    ImageDataConfig,
    ImageRun,
    ImageRunConfig,
    ImageTrainConfig,
    check_image_set,
)
from core.live import LiveWorker
from core.multitask.config import MTTrainConfig, MultiTaskConfig, NetConfig
from core.multitask.run import MultiTaskRun
from core.sequences.config import CellConfig, SeqConfig, SeqTrainConfig, WindowConfig
from core.sequences.presets import SEQ_BASE
from core.sequences.run import SeqRun
from core.training import Run, Trainer
from ui.runs import SharedData

CPU = torch.device("cpu")


@pytest.fixture
def nothing_built(monkeypatch):
    """Building a run's model (and evaluating it) fails the test: a refusal must come first."""

    def build(self):
        raise AssertionError("the run was built before its cost was checked")

    for cls in (Run, ImageRun, SeqRun, MultiTaskRun):
        monkeypatch.setattr(cls, "_build", build)


def one_sentence(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert text.startswith("Too heavy for a server the whole class shares: ") and text.count(". ") == 0
    assert text.endswith(".") and "\n" not in text
    return text


# ---- the estimate and its sentence ---------------------------------------------------------------


def test_a_cost_within_the_budget_passes_and_one_over_it_names_what_and_how_much():
    Cost(bytes=RUN_BYTES, step_macs=ROUND_MACS / 2, eval_macs=EVAL_MACS).check("use less")
    with pytest.raises(ConfigError) as err:
        Cost(bytes=3 * 2**30, step_macs=1.2e11, eval_macs=EVAL_MACS).check("use fewer channels", together=6)
    text = one_sentence(err)
    assert "each training step would take about 24 s (at most 167 ms, as up to 6 runs step side by" in text
    assert "the run would hold about 3.0 GB of memory (at most 384 MB)" in text and "evaluation" not in text
    assert text.endswith("; use fewer channels.")
    with pytest.raises(ConfigError, match=r"each evaluation would take about 5 min \(at most 2.0 s\)"):
        Cost(bytes=0, step_macs=0, eval_macs=1.5e12).check("use fewer images")


def test_a_run_beside_the_students_other_runs_is_held_to_the_session_budget():
    """Two runs at the run budget fit one student; a third refuses, naming where the memory is."""
    run = Cost(bytes=RUN_BYTES, step_macs=0, eval_macs=0)
    assert SESSION_BYTES == 2 * RUN_BYTES
    with held_beside({"the Images lab": RUN_BYTES - 2**20}):
        run.check("use less")
    with (
        held_beside({"the Images lab": RUN_BYTES, "this lab": 50 * 2**20}),
        pytest.raises(ConfigError) as err,
    ):
        run.check("use a smaller batch")
    text = one_sentence(err)
    assert (
        "the run would hold about 384 MB of memory beside your other runs' 434 MB (384 MB in the Images"
        in text
    )
    assert "lab, 50 MB in this lab; one student's runs may hold 768 MB together)" in text
    assert text.endswith("; use a smaller batch, or choose lighter settings where your other runs are.")
    run.check("use less")  # outside held_beside: the run alone is checked


def test_a_worker_counts_the_sessions_other_runs_and_its_own_but_not_those_it_replaces(
    monkeypatch, xor_data, tiny_cfg
):
    make = lambda cfg: Run(cfg, xor_data, CPU)  # noqa: E731
    one = make(tiny_cfg).cost.bytes
    monkeypatch.setattr(budget, "SESSION_BYTES", 2.5 * one)  # two tiny runs fit, three do not
    elsewhere = {"the Images lab": 0.0}
    worker = LiveWorker("grad", beside=lambda: elsewhere)
    a, b = tiny_cfg, dataclasses.replace(tiny_cfg, train=dataclasses.replace(tiny_cfg.train, seed=2))
    assert worker.sync({"A": a, "B": b}, make) == {}
    assert worker.held() == pytest.approx(2 * one)
    c, changed = (dataclasses.replace(b, train=dataclasses.replace(b.train, seed=seed)) for seed in (3, 4))
    assert worker.sync({"A": a, "B": c}, make) == {}  # B is replaced: its old run is not counted
    assert worker.runs["B"].cfg == c and worker.held() == pytest.approx(2 * one)
    elsewhere["the Images lab"] = one  # the student trains elsewhere too
    errors = worker.sync({"A": a, "B": changed}, make)
    assert set(errors) == {"B"} and "in the Images lab" in errors["B"] and "in this lab" in errors["B"]
    assert worker.runs["A"].cfg == a  # the kept run is untouched


# ---- every lab refuses its heaviest legal settings before building --------------------------------


def test_the_images_lab_refuses_a_heavy_cnn_before_building_it(nothing_built):
    data = ImageDataConfig(name="shapes", per_class=20, size=32)
    images = IMAGE_DATASETS.get("shapes").load(data)
    heavy = CNNConfig(blocks=4, channels=64, kernel=7, padding=3, pool="none", batchnorm=True, head=256)
    cfg = ImageRunConfig(data=data, model=heavy, train=ImageTrainConfig(batch_size=256))
    with pytest.raises(ConfigError) as err:
        ImageRun(cfg, images, CPU)
    assert "each training step would take about" in one_sentence(err) and "more pooling" in str(err.value)


def test_an_image_set_too_large_is_refused_before_it_is_made():
    check_image_set(ImageDataConfig(name="shapes", per_class=150, size=28))  # a preset's set
    check_image_set(ImageDataConfig(name="mnist", per_class=2000))  # all of the built-in MNIST: 500 a class
    with pytest.raises(ConfigError) as err:
        check_image_set(ImageDataConfig(name="shapes", per_class=2000, size=64))
    assert str(err.value) == (
        "16,000 images of 64x64 colour pixels would take 750 MB of memory, more than one image set may "
        "take on a server the whole class shares (128 MB): choose fewer images per class or a smaller "
        "image size."
    )
    with pytest.raises(ConfigError, match="20,000 images of 32x32 colour pixels would take 234 MB"):
        check_image_set(ImageDataConfig(name="tv:cifar10", per_class=2000))
    assert MAX_IMAGE_SET_BYTES >= 1000 * 10 * 3 * 32 * 32 * 4  # CIFAR-10 at 1,000 a class is allowed


def test_the_sequences_lab_refuses_a_long_deep_window_before_building(nothing_built):
    values = electricity(SeriesConfig(days=21))
    heavy = SeqConfig(
        data=SeriesConfig(days=21),
        window=WindowConfig(seq_len=288, horizon=96, stride=1),
        model=CellConfig(cell="lstm", layers=3, hidden=64),
        train=SeqTrainConfig(batch_size=256),
    )
    with pytest.raises(ConfigError) as err:
        SeqRun(heavy, values)
    assert "up to 6 runs step side by side" in one_sentence(err) and "shorter window" in str(err.value)


def test_the_two_inputs_lab_refuses_a_wide_net_with_big_batches_before_building(nothing_built):
    data = GlyphConfig(n_alphabets=2, per_character=20)
    heavy = MultiTaskConfig(
        data=data,
        model=NetConfig(blocks=3, channels=64, hidden=512),
        train=MTTrainConfig(batch_size=1024),
    )
    with pytest.raises(ConfigError) as err:
        MultiTaskRun(heavy, generate(data))
    assert "up to 5 runs step side by side" in one_sentence(err)


def test_the_gradients_lab_refuses_the_deepest_widest_mlp_on_the_most_samples(nothing_built):
    data = DataConfig(name="spiral", n_samples=5000)
    cfg = RunConfig(data=data, model=ModelConfig(depth=50, width=512), train=TrainConfig(batch_size=512))
    with pytest.raises(ConfigError) as err:
        Run(cfg, DATASETS.get("spiral").load(data))
    assert "fewer or narrower layers" in one_sentence(err)


def like_mnist(per_class: int) -> ImageSet:
    """Blank images shaped like the built-in MNIST split (a quarter for the test), made at once."""
    train, test = per_class * 10 * 3 // 4, per_class * 10 // 4
    x, y = torch.zeros(train + test, 1, 28, 28), torch.arange(train + test) % 10
    return ImageSet(x[:train], y[:train], x[train:], y[train:], tuple("0123456789"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ImageRun(ImageRunConfig(), like_mnist(300), CPU),
        lambda: SeqRun(SEQ_BASE, electricity(SEQ_BASE.data)),
        lambda: MultiTaskRun(MultiTaskConfig(), generate(MultiTaskConfig().data)),
        lambda: Run(RunConfig(), DATASETS.get("spiral").load(RunConfig().data)),
    ],
    ids=["images", "sequences", "two-inputs", "gradients"],
)
def test_each_labs_default_is_well_within_the_budget(make):
    run: Trainer = make()
    assert run.evals and run.step == 0
    assert 0 < run.cost.bytes < SESSION_BYTES / 8  # a student may open every lab at its default


def test_a_long_evaluation_is_cut_into_short_pieces():
    data = ImageDataConfig(name="shapes", per_class=40, size=16)
    images = IMAGE_DATASETS.get("shapes").load(data)
    cfg = ImageRunConfig(data=data, model=CNNConfig(channels=64, kernel=7), train=ImageTrainConfig(steps=1))
    run = ImageRun(cfg, images, CPU)
    run.advance(1, max_seconds=math.inf)
    assert len(run.evals) == 2
    pieces = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, eval_every=1, steps=2))
    run = ImageRun(pieces, images, CPU)
    run.train_step()
    n = 0
    while run.evaluating:
        run.work()
        n += 1
    assert n == -(-len(images.x_test) // run._rows) + 1 > 2  # a slice of images each, then the record


# ---- the shared image cache: bounded by bytes -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Blob:
    x: torch.Tensor


def blob(mib: int) -> Blob:
    return Blob(torch.zeros(mib * 2**18))  # float32: 4 bytes each


def test_the_shared_cache_keeps_what_fits_in_its_bytes_and_drops_the_least_recent():
    cache = SharedData(max_bytes=10 * 2**20)
    loads = []

    def load(key, mib):
        return cache.get(key, lambda: loads.append(key) or blob(mib))

    first = load("a", 4)
    assert load("a", 4) is first  # shared, not a copy
    load("b", 4)
    load("a", 4)  # a is now the most recent
    load("c", 4)  # 12 MB: b goes
    load("a", 4)
    load("b", 4)
    assert loads == ["a", "b", "c", "b"]
    load("huge", 11)  # larger than the whole cache: handed out, not kept
    load("huge", 11)
    assert loads[-2:] == ["huge", "huge"]


def test_the_shared_cache_loads_a_set_once_for_sessions_that_ask_at_once_and_keeps_no_error():
    cache = SharedData(max_bytes=2**20)
    calls = []
    got = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return blob(0)

    threads = [threading.Thread(target=lambda: got.append(cache.get("k", slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(value is got[0] for value in got)

    def failing():
        raise ConfigError("No such images.")

    for _ in range(2):
        with pytest.raises(ConfigError):
            cache.get("bad", failing)
    assert cache.get("bad", lambda: blob(0)).x.numel() == 0
