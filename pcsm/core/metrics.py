"""Classification metrics: per-class recall and its mean over the classes present."""

from __future__ import annotations

from typing import Any

import numpy as np

from pcsm.core._checks import as_label_tensor, check_positive_int, optional, validate_params

MAX_LABEL = np.iinfo(np.int64).max


@validate_params(n_classes=optional(check_positive_int))
def per_class_accuracy(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Recall of each class, (# correct in class k) / (# in class k); NaN for a class with no samples.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n,)
        True and predicted non-negative integer labels, n >= 1 (below ``n_classes`` when given).
    n_classes : int, optional
        Number of classes M >= 1; default: the largest label + 1. A label of M or more is refused.

    Returns
    -------
    numpy.ndarray, shape (M,)
        The recall of every class k in [0, M).
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1:
        raise ValueError(f"y_true: expected a 1-D array of labels, got shape {t.shape}")
    if p.shape != t.shape:
        raise ValueError(f"y_pred: expected shape {t.shape} like y_true, got {p.shape}")
    if t.size == 0:
        raise ValueError("y_true: empty")
    for name, labels in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    t = as_label_tensor(t, "y_true", n_classes or MAX_LABEL).numpy()
    p = as_label_tensor(p, "y_pred", n_classes or MAX_LABEL).numpy()
    m = int(max(t.max(), p.max()) + 1) if n_classes is None else n_classes
    total = np.bincount(t, minlength=m).astype(float)
    correct = np.bincount(t[t == p], minlength=m).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.where(total > 0, total, 1), np.nan)


def average_per_class_accuracy(y_true: Any, y_pred: Any) -> float:
    """Mean per-class recall over the classes present in ``y_true``: a fraction in [0, 1].

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n,)
        True and predicted non-negative integer labels.

    Returns
    -------
    float
        :math:`\\frac{1}{M} \\sum_y \\mathrm{recall}_y` over the M classes present in ``y_true``.
    """
    return float(np.nanmean(per_class_accuracy(y_true, y_pred)))
