"""The class report against a hand computation from the confusion matrix, and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from core.metrics import AVERAGES, class_report


def by_hand(confusion: np.ndarray) -> dict:
    """Per-class and averaged precision and recall from a confusion matrix (rows true, columns predicted).

    A class with no predictions has precision 0, with no examples recall 0; macro averages the
    classes that occur (as true or predicted labels); weighted weighs each class by its support.
    """
    cm = confusion.astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)  # true examples per class
    predicted = cm.sum(axis=0)  # predictions per class
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    occurs = (support + predicted) > 0
    n = cm.sum()
    return {
        "recall": recall,
        "precision": precision,
        "support": support,
        "accuracy": tp.sum() / n,
        "macro": {"recall": recall[occurs].mean(), "precision": precision[occurs].mean()},
        "weighted": {"recall": (recall * support).sum() / n, "precision": (precision * support).sum() / n},
    }


def test_a_tiny_example_with_known_numbers():
    target = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    preds = torch.tensor([0, 0, 1, 1, 1, 1, 0])
    report = class_report(5, preds, target, 3)
    assert report.step == 5
    assert report.confusion.tolist() == [[2, 1, 0], [0, 2, 0], [1, 1, 0]]
    assert report.support.tolist() == [3, 2, 2]
    np.testing.assert_allclose(report.per_class_recall, [2 / 3, 1, 0], rtol=1e-6)
    np.testing.assert_allclose(report.per_class_precision, [2 / 3, 2 / 4, 0], rtol=1e-6)  # 2 never predicted
    assert report.accuracy == pytest.approx(4 / 7)
    assert report.recall["micro"] == pytest.approx(4 / 7)
    assert report.precision["micro"] == pytest.approx(4 / 7)
    assert report.recall["macro"] == pytest.approx((2 / 3 + 1 + 0) / 3)  # 5/9
    assert report.precision["macro"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)  # 7/18
    assert report.recall["weighted"] == pytest.approx((3 * 2 / 3 + 2 * 1 + 2 * 0) / 7)  # 4/7
    assert report.precision["weighted"] == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 2 * 0) / 7)  # 3/7


@pytest.mark.parametrize("seed", range(5))
def test_random_predictions_match_the_hand_computation_and_sklearn(seed):
    gen = torch.Generator().manual_seed(seed)
    k = 6
    target = torch.randint(0, k, (300,), generator=gen)
    noise = torch.randint(0, k, (300,), generator=gen)
    keep = torch.rand(300, generator=gen) < 0.6
    preds = torch.where(keep, target, noise)  # about 60% right plus chance
    preds[preds == 4] = 3  # class 4 is never predicted
    report = class_report(0, preds, target, k)

    cm = confusion_matrix(target.numpy(), preds.numpy(), labels=range(k))
    assert report.confusion.dtype == np.int64 and report.support.dtype == np.int64
    np.testing.assert_array_equal(report.confusion, cm)
    hand = by_hand(report.confusion)
    np.testing.assert_array_equal(report.support, hand["support"])
    np.testing.assert_allclose(report.per_class_recall, hand["recall"], rtol=1e-6)
    np.testing.assert_allclose(report.per_class_precision, hand["precision"], rtol=1e-6)
    assert report.per_class_precision[4] == 0 and report.per_class_recall[4] == 0
    for average in ("macro", "weighted"):
        assert report.recall[average] == pytest.approx(hand[average]["recall"], rel=1e-6)
        assert report.precision[average] == pytest.approx(hand[average]["precision"], rel=1e-6)
    # macro is the plain mean over classes, weighted the support-weighted mean
    assert report.recall["macro"] == pytest.approx(report.per_class_recall.mean(), rel=1e-6)
    support = report.support / report.support.sum()
    assert report.precision["weighted"] == pytest.approx(
        (report.per_class_precision * support).sum(), rel=1e-6
    )
    # single-label multiclass: micro precision = micro recall = accuracy = weighted recall
    accuracy = accuracy_score(target.numpy(), preds.numpy())
    for value in (
        report.accuracy,
        report.recall["micro"],
        report.precision["micro"],
        report.recall["weighted"],
    ):
        assert value == pytest.approx(accuracy, rel=1e-6)

    p, r, _, s = precision_recall_fscore_support(
        target.numpy(), preds.numpy(), labels=range(k), average=None, zero_division=0
    )
    np.testing.assert_allclose(report.per_class_precision, p, rtol=1e-6)
    np.testing.assert_allclose(report.per_class_recall, r, rtol=1e-6)
    np.testing.assert_array_equal(report.support, s)
    for average in AVERAGES:
        p, r, _, _ = precision_recall_fscore_support(
            target.numpy(), preds.numpy(), labels=range(k), average=average, zero_division=0
        )
        assert report.precision[average] == pytest.approx(p, rel=1e-6), average
        assert report.recall[average] == pytest.approx(r, rel=1e-6), average


def test_a_class_absent_from_the_test_set_and_never_predicted_is_left_out_of_macro():
    # torchmetrics' rule (sklearn with labels=range(K) would count it as 0): class 3 has no row or column
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    preds = torch.tensor([0, 1, 1, 1, 2, 0])
    report = class_report(0, preds, target, 4)
    assert report.support.tolist() == [2, 2, 2, 0]
    assert report.per_class_recall[3] == 0 and report.per_class_precision[3] == 0
    assert report.recall["macro"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert report.precision["macro"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    p, r, _, _ = precision_recall_fscore_support(
        target.numpy(), preds.numpy(), labels=range(3), average="macro", zero_division=0
    )
    assert (report.precision["macro"], report.recall["macro"]) == pytest.approx((p, r))


def test_a_class_predicted_but_absent_counts_in_macro_recall_as_zero():
    target = torch.tensor([0, 0, 1, 1])
    preds = torch.tensor([0, 2, 1, 1])  # class 2 has no examples but one (wrong) prediction
    report = class_report(0, preds, target, 3)
    assert report.per_class_recall.tolist() == [0.5, 1.0, 0.0]
    assert report.per_class_precision.tolist() == [1.0, 1.0, 0.0]
    assert report.recall["macro"] == pytest.approx(0.5)
    assert report.recall["weighted"] == pytest.approx(0.75) == report.accuracy


def test_perfect_predictions_and_plain_values():
    target = torch.arange(4).repeat(5)
    report = class_report(3, target.clone(), target, 4)
    assert report.accuracy == 1.0
    assert all(report.precision[a] == 1.0 and report.recall[a] == 1.0 for a in AVERAGES)
    assert report.confusion.tolist() == (np.eye(4, dtype=np.int64) * 5).tolist()
    assert isinstance(report.accuracy, float) and isinstance(report.per_class_recall, np.ndarray)
    assert set(report.precision) == set(report.recall) == set(AVERAGES)
