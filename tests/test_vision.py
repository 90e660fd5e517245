"""The Images lab's run: training, records, evaluation, seeding, augmentation, probes, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from core.cnn import CNNConfig
from core.config import OptimConfig
from core.data.catalog import IMAGE_DATASETS
from core.errors import ConfigError
from core.images.augment import AugmentConfig
from core.images.run import ImageDataConfig, ImageRun, ImageRunConfig, ImageTrainConfig, validate_image_run
from core.training import Status

CPU = torch.device("cpu")
DATA = ImageDataConfig(name="shapes", per_class=20, size=16, noise=0.0)  # 120 train, 40 test images

# BatchNorm and a single linear head learn these 16-pixel shapes in 30 steps (loss 2.08 -> ~1.0).
TINY = ImageRunConfig(
    data=DATA,
    model=CNNConfig(channels=4, head=0, batchnorm=True),
    optim=OptimConfig(name="adam", lr=0.01),
    train=ImageTrainConfig(batch_size=16, steps=30, eval_every=10),
)
AUGMENTED = dataclasses.replace(TINY, augment=AugmentConfig(hflip=0.5, rotation=30, jitter=0.3))


def changed(cfg: ImageRunConfig, **sections) -> ImageRunConfig:
    """Replace fields per section: changed(cfg, train=dict(steps=5))."""
    return dataclasses.replace(
        cfg, **{name: dataclasses.replace(getattr(cfg, name), **fields) for name, fields in sections.items()}
    )


@pytest.fixture(scope="module")
def images():
    return IMAGE_DATASETS.get("shapes").load(DATA)


@pytest.fixture(scope="module")
def trained(images):
    run = ImageRun(TINY, images, CPU)
    run.advance(TINY.train.steps, max_seconds=60)
    return run


def test_the_tiny_run_learns(trained):
    assert trained.status is Status.FINISHED and trained.step == 30
    first, last = trained.evals[0], trained.evals[-1]
    assert first.train_loss == pytest.approx(math.log(8), abs=0.1)  # untrained: chance on 8 classes
    assert last.train_loss < 0.75 * first.train_loss
    assert last.test_loss < first.test_loss
    assert last.test_accuracy > 0.4  # chance is 0.125


def test_records_hold_plain_values(trained):
    assert [r.step for r in trained.records] == list(range(1, 31))
    for r in trained.records:
        assert isinstance(r.loss, float) and math.isfinite(r.loss)
        assert list(r.grad_norms) == trained.layer_names == ["conv 1", "conv 2", "output"]
        assert r.lr == pytest.approx(0.01) and r.clipped is False and r.activations is None
        assert r.grad_norm_total > 0
    for e in trained.evals:
        assert all(
            isinstance(v, float) for v in (e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy)
        )
        assert 0 <= e.train_accuracy <= 1 and 0 <= e.test_accuracy <= 1


def test_evaluation_cadence_and_end(images, trained):
    assert [e.step for e in trained.evals] == [0, 10, 20, 30]
    assert trained.report.step == 30 and trained.report.accuracy == trained.evals[-1].test_accuracy
    assert trained.advance(5, max_seconds=math.inf) == [] and trained.step == 30
    assert trained.message == "Finished all 30 steps."
    odd = ImageRun(changed(TINY, train=dict(steps=25, eval_every=10)), images, CPU)
    odd.advance(100, max_seconds=60)
    assert [e.step for e in odd.evals] == [0, 10, 20, 25] and odd.step == 25  # the last step always


def test_train_side_of_an_eval_is_the_mean_over_the_batches_since(images):
    run = ImageRun(TINY, images, CPU)
    run.advance(10, max_seconds=60)
    assert run.evals[-1].train_loss == pytest.approx(np.mean([r.loss for r in run.records]))


def test_advance_in_slices_equals_one_go(images, trained):
    run = ImageRun(TINY, images, CPU)
    for n in (1, 4, 7, 18):
        run.advance(n, max_seconds=60)
    assert [r.loss for r in run.records] == [r.loss for r in trained.records]


@pytest.mark.parametrize(
    "cfg", [AUGMENTED, changed(AUGMENTED, model=dict(dropout=0.5, head=8))], ids=["aug", "dropout"]
)
def test_reset_and_a_second_run_replay_the_same_records(images, cfg):
    run = ImageRun(cfg, images, CPU)
    first = [r.loss for r in run.advance(12, max_seconds=60)]
    torch.manual_seed(99)  # whatever the caller does to the global stream in between
    torch.rand(5)
    run.reset()
    assert run.step == 0 and run.status is Status.READY and len(run.evals) == 1
    assert [r.loss for r in run.advance(12, max_seconds=60)] == first
    twin = ImageRun(cfg, images, CPU)
    assert [r.loss for r in twin.advance(12, max_seconds=60)] == first
    other_seed = ImageRun(changed(cfg, train=dict(seed=1)), images, CPU)
    assert [r.loss for r in other_seed.advance(12, max_seconds=60)] != first


def test_runs_differing_only_in_augmentation_share_weights_and_batches(images):
    plain, augmented = ImageRun(TINY, images, CPU), ImageRun(AUGMENTED, images, CPU)
    assert plain.init_fingerprint == augmented.init_fingerprint
    for (name, a), b in zip(
        plain.model.state_dict().items(), augmented.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    for _ in range(10):
        assert torch.equal(plain._batches.next(), augmented._batches.next())


def test_augmentation_applies_to_training_only(images):
    plain, flipped = (
        ImageRun(TINY, images, CPU),
        ImageRun(changed(TINY, augment=dict(hflip=1.0)), images, CPU),
    )
    # step 0: the same weights evaluated on the same unaugmented test images
    assert plain.evals[0] == flipped.evals[0]
    np.testing.assert_array_equal(plain.report.confusion, flipped.report.confusion)
    # the first training step sees flipped images: same weights and batch, another loss
    assert plain.advance(1, max_seconds=math.inf)[0].loss != flipped.advance(1, max_seconds=math.inf)[0].loss
    # and evaluating an augmented run is deterministic: no draw touches the test images
    flipped.advance(4, max_seconds=math.inf)
    first, again = flipped.evaluate(5), flipped.evaluate(5)
    assert (first.test_loss, first.test_accuracy) == (again.test_loss, again.test_accuracy)
    x = images.x_test[:8]
    assert torch.equal(flipped.probabilities(x), flipped.probabilities(x))


def test_building_and_training_leave_the_global_rng_alone(images):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    run = ImageRun(changed(AUGMENTED, model=dict(dropout=0.3, head=8)), images, CPU)
    run.advance(3, max_seconds=math.inf)
    assert torch.equal(torch.rand(3), expected)


def test_a_huge_learning_rate_diverges_without_raising(images):
    cfg = changed(
        TINY, model=dict(activation="linear", batchnorm=False), optim=dict(name="sgd", lr=10.0, momentum=0.9)
    )
    run = ImageRun(cfg, images, CPU)
    run.advance(30, max_seconds=60)
    assert run.status is Status.DIVERGED and run.diverged_at is not None and run.diverged_at < 30
    assert run.step == run.diverged_at and not math.isfinite(run.records[-1].loss)
    assert run.message.startswith(f"Diverged at step {run.diverged_at}")
    assert run.advance(5, max_seconds=math.inf) == []
    assert all(math.isfinite(e.test_loss) for e in run.evals)  # no evaluation of a broken model


def test_feature_maps_follow_the_layer_table(images, trained):
    maps = trained.feature_maps(images.x_test[0])
    names = [name for name, _ in trained.model.feature_modules()]
    assert (
        [name for name, _ in maps]
        == names
        == [
            "conv 1 (after activation)",
            "conv 1 (after pooling)",
            "conv 2 (after activation)",
            "conv 2 (after pooling)",
        ]
    )
    rows = {r.name: r.shape for r in trained.layer_rows}
    expected = [rows["act 1"], rows["pool 1"], rows["act 2"], rows["pool 2"]]
    assert [m.shape for _, m in maps] == expected == [(4, 16, 16), (4, 8, 8), (8, 8, 8), (8, 4, 4)]
    assert all(m.dtype == np.float32 and m.min() >= 0 for _, m in maps)  # after ReLU and max pooling
    assert all(hook_free(module) for _, module in trained.model.feature_modules())
    assert trained.feature_maps(images.x_test[0])[2][1].tolist() == maps[2][1].tolist()


def hook_free(module) -> bool:
    return not module._forward_hooks


def test_feature_maps_without_pooling_and_other_kernels(images):
    cfg = changed(TINY, model=dict(blocks=3, kernel=5, padding=0, pool="none"))
    run = ImageRun(cfg, images, CPU)
    maps = run.feature_maps(images.x_test[0])
    assert [m.shape for _, m in maps] == [(4, 12, 12), (8, 8, 8), (16, 4, 4)]  # 16 - 4 per 5x5 conv
    assert [m.shape for _, m in maps] == [r.shape for r in run.layer_rows if r.name.startswith("act")]


def test_filters_are_the_first_convs_kernels(trained):
    filters = trained.filters()
    assert filters.shape == (4, 3, 3, 3) and filters.dtype == np.float32
    np.testing.assert_array_equal(filters, trained.model.blocks[0].conv.weight.detach().numpy())


def test_misclassified_images_match_the_confusion_matrix(images, trained):
    cm = trained.report.confusion
    y = images.y_test.numpy()
    seen = []
    for true in range(images.n_classes):
        for pred in range(images.n_classes):
            idx = trained.misclassified(true, pred)
            assert len(idx) == cm[true, pred]
            assert (y[idx] == true).all() and (trained.test_pred[idx] == pred).all()
            seen.extend(idx.tolist())
    assert sorted(seen) == list(range(len(y)))


def test_probabilities_are_softmax_rows_that_agree_with_the_predictions(images, trained):
    p = trained.probabilities(images.x_test)
    assert p.shape == (len(images.y_test), images.n_classes) and p.device.type == "cpu"
    assert torch.allclose(p.sum(dim=1), torch.ones(len(p)), atol=1e-5)
    assert (p >= 0).all()
    np.testing.assert_array_equal(p.argmax(dim=1).numpy(), trained.test_pred)


def test_set_lr_takes_effect_at_the_next_step_and_survives_reset(images):
    run = ImageRun(TINY, images, CPU)
    run.advance(2, max_seconds=math.inf)
    run.set_lr(0.05)
    assert run.lr == 0.05 and run.cfg.optim.lr == 0.05
    assert run.advance(1, max_seconds=math.inf)[0].lr == 0.05
    run.reset()
    assert run.lr == 0.05 and run.step == 0
    with pytest.raises(ValueError):
        run.set_lr(0.0)


def test_clipping_is_recorded(images):
    run = ImageRun(changed(TINY, train=dict(clip_norm=1e-3)), images, CPU)
    assert all(r.clipped for r in run.advance(3, max_seconds=math.inf))


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            dict(data=dict(per_class=5)),
            "Coloured shapes (mirror pairs) has 10 to 2000 images per class, not 5.",
        ),
        (dict(data=dict(name="mnist", per_class=501)), "MNIST digits (28x28, offline) has 10 to 500 images"),
        (dict(train=dict(steps=0)), "The steps must be between 1 and 3000, not 0."),
        (dict(train=dict(steps=3001)), "The steps must be between 1 and 3000, not 3001."),
        (dict(train=dict(batch_size=0)), "The batch size must be between 1 and 512, not 0."),
        (dict(train=dict(batch_size=513)), "The batch size must be between 1 and 512, not 513."),
        (dict(train=dict(eval_every=0)), "The evaluation interval must be between 1 and 3000, not 0."),
        (dict(train=dict(batch_size=1)), "BatchNorm needs at least 2 images per batch"),
        (dict(optim=dict(lr=0.0)), "The learning rate must be above 0 and at most 100, not 0.0."),
        (dict(optim=dict(lr=float("nan"))), "The learning rate must be above 0 and at most 100, not nan."),
        (dict(optim=dict(lr=101.0)), "The learning rate must be above 0 and at most 100, not 101.0."),
        (dict(optim=dict(momentum=1.0)), "Momentum must be at least 0 and below 1, not 1.0."),
        (dict(optim=dict(weight_decay=2.0)), "Weight decay must be between 0 and 1, not 2.0."),
        (dict(train=dict(clip_norm=-1.0)), "The clipping norm must be 0 (off) or positive, not -1.0."),
        (dict(optim=dict(name="lbfgs")), "Unknown optimizer 'lbfgs'. Valid names:"),
        (dict(optim=dict(schedule="warmup")), "Unknown schedule 'warmup'. Valid names:"),
    ],
)
def test_bad_settings_get_a_sentence(images, sections, message):
    cfg = changed(TINY, **sections)
    with pytest.raises(ConfigError) as err:
        validate_image_run(cfg)
    assert str(err.value).startswith(message) and str(err.value).endswith(".")
    with pytest.raises(ConfigError):
        ImageRun(cfg, images, CPU)


def test_impossible_shapes_and_unknown_augmentation_values_are_refused_on_build(images):
    with pytest.raises(ConfigError, match="kernel does not fit"):
        ImageRun(changed(TINY, model=dict(blocks=4, kernel=7, padding=0)), images, CPU)
    with pytest.raises(ConfigError, match="Rotation: the degrees must be between 0 and 180"):
        ImageRun(changed(TINY, augment=dict(rotation=270.0)), images, CPU)
    validate_image_run(TINY)  # the good config passes
