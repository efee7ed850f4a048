"""Mutual information read off a classifier's logits.

For any logits f(x, .) the variational bound of the paper gives

    I(X;Y) >= E_{(x,y)} [ log PC-softmax_y(f(x)) ],      PC-softmax_y(f) = e^{f_y} / sum_y' P(y') e^{f_y'},

and with balanced classes this is E[log softmax_y(f(x))] + log M.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from pcsm.core._checks import as_float_tensor, as_label_tensor, check_choice, check_logits
from pcsm.core.losses import pc_log_softmax

MI_METHODS = ("pc-softmax", "softmax")


def label_frequencies(labels: Any, n_classes: int) -> np.ndarray:
    """Empirical class prior: the fraction of each of ``n_classes`` labels."""
    y = as_label_tensor(labels, "labels", n_classes)
    if y.numel() == 0:
        raise ValueError("labels: empty")
    return np.bincount(y.numpy(), minlength=n_classes) / y.numel()


def mi_from_logits(
    logits: Any, labels: Any, prior: Any = None, method: str = "pc-softmax"
) -> float:
    """Lower-bound estimate of I(X;Y) in nats from logits (n, M) and labels (n,).

    ``method="pc-softmax"``: mean of log PC-softmax_y with ``prior`` (default: the label frequencies).
    ``method="softmax"``: mean of log softmax_y + log M, the formula that assumes balanced classes.
    """
    check_choice(method, "method", MI_METHODS)
    f = check_logits(as_float_tensor(logits, "logits").detach().cpu().double())
    n, m = f.shape
    y = as_label_tensor(labels, "labels", m).cpu()
    if y.shape[0] != n:
        raise ValueError(f"labels: expected {n} labels (one per row of logits), got {y.shape[0]}")
    if n == 0:
        raise ValueError("logits: no samples")
    if method == "softmax":
        log_q = torch.log_softmax(f, dim=1) + math.log(m)
    else:
        log_q = pc_log_softmax(f, label_frequencies(y, m) if prior is None else prior)
    return float(log_q.gather(1, y[:, None]).mean())
