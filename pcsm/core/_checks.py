"""Input validation shared by the pcsm modules.

Every check raises :class:`ValueError` (:class:`TypeError` for a value of the wrong kind where a bool
belongs) whose message starts with the name of the offending argument, so a notebook that fails on bad
parameters says which one. Every range check of the core library lives here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

PRIOR_ATOL = 1e-6
MAX_SEED = 2**63 - 1
MAX_EXACT_FLOAT_LABEL = 2**53


def as_float_tensor(value: Any, name: str) -> torch.Tensor:
    """Return ``value`` (tensor, array, sequence or pandas object) as a floating-point tensor.

    A tensor is returned as it is (autograd intact) when floating; pandas' missing values (``pd.NA``,
    ``None``) become NaN.
    """
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else value.double()
    try:
        if hasattr(value, "to_numpy"):
            array = np.array(value.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, got {type(value).__name__} ({error})") from error
    return torch.from_numpy(np.ascontiguousarray(array))


def as_label_tensor(value: Any, name: str, n_classes: int) -> torch.Tensor:
    """Return integer labels in ``[0, n_classes)`` as a 1-D ``int64`` tensor."""
    if isinstance(value, torch.Tensor):
        labels = value.detach()
    else:
        array = np.array(value.to_numpy()) if hasattr(value, "to_numpy") else np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name}: labels must be integers, got dtype {array.dtype}")
        labels = torch.as_tensor(array)
    if labels.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of labels, got shape {tuple(labels.shape)}")
    if labels.is_floating_point():
        if not torch.isfinite(labels).all():
            raise ValueError(f"{name}: labels must be finite integers, got NaN or infinite values")
        if labels.numel() and labels.abs().max() > MAX_EXACT_FLOAT_LABEL:
            raise ValueError(f"{name}: float labels above 2**53 are not exact integers; pass integer labels")
        if not torch.equal(labels, labels.round()):
            raise ValueError(f"{name}: labels must be integers, got non-integral values")
    labels = labels.long()
    if labels.numel() and labels.min() < 0:
        raise ValueError(f"{name}: labels must be non-negative, got minimum {int(labels.min())}")
    if labels.numel() and labels.max() >= n_classes:
        raise ValueError(
            f"{name}: labels must lie in [0, {n_classes}), got range "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


def check_label_count(labels: Any, n: int, name: str, per: str) -> None:
    """Require ``n`` labels, one per ``per`` (e.g. "row of x")."""
    if len(labels) != n:
        raise ValueError(f"{name}: expected {n} labels (one per {per}), got {len(labels)}")


def check_logits(logits: torch.Tensor, name: str = "logits") -> torch.Tensor:
    """Require a finite 2-D (n, M) tensor of logits with M >= 2."""
    if logits.ndim != 2:
        raise ValueError(f"{name}: expected shape (n, M), got {tuple(logits.shape)}")
    if logits.shape[1] < 2:
        raise ValueError(f"{name}: need at least 2 classes, got {logits.shape[1]}")
    if not torch.isfinite(logits).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return logits


def check_bool(value: Any, name: str) -> bool:
    """Require a real bool (``True``/``False`` or numpy's ``np.bool_``); a string such as "False" is a
    :class:`TypeError`, not a truthy value."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_fraction(value: Any, name: str) -> float:
    """Require a real number in the open interval (0, 1) (Python or numpy float or int)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number in (0, 1), got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name}: must lie in (0, 1), got {value!r}")
    return float(value)


def check_positive_float(value: Any, name: str) -> float:
    """Require a finite real number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
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


def check_positive_int(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Require an integer (Python or numpy) >= ``minimum`` (and <= ``maximum``); return it as an int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value}")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """Require a seed: an integer in [0, 2**63 - 1] (Python or numpy); return it as an int."""
    return check_positive_int(value, name, minimum=0, maximum=MAX_SEED)


def check_hidden(hidden: Any, name: str = "hidden") -> tuple[int, ...]:
    """Require hidden-layer widths: an int >= 1 (one layer) or a sequence of them; return a tuple."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, (bool, np.bool_)):
        return (check_positive_int(hidden, name),)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (Sequence, np.ndarray)):
        raise ValueError(f"{name}: expected an int or a sequence of ints (layer widths), got {hidden!r}")
    return tuple(check_positive_int(h, name) for h in hidden)


def check_seeds(seeds: Any, name: str = "seeds") -> list[int]:
    """Require a non-empty list of distinct non-negative integer seeds."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise ValueError(f"{name}: expected a non-empty list of integers, got {seeds!r}")
    for seed in seeds:
        check_seed(seed, name)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{name}: must be distinct, got {list(seeds)}")
    return [int(s) for s in seeds]


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Require one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; choose one of {', '.join(choices)}")
    return value


@dataclass(frozen=True, eq=False)
class Prior:
    """A checked class prior :math:`P(y)`: parse it once with :func:`as_prior`, then pass it inward.

    Attributes
    ----------
    p : numpy.ndarray
        The probabilities, 1-D, non-negative, summing to 1 (read-only).
    """

    p: np.ndarray

    @property
    def log_p(self) -> np.ndarray:
        """:math:`\\log P(y)` in float64 (``-inf`` for a class of zero mass)."""
        with np.errstate(divide="ignore"):
            return np.log(self.p)

    @property
    def entropy(self) -> float:
        """:math:`H(Y) = -\\sum_y P(y) \\log P(y)` in nats (zero-mass classes add nothing)."""
        q = self.p[self.p > 0]
        return float(-(q * np.log(q)).sum())

    def log_tensor(self, like: torch.Tensor) -> torch.Tensor:
        """:math:`\\log P(y)` as a tensor of the dtype and device of ``like`` (the log taken in that
        dtype)."""
        return torch.tensor(self.p, dtype=like.dtype, device=like.device).log()


def as_prior(prior: Any, n_classes: int | None = None, name: str = "prior") -> Prior:
    """Parse ``prior`` (a :class:`Prior`, or anything :func:`check_prior` accepts) into a :class:`Prior`
    with ``n_classes`` entries; a :class:`Prior` is trusted and only its length checked."""
    if isinstance(prior, Prior):
        if n_classes is not None and prior.p.shape[0] != n_classes:
            raise ValueError(f"{name}: expected {n_classes} entries (one per class), got {prior.p.shape[0]}")
        return prior
    p = check_prior(prior, n_classes, name).copy()
    p.setflags(write=False)
    return Prior(p)
