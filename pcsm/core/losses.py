"""Softmax and PC-softmax losses.

PC-softmax (probability-corrected softmax) divides by the prior-weighted partition function:

.. math::

    \\mathrm{PC\\text{-}softmax}_y(f) = \\frac{e^{f_y}}{\\sum_{y'} P(y') e^{f_{y'}}}.

With a uniform prior :math:`P(y') = 1/M` it equals :math:`M \\cdot \\mathrm{softmax}_y(f)`, so
log PC-softmax = log softmax + log M. :func:`pc_log_softmax` is the one place that normalises; the
cross-entropy and the training loss of :func:`make_loss` call it. Every formula shifts each row of
logits by its maximum before exponentiating, so logits of any finite size keep the prior's share (logits
of 1e30 would otherwise round :math:`f + \\log P(y)` to :math:`f`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F

from pcsm.core._checks import (
    Prior,
    as_label_tensor,
    as_prior,
    check_choice,
    check_float,
    check_label_count,
    check_logits,
    check_prior_covers,
    optional,
    validate_params,
)

LOSSES = ("softmax", "pc-softmax")
REDUCTIONS = ("mean", "sum", "none")
check_reduction = partial(check_choice, choices=REDUCTIONS)


def log_prior_tensor(prior: Any, logits: torch.Tensor) -> torch.Tensor:
    """Checked :math:`\\log P(y)` as a tensor on the device and dtype of ``logits``."""
    return as_prior(prior, logits.shape[-1]).log_tensor(logits)


def _shifted(logits: torch.Tensor) -> torch.Tensor:
    """Each row of ``logits`` minus its maximum (a constant per row, so no gradient flows through it)."""
    return logits - logits.detach().amax(dim=1, keepdim=True)


def _checked_labels(logits: torch.Tensor, labels: Any, prior: Any, reduction: str) -> torch.Tensor:
    """``labels`` as int64 on the logits' device: one per row of ``logits``, in [0, M), each of a class
    ``prior`` gives mass; no rows are refused when their mean is asked for (it would be NaN)."""
    y = as_label_tensor(labels, "labels", logits.shape[1])
    check_label_count(y, logits.shape[0], "labels", "row of logits")
    if reduction == "mean" and y.numel() == 0:
        raise ValueError("logits: no rows to average (reduction='mean' needs n >= 1)")
    check_prior_covers(as_prior(prior, logits.shape[1]).p, y)
    return y.to(logits.device)


@validate_params(logits=check_logits, prior=as_prior)
def pc_log_softmax(logits: Any, prior: Any) -> torch.Tensor:
    """log PC-softmax of every class: :math:`f_y - \\log \\sum_{y'} P(y') e^{f_{y'}}`.

    Parameters
    ----------
    logits : tensor, array or nested list, shape (n, M)
        Finite logits :math:`f`. Floating-point tensors keep their dtype (and autograd); integer
        tensors, arrays and lists become float64.
    prior : Prior or sequence of M probabilities
        The class prior :math:`P(y)`.

    Returns
    -------
    torch.Tensor, shape (n, M)
        :math:`\\log \\mathrm{PC\\text{-}softmax}_y(f)` for every class y.
    """
    return _pc_log_softmax(logits, log_prior_tensor(prior, logits))


def _pc_log_softmax(logits: torch.Tensor, log_prior: torch.Tensor) -> torch.Tensor:
    """:math:`f_y - \\log \\sum_{y'} P(y') e^{f_{y'}}` on trusted inputs (the training loop's criterion
    calls it on every batch; the loop itself refuses non-finite outputs, naming the learning rate)."""
    shifted = _shifted(logits)
    return shifted - torch.logsumexp(shifted + log_prior, dim=1, keepdim=True)


@validate_params(logits=check_logits, prior=as_prior, reduction=check_reduction)
def pc_softmax_cross_entropy(
    logits: torch.Tensor, labels: Any, prior: Any, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy with PC-softmax, :math:`-\\log \\mathrm{PC\\text{-}softmax}_y(f)`.

    Parameters
    ----------
    logits : tensor or array, shape (n, M)
        Logits :math:`f`.
    labels : tensor or array, shape (n,)
        Integer labels in [0, M), each of a class with prior mass (n >= 1 for the mean).
    prior : Prior or sequence of M probabilities
        The class prior :math:`P(y)`.
    reduction : {"mean", "sum", "none"}
        How the per-sample losses are combined.

    Returns
    -------
    torch.Tensor
        The mean (or sum) loss, or the (n,) per-sample losses for ``reduction="none"``.
    """
    labels = _checked_labels(logits, labels, prior, reduction)
    return F.nll_loss(pc_log_softmax(logits, prior), labels, reduction=reduction)


