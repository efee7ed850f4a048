"""Classification metrics."""

from __future__ import annotations

from typing import Any

import numpy as np


def per_class_accuracy(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Recall of each class, (# correct in class k) / (# in class k); NaN for a class with no samples."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.shape != t.shape:
        raise ValueError(f"y_pred: expected shape {t.shape} like y_true, got {p.shape}")
    if t.size == 0:
        raise ValueError("y_true: empty")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError("y_true: labels must be integers (and so must y_pred)")
    if t.min() < 0 or p.min() < 0:
        raise ValueError("y_true: labels must be non-negative (and so must y_pred)")
    m = int(max(t.max(), p.max()) + 1) if n_classes is None else n_classes
    total = np.bincount(t, minlength=m).astype(float)
    correct = np.bincount(t[t == p], minlength=m).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.where(total > 0, total, 1), np.nan)[:m]


def average_per_class_accuracy(y_true: Any, y_pred: Any) -> float:
    """Mean per-class recall over the classes present in ``y_true``: a fraction in [0, 1]."""
    return float(np.nanmean(per_class_accuracy(y_true, y_pred)))
