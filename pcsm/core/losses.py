"""Softmax and PC-softmax losses.

PC-softmax (probability-corrected softmax) divides by the prior-weighted partition function:

    PC-softmax_y(f) = e^{f_y} / sum_{y'} P(y') e^{f_{y'}}.

With a uniform prior P(y') = 1/M it equals M * softmax_y(f), so log PC-softmax = log softmax + log M.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from pcsm.core._checks import as_float_tensor, as_label_tensor, check_choice, check_logits, check_prior

LOSSES = ("softmax", "pc-softmax")
REDUCTIONS = ("mean", "sum", "none")


def log_prior_tensor(prior: Any, logits: torch.Tensor) -> torch.Tensor:
    """Validated ``log P(y)`` as a tensor on the device and dtype of ``logits``."""
    p = check_prior(prior, logits.shape[-1])
    return torch.as_tensor(p, dtype=logits.dtype, device=logits.device).log()


def pc_log_softmax(logits: torch.Tensor, prior: Any) -> torch.Tensor:
    """log PC-softmax: f_y - logsumexp_{y'}(f_{y'} + log P(y')), for every class y. Shape (n, M).

    Floating-point tensors keep their dtype; integer tensors, arrays and lists become float64.
    """
    logits = check_logits(as_float_tensor(logits, "logits"))
    return logits - torch.logsumexp(logits + log_prior_tensor(prior, logits), dim=1, keepdim=True)


def pc_softmax_cross_entropy(
    logits: torch.Tensor, labels: Any, prior: Any, reduction: str = "mean"
) -> torch.Tensor:
    """Cross-entropy with PC-softmax: -log PC-softmax_y(f), averaged over the batch by default."""
    check_choice(reduction, "reduction", REDUCTIONS)
    logits = as_float_tensor(logits, "logits")
    labels = as_label_tensor(labels, "labels", logits.shape[-1]).to(logits.device)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels: expected {logits.shape[0]} labels, got {labels.shape[0]}")
    return F.nll_loss(pc_log_softmax(logits, prior), labels, reduction=reduction)


def logit_adjusted_cross_entropy(
    logits: torch.Tensor, labels: Any, prior: Any, tau: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """Logit-adjusted loss of Menon et al. (2021): softmax cross-entropy of f + tau * log P(y).

    For tau = 1 it equals ``pc_softmax_cross_entropy`` minus the label-only constant -log P(y), so both
    losses have the same gradients with respect to the logits.
    """
    check_choice(reduction, "reduction", REDUCTIONS)
    logits = check_logits(as_float_tensor(logits, "logits"))
    labels = as_label_tensor(labels, "labels", logits.shape[-1]).to(logits.device)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels: expected {logits.shape[0]} labels, got {labels.shape[0]}")
    return F.cross_entropy(logits + tau * log_prior_tensor(prior, logits), labels, reduction=reduction)


def make_loss(loss: str, prior: Any = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean training loss by name: ``"softmax"`` (plain cross-entropy) or ``"pc-softmax"`` with ``prior``.

    The prior is validated once here, so the returned function is cheap to call on every batch.
    """
    check_choice(loss, "loss", LOSSES)
    if loss == "softmax":
        return F.cross_entropy
    if prior is None:
        raise ValueError("prior: required for loss='pc-softmax'")
    log_p = torch.as_tensor(check_prior(prior), dtype=torch.float32).log()

    def pc_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if log_p.shape[0] != logits.shape[1]:
            raise ValueError(f"prior: expected {logits.shape[1]} entries, got {log_p.shape[0]}")
        shift = log_p.to(device=logits.device, dtype=logits.dtype)
        return F.nll_loss(logits - torch.logsumexp(logits + shift, dim=1, keepdim=True), labels)

    return pc_loss


def posthoc_corrected_logits(logits: torch.Tensor, prior: Any) -> torch.Tensor:
    """f - log P(y): turns a softmax-trained classifier (logits ~ log p(y|x)) into PC-softmax logits
    (~ log p(x|y)), the same correction PC-softmax training applies, here at test time."""
    logits = check_logits(as_float_tensor(logits, "logits"))
    return logits - log_prior_tensor(prior, logits)
