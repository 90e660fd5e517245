"""The Images lab's presets reproduce their lessons as measured facts on their fixed seeds.

The flip preset trains to its end; the MNIST presets are measured at an evaluation part-way
(the first steps of a run are the same whether or not it goes on), which keeps this file near
30 s of CPU. The numbers in the comments were measured on a 2-core CPU, one torch thread.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch

from core.cnn import layer_table
from core.data.shapes import CLASSES, FLIP_SYMMETRIC, MIRROR_PAIRS
from core.image_presets import (
    BN_OFF,
    BN_ON,
    FLIP_OFF,
    FLIP_ON,
    IMAGE_PRESETS,
    ROTATION_OFF,
    ROTATION_ON,
    SMALL,
    WIDE,
)
from core.registry import IMAGE_DATASETS
from core.training import Status
from core.vision import ImageRun, ImageRunConfig

CPU = torch.device("cpu")
MIRROR = [CLASSES.index(name) for pair in MIRROR_PAIRS for name in pair]
PARTNER = {CLASSES.index(a): CLASSES.index(b) for pair in MIRROR_PAIRS for a, b in (pair, pair[::-1])}
SYMMETRIC = [CLASSES.index(name) for name in FLIP_SYMMETRIC]


@functools.cache
def images(data):
    """One load per data config: MNIST takes seconds to read, and four presets share it."""
    return IMAGE_DATASETS.get(data.name).load(data)


def train(cfg: ImageRunConfig, steps: int | None = None) -> ImageRun:
    run = ImageRun(cfg, images(cfg.data), CPU)
    run.advance(steps or cfg.train.steps, max_seconds=600)
    assert run.step == (steps or cfg.train.steps) and run.status is not Status.DIVERGED
    assert run.report.step == run.step  # measured at an evaluation
    return run


def only_difference(a, b) -> dict:
    """{section.field: (a, b)} for every field in which two run configs differ."""
    out = {}
    for section in dataclasses.fields(a):
        x, y = getattr(a, section.name), getattr(b, section.name)
        for f in dataclasses.fields(x):
            if getattr(x, f.name) != getattr(y, f.name):
                out[f"{section.name}.{f.name}"] = (getattr(x, f.name), getattr(y, f.name))
    return out


def test_every_preset_compares_two_runs_that_differ_in_one_idea():
    assert [(p.a, p.b) for p in IMAGE_PRESETS.values()] == [
        (FLIP_OFF, FLIP_ON),
        (ROTATION_OFF, ROTATION_ON),
        (BN_OFF, BN_ON),
        (SMALL, WIDE),
    ]
    assert only_difference(FLIP_OFF, FLIP_ON) == {"augment.hflip": (0.0, 0.5)}
    assert only_difference(ROTATION_OFF, ROTATION_ON) == {"augment.rotation": (0.0, 180.0)}
    assert only_difference(BN_OFF, BN_ON) == {"model.batchnorm": (False, True)}
    assert set(only_difference(SMALL, WIDE)) == {"model.channels", "model.head"}
    assert FLIP_OFF.data.name == "shapes" and ROTATION_OFF.data.name == "mnist"
    for preset in IMAGE_PRESETS.values():
        assert preset.lesson.endswith(".") and preset.short


def test_both_sides_of_an_augmentation_preset_start_from_the_same_weights_and_batches():
    for a, b in ((FLIP_OFF, FLIP_ON), (ROTATION_OFF, ROTATION_ON)):
        run_a, run_b = ImageRun(a, images(a.data), CPU), ImageRun(b, images(b.data), CPU)
        assert run_a.init_fingerprint == run_b.init_fingerprint
        assert torch.equal(run_a.model.blocks[0].conv.weight, run_b.model.blocks[0].conv.weight)
        assert all(torch.equal(run_a._batches.next(), run_b._batches.next()) for _ in range(5))
        assert run_a.evals[0] == run_b.evals[0]


@pytest.mark.slow
def test_flipping_confuses_the_mirror_classes_and_only_them():
    off, on = train(FLIP_OFF), train(FLIP_ON)  # 300 steps each, ~6.5 s each
    recall_off, recall_on = off.report.per_class_recall, on.report.per_class_recall
    # Measured at step 300: mirror classes' mean recall 1.000 without the flip, 0.382 with it
    # (arrow left 0.53, arrow right 0.16, L 0.45, J 0.39); the symmetric classes 1.0 on both sides.
    assert recall_off[MIRROR].mean() >= 0.9
    assert recall_on[MIRROR].mean() <= 0.7
    assert recall_off[MIRROR].mean() - recall_on[MIRROR].mean() >= 0.25
    assert recall_on[SYMMETRIC].min() >= 0.85 and recall_off[SYMMETRIC].min() >= 0.85
    # Flipped, a pair is one class with two labels: the pair's recalls add up to about one guess
    # (measured 0.69 for the arrows, 0.84 for L and J) and the errors land on the partner.
    for a, b in MIRROR_PAIRS:
        i, j = CLASSES.index(a), CLASSES.index(b)
        assert recall_on[i] + recall_on[j] <= 1.4, (a, b)
    cm = on.report.confusion
    errors = sum(cm[i].sum() - cm[i, i] for i in MIRROR)
    to_partner = sum(cm[i, PARTNER[i]] for i in MIRROR)
    assert errors >= 30 and to_partner >= 0.8 * errors  # measured 94 of 94


def test_rotation_turns_6_into_9():
    steps = 150  # of 300; measured at step 300 too: recall of 6 0.96 -> 0.28, of 9 0.91 -> 0.53
    off, on = train(ROTATION_OFF, steps), train(ROTATION_ON, steps)  # ~3.5 s each
    r_off, r_on = off.report.per_class_recall, on.report.per_class_recall
    # Measured at step 150: recall of 6 0.96 -> 0.23, of 9 0.95 -> 0.68; accuracy 0.953 -> 0.645
    assert r_off[6] - r_on[6] >= 0.4
    assert r_off[9] - r_on[9] >= 0.1
    assert (r_off[6] + r_off[9]) / 2 - (r_on[6] + r_on[9]) / 2 >= 0.25
    # and they become each other: 6 called 9 and 9 called 6, 0 + 0 without, 24 + 8 with
    off_cm, on_cm = off.report.confusion, on.report.confusion
    assert off_cm[6, 9] + off_cm[9, 6] <= 3
    assert on_cm[6, 9] + on_cm[9, 6] >= 12
    assert on.report.accuracy < off.report.accuracy - 0.15


def test_batchnorm_speeds_up_plain_sgd():
    steps = 100  # of 200; at step 200 the train loss is 2.184 without and 0.223 with
    off, on = train(BN_OFF, steps), train(BN_ON, steps)  # ~2.5 s each
    # Measured at step 100: mean train loss over steps 51-100 2.282 without (ln 10 = 2.303 is
    # chance), 0.543 with; test accuracy 0.443 and 0.916.
    loss_off, loss_on = off.evals[-1].train_loss, on.evals[-1].train_loss
    assert loss_off > 2.0 and loss_on < 1.0
    assert loss_on < 0.5 * loss_off
    assert np.mean([r.loss for r in on.records[-10:]]) < 0.5 * np.mean([r.loss for r in off.records[-10:]])
    assert on.report.accuracy > off.report.accuracy + 0.25


def test_a_wide_cnn_has_far_more_weights_and_learns_more():
    small_rows = layer_table(SMALL.model, (1, 28, 28), 10)
    wide_rows = layer_table(WIDE.model, (1, 28, 28), 10)
    assert SMALL.model.block_channels() == [2, 4] and WIDE.model.block_channels() == [24, 48]
    small_params, wide_params = (sum(r.params for r in rows) for rows in (small_rows, wide_rows))
    assert (small_params, wide_params) == (3_418, 313_130)
    steps = 100  # of 300; at step 300 the small CNN reaches 0.895 and the wide one 0.943
    small, wide = train(SMALL, steps), train(WIDE, steps)  # ~0.8 s and ~4.4 s
    assert (small.n_parameters, wide.n_parameters) == (small_params, wide_params)
    # Measured at step 100: test accuracy 0.437 small, 0.907 wide; train loss 2.083 and 0.334.
    assert wide.report.accuracy >= 0.8
    assert wide.report.accuracy > small.report.accuracy + 0.25
    assert wide.evals[-1].train_loss < 0.5 * small.evals[-1].train_loss
