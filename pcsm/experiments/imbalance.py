"""Class-imbalanced subsets of a labelled data set, chosen by index.

Two profiles, each set by the largest class size ``n_max`` and the imbalance ratio
``ratio`` = (largest class) / (smallest class):

* ``"step"`` (the paper's MNIST protocol): the odd classes are capped at n_max and the even classes
  at round(n_max / ratio); a class keeps its *first* examples in index order, so the subset is
  deterministic. The authors' "imbalanced" split is n_max = 3000, ratio = 10; "balanced" is ratio 1.
* ``"long-tail"``: class sizes decay exponentially from class 0 to class M-1,

      n_k = round(n_max * ratio^(-k / (M - 1))),      k = 0, ..., M-1,

  and the members of each class are drawn at random with a seed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pcsm.core._checks import as_label_tensor, check_choice, check_positive_int

PROTOCOLS = ("step", "long-tail")


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.number)) or not ratio >= 1:
        raise ValueError(f"ratio: must be a number >= 1, got {ratio!r}")
    return float(ratio)


def step_caps(n_max: int, ratio: float, n_classes: int = 10) -> tuple[int, ...]:
    """Per-class caps of the step profile: round(n_max / ratio) for even classes, n_max for odd ones."""
    check_positive_int(n_max, "n_max")
    check_positive_int(n_classes, "n_classes", minimum=2)
    minor = int(round(n_max / _check_ratio(ratio)))
    if minor < 1:
        raise ValueError(f"ratio: {ratio} leaves the even classes empty with n_max={n_max}")
    return tuple(minor if k % 2 == 0 else n_max for k in range(n_classes))


def cap_per_class(labels: Any, caps: Sequence[int]) -> np.ndarray:
    """Sorted indices keeping the first ``caps[k]`` examples of each class k (all of them when fewer)."""
    caps = list(caps)
    if len(caps) < 2:
        raise ValueError(f"caps: expected one cap per class (at least 2), got {len(caps)}")
    for cap in caps:
        check_positive_int(cap, "caps", minimum=0)
    y = as_label_tensor(labels, "labels", np.iinfo(np.int64).max).cpu().numpy()
    if y.size and y.max() >= len(caps):
        raise ValueError(f"caps: got {len(caps)} caps (one per class) but labels go up to {y.max()}")
    keep = [np.flatnonzero(y == k)[:cap] for k, cap in enumerate(caps)]
    return np.sort(np.concatenate(keep))


def long_tail_prior(n_classes: int, ratio: float) -> np.ndarray:
    """The long-tail class prior P(k) proportional to ratio^(-k / (M - 1)), k = 0..M-1: geometric decay
    from class 0 with largest/smallest = ``ratio`` (uniform at ratio 1)."""
    weights = _long_tail_weights(n_classes, ratio)
    return weights / weights.sum()


def _long_tail_weights(n_classes: int, ratio: float) -> np.ndarray:
    check_positive_int(n_classes, "n_classes", minimum=2)
    return _check_ratio(ratio) ** (-np.arange(n_classes) / (n_classes - 1))


def long_tail_sizes(n_max: int, ratio: float, n_classes: int = 10) -> np.ndarray:
    """Class sizes n_k = round(n_max * ratio^(-k/(M-1))), k = 0..M-1 (n_max times the
    :func:`long_tail_prior` relative to its largest class)."""
    check_positive_int(n_max, "n_max")
    sizes = np.round(n_max * _long_tail_weights(n_classes, ratio)).astype(int)
    if sizes[-1] < 1:
        raise ValueError(f"ratio: {ratio} leaves the smallest class empty with n_max={n_max}")
    return sizes


def long_tail_indices(labels: Any, n_max: int, ratio: float, n_classes: int, seed: int) -> np.ndarray:
    """Sorted indices of a long-tailed subset: ``long_tail_sizes`` examples of each class, drawn without
    replacement with ``seed``; a ValueError when a class has fewer examples than its size."""
    sizes = long_tail_sizes(n_max, ratio, n_classes)
    y = as_label_tensor(labels, "labels", n_classes).cpu().numpy()
    rng = np.random.default_rng(seed)
    keep = []
    for k, size in enumerate(sizes):
        members = np.flatnonzero(y == k)
        if len(members) < size:
            raise ValueError(f"n_max: class {k} has {len(members)} examples, the profile needs {size}")
        keep.append(rng.choice(members, size=size, replace=False))
    return np.sort(np.concatenate(keep))


def protocol_indices(
    labels: Any, protocol: str, ratio: float, n_max: int, n_classes: int = 10, seed: int = 0
) -> np.ndarray:
    """Indices of the subset ``protocol`` ("step" or "long-tail") keeps for ``ratio`` and ``n_max``."""
    check_choice(protocol, "protocol", PROTOCOLS)
    if protocol == "step":
        return cap_per_class(labels, step_caps(n_max, ratio, n_classes))
    return long_tail_indices(labels, n_max, ratio, n_classes, seed)
