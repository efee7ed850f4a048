"""Input validation shared by the pcsm modules.

Every check raises :class:`ValueError` (:class:`TypeError` for a value of the wrong kind where a bool,
a tensor or a mixture belongs) whose message starts with the name of the offending argument, so a
notebook that fails on bad parameters says which one. Every range check of the core library lives here.

A public function declares the constraint of each parameter once, with :func:`validate_params`: a
check ``check(value, name=...)`` that returns the parsed value (a tensor, a :class:`Prior`, an int) or
raises. The decorator runs them before the body, which receives the parsed values and checks only what
relates one parameter to another (labels within the logits' classes, one label per row).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

PRIOR_ATOL = 1e-6
MAX_SEED = 2**63 - 1
MAX_EXACT_FLOAT_LABEL = 2**53


Check = Callable[..., Any]


def validate_params(**constraints: Check) -> Callable[[Callable], Callable]:
    """Declare the constraint of each named parameter once; the decorated function checks them on entry.

    Each constraint is called as ``check(value, name=parameter)`` on the value passed, or on the default
    (so a default such as ``device="auto"`` is parsed too), and what it returns, the parsed argument,
    replaces the value. The constraints stay readable as the function's ``constraints`` mapping (the
    tests draw a bad value for each).
    """

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)
        unknown = sorted(set(constraints) - set(signature.parameters))
        if unknown:
            raise TypeError(f"validate_params: {function.__qualname__} has no parameter(s) {unknown}")

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, check in constraints.items():
                bound.arguments[name] = check(bound.arguments[name], name=name)
            return function(*bound.args, **bound.kwargs)

        checked.constraints = MappingProxyType(dict(constraints))
        return checked

    return decorate


def optional(check: Check) -> Check:
    """The constraint ``check``, or ``None``."""

    def check_or_none(value: Any, name: str) -> Any:
        return None if value is None else check(value, name=name)

    return check_or_none


def _real_array(value: Any, name: str) -> np.ndarray:
    """``value`` (array, sequence or pandas object) as a float64 numpy array. Complex numbers and text
    are refused by name; pandas' missing values (``pd.NA``, ``None``) become NaN."""
    try:
        raw = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, got {type(value).__name__} ({error})") from error
    objects = raw.flat if raw.dtype.kind == "O" else ()
    if raw.dtype.kind == "c" or any(isinstance(v, complex) for v in objects):
        raise ValueError(f"{name}: must be real, got complex values")
    if raw.dtype.kind not in "biufO" or any(isinstance(v, (str, bytes)) for v in objects):
        raise ValueError(f"{name}: expected numbers, got {type(value).__name__} of dtype {raw.dtype}")
    try:
        if hasattr(value, "to_numpy"):
            return np.array(value.to_numpy(dtype=np.float64, na_value=np.nan))
        return raw.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected numbers, got {type(value).__name__} ({error})") from error


def as_float_tensor(value: Any, name: str) -> torch.Tensor:
    """Return ``value`` (tensor, array, sequence or pandas object) as a floating-point tensor.

    A tensor is returned as it is (autograd intact) when floating; pandas' missing values (``pd.NA``,
    ``None``) become NaN. Complex values are refused (their imaginary part would be dropped), and so
    is text.
    """
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{name}: must be real, got a complex tensor")
        return value if value.is_floating_point() else value.double()
    return torch.from_numpy(np.ascontiguousarray(_real_array(value, name)))


def as_float_array(value: Any, name: str) -> np.ndarray:
    """``value`` (array, sequence, pandas object or tensor, gradient dropped) as a finite float64 numpy
    array; NaN, missing and infinite values are refused by name."""
    array = as_float_tensor(value, name).detach().cpu().double().numpy()
    check_finite(array, name)
    return array


def check_finite(values: np.ndarray | torch.Tensor, name: str) -> None:
    """Refuse NaN, missing or infinite values of an array or tensor, by name."""
    finite = torch.isfinite(values).all() if isinstance(values, torch.Tensor) else np.isfinite(values).all()
    if not finite:
        raise ValueError(f"{name}: contains NaN, missing or infinite values")


def check_tensor(value: Any, name: str) -> torch.Tensor:
    """Require a :class:`torch.Tensor` (a :class:`TypeError` for anything else)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def as_label_tensor(value: Any, name: str, n_classes: int) -> torch.Tensor:
    """Return integer labels in ``[0, n_classes)`` as a 1-D ``int64`` tensor."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{name}: labels must be integers, got a complex tensor")
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


def check_logits(logits: Any, name: str = "logits") -> torch.Tensor:
    """Require finite 2-D (n, M) logits with M >= 2 (anything :func:`as_float_tensor` reads); return them
    as a tensor."""
    logits = as_float_tensor(logits, name)
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


def check_float(value: Any, name: str) -> float:
    """Require a finite real number (Python or numpy float or int; not a bool or a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """Require a real number in the open interval (0, 1) (Python or numpy float or int)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number in (0, 1), got {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name}: must lie in (0, 1), got {value!r}")
    return float(value)


def check_positive_float(value: Any, name: str) -> float:
    """Require a finite real number > 0."""
    if check_float(value, name) <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value}")
    return float(value)


def check_prior_covers(prior: np.ndarray, labels: torch.Tensor, name: str = "prior") -> np.ndarray:
    """Require ``prior`` (already a probability vector) to give mass to every class present in ``labels``."""
    present = np.unique(labels.cpu().numpy())
    zero = [int(k) for k in present if prior[k] <= 0]
    if zero:
        raise ValueError(f"{name}: zero probability for class(es) {zero} present in the labels")
    return prior


def _is_labelled(prior: Any) -> bool:
    """Whether ``prior`` names its classes: a mapping, or a one-dimensional pandas object (a Series)."""
    labelled = hasattr(prior, "index") and hasattr(prior, "to_numpy") and getattr(prior, "ndim", 0) == 1
    return isinstance(prior, Mapping) or labelled


def _by_label(prior: Any, n_classes: int | None, name: str) -> np.ndarray:
    """The probabilities of a prior indexed by label (a pandas Series or a mapping label -> probability),
    as a vector whose entry k is the probability of label k; labels it leaves out get 0."""
    mapping = isinstance(prior, Mapping)
    labels = np.asarray(list(prior.keys()) if mapping else prior.index)
    values = _real_array(list(prior.values()) if mapping else prior, name)
    if labels.size == 0 or labels.dtype.kind not in "iu" or labels.min() < 0:
        raise ValueError(f"{name}: indexed by label, the labels must be integers >= 0, got {labels.tolist()}")
    if np.unique(labels).size != labels.size:
        raise ValueError(f"{name}: indexed by label, a label occurs twice: {labels.tolist()}")
    size = int(labels.max()) + 1 if n_classes is None else n_classes
    if labels.max() >= size:
        raise ValueError(f"{name}: label {int(labels.max())} lies outside the {size} classes 0..{size - 1}")
    p = np.zeros(size)
    p[labels] = values
    return p


def check_prior(prior: Any, n_classes: int | None = None, name: str = "prior") -> np.ndarray:
    """Require a probability vector: 1-D, non-negative, summing to 1 (and of length ``n_classes``).

    A pandas Series (or a mapping) is read by label, not by position: its index holds the class labels
    (distinct integers in [0, ``n_classes``)) and a label it leaves out gets probability 0.
    """
    if isinstance(prior, torch.Tensor):
        prior = prior.detach().cpu()
    p = _by_label(prior, n_classes, name) if _is_labelled(prior) else _real_array(prior, name)
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
