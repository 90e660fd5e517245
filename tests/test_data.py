"""Built-in datasets: shapes, balance, determinism, standardisation, batch order."""

from __future__ import annotations

import pytest
import torch

from core.config import DataConfig
from core.data import BatchOrder
from core.data.catalog import DATASETS
from core.data.toy import TOY_SETS


@pytest.mark.parametrize("name", list(TOY_SETS))
def test_toy_sets_are_2d_balanced_and_seeded(name):
    cfg = DataConfig(name=name, n_samples=400, noise=0.1, test_fraction=0.25, seed=3)
    data = DATASETS.get(name).load(cfg)
    assert data.n_features == 2 and data.n_classes == 2
    assert len(data.x_train) + len(data.x_test) == 400 and len(data.x_test) == 100
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    share = torch.cat([data.y_train, data.y_test]).float().mean().item()
    assert 0.4 <= share <= 0.6
    again = DATASETS.get(name).load(cfg)
    assert torch.equal(data.x_train, again.x_train)
    other = DATASETS.get(name).load(DataConfig(name=name, n_samples=400, noise=0.1, seed=4))
    assert not torch.equal(data.x_train, other.x_train)


def test_features_are_standardised_by_the_train_split():
    data = DATASETS.get("moons").load(DataConfig(name="moons", n_samples=1000))
    assert data.x_train.mean(dim=0).abs().max().item() < 1e-5
    assert data.x_train.std(dim=0, unbiased=False).sub(1).abs().max().item() < 1e-4


def test_digits_are_real_8x8_images_with_ten_classes():
    data = DATASETS.get("digits").load(DataConfig(name="digits", test_fraction=0.2))
    assert data.n_features == 64 and data.n_classes == 10
    assert len(data.x_train) + len(data.x_test) == 1797
    assert torch.isfinite(data.x_train).all()  # constant border pixels do not become NaN
    assert set(torch.cat([data.y_train, data.y_test]).tolist()) == set(range(10))


def test_batch_order_is_seeded_and_covers_each_epoch():
    a, b = (
        BatchOrder(10, 3, seed=1, device=torch.device("cpu")),
        BatchOrder(10, 3, seed=1, device=torch.device("cpu")),
    )
    first_epoch = [a.next() for _ in range(3)]
    assert all(torch.equal(x, b.next()) for x in first_epoch)
    assert all(len(x) == 3 for x in first_epoch)  # full batches only
    assert len(set(torch.cat(first_epoch).tolist())) == 9  # no repeats inside an epoch


def test_batch_larger_than_the_data_is_clamped():
    order = BatchOrder(5, 64, seed=0, device=torch.device("cpu"))
    assert sorted(order.next().tolist()) == [0, 1, 2, 3, 4]
