"""Input validation shared by the pcsm modules.

Every check raises :class:`ValueError` whose message starts with the name of the offending argument,
so a notebook that fails on bad parameters says which one.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

PRIOR_ATOL = 1e-6


def as_float_tensor(value: Any, name: str) -> torch.Tensor:
    """Return ``value`` (tensor, array or sequence) as a floating-point tensor."""
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else value.double()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, got {type(value).__name__}") from error
    return torch.from_numpy(array)


def as_label_tensor(value: Any, name: str, n_classes: int) -> torch.Tensor:
    """Return integer labels in ``[0, n_classes)`` as a 1-D ``int64`` tensor."""
    if isinstance(value, torch.Tensor):
        labels = value
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name}: labels must be integers, got dtype {array.dtype}")
        labels = torch.as_tensor(array)
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of labels, got shape {tuple(labels.shape)}")
    if labels.is_floating_point():
        if not torch.equal(labels, labels.round()):
            raise ValueError(f"{name}: labels must be integers")
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name}: labels must lie in [0, {n_classes}), got range "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


def check_logits(logits: torch.Tensor, name: str = "logits") -> torch.Tensor:
    """Require a finite 2-D (n, M) tensor of logits with M >= 2."""
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected shape (n, M), got {tuple(logits.shape)}")
    if logits.shape[1] < 2:
        raise ValueError(f"{name}: need at least 2 classes, got {logits.shape[1]}")
    if not torch.isfinite(logits).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return logits


def check_positive_float(value: Any, name: str) -> float:
    """Require a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value}")
    return float(value)


def check_prior_covers(prior: np.ndarray, labels: torch.Tensor, name: str = "prior") -> np.ndarray:
    """Require ``prior`` (already a probability vector) to give mass to every class present in ``labels``."""
    present = np.unique(labels.cpu().numpy())
    zero = [int(k) for k in present if prior[k] <= 0]
    if zero:
        raise ValueError(f"{name}: zero probability for class(es) {zero} present in the labels")
    return prior


def check_prior(prior: Any, n_classes: int | None = None, name: str = "prior") -> np.ndarray:
    """Require a probability vector: 1-D, non-negative, summing to 1 (and of length ``n_classes``)."""
    if isinstance(prior, torch.Tensor):
        prior = prior.detach().cpu().numpy()
    try:
        p = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected a sequence of probabilities") from error
    if p.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D vector, got shape {p.shape}")
    if n_classes is not None and p.shape[0] != n_classes:
        raise ValueError(f"{name}: expected {n_classes} entries (one per class), got {p.shape[0]}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name}: entries must be finite and non-negative, got {p.tolist()}")
    if abs(p.sum() - 1.0) > PRIOR_ATOL:
        raise ValueError(f"{name}: must sum to 1, sums to {p.sum():.6g}")
    return p


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Require an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    """Require a non-empty list of distinct non-negative integer seeds."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise ValueError(f"{name}: expected a non-empty list of integers, got {seeds!r}")
    for seed in seeds:
        check_positive_int(seed, name, minimum=0)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name}: must be distinct, got {list(seeds)}")
    return [int(s) for s in seeds]


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Require one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; choose one of {', '.join(choices)}")
    return value
