"""Classification metrics from torchmetrics: accuracy, precision and recall, averaged and per class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_precision,
    multiclass_recall,
)

AVERAGES = ("micro", "macro", "weighted")


@dataclass(frozen=True, eq=False)
class ClassReport:
    """Test-set metrics of one model at one step; plain numbers and small numpy arrays."""

    step: int
    accuracy: float
    precision: dict[str, float]  # "micro" / "macro" / "weighted" -> value
    recall: dict[str, float]
    per_class_precision: np.ndarray  # (K,) float
    per_class_recall: np.ndarray  # (K,) float
    confusion: np.ndarray  # (K, K) int64: rows = true class, columns = predicted class
    support: np.ndarray  # (K,) int64 true examples per class


def class_report(step: int, preds: torch.Tensor, target: torch.Tensor, n_classes: int) -> ClassReport:
    """preds, target: (N,) class indices. A class never predicted has precision 0 (torchmetrics' rule)."""
    preds, target = preds.detach().cpu(), target.detach().cpu()
    kw = dict(num_classes=n_classes)
    precision = {a: multiclass_precision(preds, target, average=a, **kw).item() for a in AVERAGES}
    recall = {a: multiclass_recall(preds, target, average=a, **kw).item() for a in AVERAGES}
    return ClassReport(
        step=step,
        accuracy=multiclass_accuracy(preds, target, average="micro", **kw).item(),
        precision=precision,
        recall=recall,
        per_class_precision=multiclass_precision(preds, target, average=None, **kw).numpy(),
        per_class_recall=multiclass_recall(preds, target, average=None, **kw).numpy(),
        confusion=multiclass_confusion_matrix(preds, target, **kw).numpy(),
        support=torch.bincount(target, minlength=n_classes).numpy(),
    )