@validate_params(logits=check_logits, prior=as_prior, tau=check_float, reduction=check_reduction)
def logit_adjusted_cross_entropy(
    logits: torch.Tensor, labels: Any, prior: Any, tau: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Logit-adjusted loss of Menon et al. (2021): softmax cross-entropy of :math:`f + \\tau \\log P(y)`.

    For :math:`\\tau = 1` it equals :func:`pc_softmax_cross_entropy` minus the label-only constant
    :math:`-\\log P(y)`, so both losses have the same gradients with respect to the logits.

    Parameters
    ----------
    logits : tensor or array, shape (n, M)
        Logits :math:`f`.
    labels : tensor or array, shape (n,)
        Integer labels in [0, M), each of a class with prior mass (n >= 1 for the mean).
    prior : Prior or sequence of M probabilities
        The class prior :math:`P(y)`.
    tau : float
        Scale :math:`\\tau` of the adjustment, a finite number (0: plain softmax cross-entropy; not
        negative when the prior gives a class no mass).
    reduction : {"mean", "sum", "none"}
        How the per-sample losses are combined.

    Returns
    -------
    torch.Tensor
        The mean (or sum) loss, or the (n,) per-sample losses.
    """
    labels = _checked_labels(logits, labels, prior, reduction)
    if tau == 0:  # no adjustment; 0 * log 0 would be NaN for a class of zero prior
        return F.cross_entropy(_shifted(logits), labels, reduction=reduction)
    if tau < 0 and min(prior.p) == 0:
        raise ValueError("tau: must be >= 0 when the prior gives a class no mass (its adjusted logit "
                         f"would be +inf); got {tau}")
    adjusted = _shifted(logits) + tau * log_prior_tensor(prior, logits)
    return F.cross_entropy(adjusted, labels, reduction=reduction)


@validate_params(loss=partial(check_choice, choices=LOSSES), prior=optional(as_prior))
def make_loss(loss: str, prior: Any = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean training loss by name, a function of (logits, labels).

    Parameters
    ----------
    loss : {"softmax", "pc-softmax"}
        Plain softmax cross-entropy, or PC-softmax cross-entropy
        :math:`-\\log\\, e^{f_y} / \\sum_{y'} P(y') e^{f_{y'}}` (through :func:`pc_log_softmax`).
    prior : Prior or sequence of probabilities, optional
        The class prior :math:`P(y)`; required for "pc-softmax". Checked once here, so the returned
        function is cheap to call on every batch.

    Returns
    -------
    callable
        ``criterion(logits, labels) -> mean loss``.
    """
    if loss == "softmax":
        return F.cross_entropy
    if prior is None:
        raise ValueError("prior: required for loss='pc-softmax'")
    checked: Prior = prior

    def pc_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.nll_loss(_pc_log_softmax(logits, checked.log_tensor(logits)), labels)

    return pc_loss


@validate_params(logits=check_logits, prior=as_prior)
def posthoc_corrected_logits(logits: torch.Tensor, prior: Any) -> torch.Tensor:
    """:math:`f - \\log P(y)`: turns a softmax-trained classifier (logits :math:`\\approx \\log p(y|x)`)
    into PC-softmax logits (:math:`\\approx \\log p(x|y)`), the same correction PC-softmax training
    applies, here at test time.

    Parameters
    ----------
    logits : tensor or array, shape (n, M)
        Logits of a softmax-trained classifier.
    prior : Prior or sequence of M probabilities
        The training class prior :math:`P(y)`.

    Returns
    -------
    torch.Tensor, shape (n, M)
        The corrected logits.
    """
    return logits - log_prior_tensor(prior, logits)
