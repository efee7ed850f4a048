r"""Mutual information read off a classifier's logits.

For any logits :math:`f(x, \cdot)` the variational bound of the paper gives

.. math::

    I(X;Y) \ge E_{(x,y)}\left[\log \mathrm{PC\text{-}softmax}_y(f(x))\right], \qquad
    \mathrm{PC\text{-}softmax}_y(f) = \frac{e^{f_y}}{\sum_{y'} P(y') e^{f_{y'}}},

and with balanced classes this is :math:`E[\log \mathrm{softmax}_y(f(x))] + \log M`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import torch

from pcsm.core._checks import (
    as_label_tensor,
    as_prior,
    check_choice,
    check_label_count,
    check_logits,
    check_positive_int,
    check_prior_covers,
    optional,
    validate_params,
)
from pcsm.core.losses import pc_log_softmax

MI_METHODS = ("pc-softmax", "softmax")
check_method = partial(check_choice, choices=MI_METHODS)


@validate_params(n_classes=check_positive_int)
def label_frequencies(labels: Any, n_classes: int) -> np.ndarray:
    """Empirical class prior: the fraction of each of ``n_classes`` labels.

    Parameters
    ----------
    labels : array-like, shape (n,)
        Integer labels in [0, ``n_classes``), n >= 1.
    n_classes : int
        Number of classes M.

    Returns
    -------
    numpy.ndarray, shape (M,)
        :math:`\\hat P(y) = \\#\\{i: y_i = y\\} / n`.
    """
    y = as_label_tensor(labels, "labels", n_classes)
    if y.numel() == 0:
        raise ValueError("labels: empty")
    return np.bincount(y.numpy(), minlength=n_classes) / y.numel()


@validate_params(logits=check_logits, prior=optional(as_prior), method=check_method)
def mi_from_logits(
    logits: Any, labels: Any, prior: Any = None, method: str = "pc-softmax"
) -> float:
    """Lower-bound estimate of :math:`I(X;Y)` in nats from logits and labels.

    Parameters
    ----------
    logits : array-like, shape (n, M)
        Finite logits :math:`f(x_i, \\cdot)`.
    labels : array-like, shape (n,)
        Integer labels in [0, M).
    prior : Prior or sequence of M probabilities, optional
        :math:`P(y)` for "pc-softmax", with mass on every class in ``labels``; default: the label
        frequencies.
    method : {"pc-softmax", "softmax"}
        "pc-softmax": the mean of :math:`\\log \\mathrm{PC\\text{-}softmax}_{y_i} f(x_i)`.
        "softmax": the mean of :math:`\\log \\mathrm{softmax}_{y_i} f(x_i) + \\log M`, the formula
        that assumes balanced classes.

    Returns
    -------
    float
        The estimate in nats.
    """
    f = logits.detach().cpu().double()
    n, m = f.shape
    y = as_label_tensor(labels, "labels", m).cpu()
    check_label_count(y, n, "labels", "row of logits")
    if n == 0:
        raise ValueError("logits: no samples")
    if method == "softmax":
        log_q = torch.log_softmax(f, dim=1) + math.log(m)
    else:
        p = as_prior(label_frequencies(y, m)) if prior is None else as_prior(prior, m)
        check_prior_covers(p.p, y)
        log_q = pc_log_softmax(f, p)
    return float(log_q.gather(1, y[:, None]).mean())
