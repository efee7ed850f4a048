"""Samples as the estimators take them: x a finite float64 (n, d) array, y coded 0..K-1, and a
scale-free standardisation (used by :func:`~pcsm.core.mi.estimate_mi` and the baselines alike)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pcsm.core._checks import as_float_tensor, as_label_tensor, check_finite, check_label_count


def as_samples(x: Any, y: Any, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse ``x`` and ``y`` once, naming the argument at fault.

    Parameters
    ----------
    x : array-like, shape (n, d) or (n,)
        Real features (numpy, torch with or without gradient, pandas), d >= 1; NaN, missing or infinite
        values are refused, and so are complex ones.
    y : array-like, shape (n,)
        Integer labels (or integral floats), any values.
    min_rows : int
        The fewest rows accepted.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        x as float64 (n, d); the labels as codes 0..K-1 (int64); the K distinct label values, increasing.
        Memory O(n): a label of 10**9 costs no more than a label of 1.
    """
    xs = as_float_tensor(x, "x").detach().cpu().double().numpy()
    if xs.ndim == 1:
        xs = xs[:, None]
    if xs.ndim != 2 or xs.shape[0] < min_rows:
        raise ValueError(f"x: expected shape (n, d) with n >= {min_rows}, got {xs.shape}")
    if xs.shape[1] == 0:
        raise ValueError(f"x: has no columns (shape {xs.shape}); give at least one feature")
    check_finite(xs, "x")
    labels = as_label_tensor(y, "y", np.iinfo(np.int64).max).cpu().numpy()
    check_label_count(labels, xs.shape[0], "y", "row of x")
    classes, codes = np.unique(labels, return_inverse=True)
    return xs, codes.reshape(-1).astype(np.int64), classes


def rescaled(xs: np.ndarray, standardize: bool = True, centre: bool = False) -> np.ndarray:
    """x divided by a power of two (exact) that brings its largest magnitude, per column when
    ``standardize``, into [0.5, 1), then centred when ``centre`` and each column divided by its
    standard deviation when ``standardize``: an overall scale of 1e200 or 1e-300 neither overflows
    nor underflows, and an offset of 1e8 loses nothing (float64 throughout)."""
    peak = np.abs(xs).max(axis=0) if standardize else np.abs(xs).max()
    xs = np.ldexp(xs, -np.frexp(peak)[1])
    if centre:
        xs = xs - xs.mean(axis=0)
    if standardize:
        std = xs.std(axis=0)
        xs = xs / np.where(std > 0, std, 1.0)
    return xs
