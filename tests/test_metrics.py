import numpy as np
import pytest

from pcsm.core.metrics import average_per_class_accuracy, per_class_accuracy


def test_mean_per_class_recall_differs_from_accuracy_under_imbalance():
    y_true = np.array([0] * 90 + [1] * 10)
    y_pred = np.zeros(100, dtype=int)  # always the majority class
    assert average_per_class_accuracy(y_true, y_pred) == pytest.approx(0.5)
    assert (y_true == y_pred).mean() == pytest.approx(0.9)


def test_per_class_accuracy_values():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    np.testing.assert_allclose(per_class_accuracy(y_true, y_pred), [0.5, 2 / 3, 1.0])
    assert average_per_class_accuracy(y_true, y_pred) == pytest.approx((0.5 + 2 / 3 + 1.0) / 3)


def test_classes_absent_from_truth_are_ignored():
    y_true = np.array([0, 0, 2])
    y_pred = np.array([0, 1, 2])
    acc = per_class_accuracy(y_true, y_pred)
    assert np.isnan(acc[1])
    assert average_per_class_accuracy(y_true, y_pred) == pytest.approx(0.75)


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="y_pred: expected shape"):
        average_per_class_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="y_true: empty"):
        average_per_class_accuracy([], [])
    with pytest.raises(ValueError, match="y_true: labels must be integers"):
        average_per_class_accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="y_true: labels must be non-negative"):
        average_per_class_accuracy([-1, 1], [0, 1])
