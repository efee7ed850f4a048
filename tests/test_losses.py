import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pcsm.core.losses import (
    logit_adjusted_cross_entropy,
    make_loss,
    pc_log_softmax,
    pc_softmax_cross_entropy,
    posthoc_corrected_logits,
)

PRIOR = np.array([1, 2, 3, 4, 5]) / 15


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 5, (64,), generator=g)
    return logits, labels


def test_pc_log_softmax_matches_definition(batch):
    logits, _ = batch
    expected = torch.log(logits.exp() / (logits.exp() * torch.from_numpy(PRIOR)).sum(1, keepdim=True))
    torch.testing.assert_close(pc_log_softmax(logits, PRIOR), expected)


def test_uniform_prior_is_log_softmax_plus_log_m(batch):
    logits, _ = batch
    torch.testing.assert_close(
        pc_log_softmax(logits, np.full(5, 0.2)), torch.log_softmax(logits, 1) + math.log(5)
    )


def test_pc_log_softmax_is_stable_for_large_logits():
    logits = torch.tensor([[1000.0, 0.0], [-1000.0, 0.0]], dtype=torch.float64)
    out = pc_log_softmax(logits, [0.5, 0.5])
    assert torch.isfinite(out).all()
    assert out[0, 0].item() == pytest.approx(math.log(2))


def test_pc_cross_entropy_is_mean_negative_log_pc_softmax(batch):
    logits, labels = batch
    expected = -pc_log_softmax(logits, PRIOR)[torch.arange(64), labels].mean()
    torch.testing.assert_close(pc_softmax_cross_entropy(logits, labels, PRIOR), expected)


def test_pc_equals_logit_adjusted_up_to_label_constant(batch):
    logits, labels = batch
    logits.requires_grad_(True)
    pc = pc_softmax_cross_entropy(logits, labels, PRIOR, reduction="none")
    la = logit_adjusted_cross_entropy(logits, labels, PRIOR, reduction="none")
    torch.testing.assert_close(pc - la, torch.log(torch.from_numpy(PRIOR))[labels])
    (g_pc,) = torch.autograd.grad(pc.mean(), logits)
    (g_la,) = torch.autograd.grad(la.mean(), logits)
    torch.testing.assert_close(g_pc, g_la)


def test_make_loss_matches_functional_losses(batch):
    logits, labels = batch
    torch.testing.assert_close(
        make_loss("pc-softmax", PRIOR)(logits, labels), pc_softmax_cross_entropy(logits, labels, PRIOR)
    )
    torch.testing.assert_close(
        make_loss("softmax")(logits, labels), torch.nn.functional.cross_entropy(logits, labels)
    )


def test_posthoc_correction_subtracts_log_prior(batch):
    logits, _ = batch
    torch.testing.assert_close(
        posthoc_corrected_logits(logits, PRIOR), logits - torch.log(torch.from_numpy(PRIOR))
    )


@pytest.mark.parametrize(
    "prior, message",
    [
        ([0.5, 0.6, 0.0, 0.0, -0.1], "prior: entries must be finite and non-negative"),
        ([0.2, 0.2, 0.2, 0.2, 0.1], "prior: must sum to 1"),
        ([0.5, 0.5], "prior: expected 5 entries"),
        ([[0.2] * 5], "prior: expected a 1-D vector"),
    ],
)
def test_bad_prior_is_refused_by_name(batch, prior, message):
    logits, labels = batch
    with pytest.raises(ValueError, match=message):
        pc_softmax_cross_entropy(logits, labels, prior)


def test_bad_shapes_and_labels_are_refused(batch):
    logits, labels = batch
    with pytest.raises(ValueError, match="logits: expected shape"):
        pc_log_softmax(logits[0], PRIOR)
    with pytest.raises(ValueError, match=r"labels: labels must lie in \[0, 5\)"):
        pc_softmax_cross_entropy(logits, labels + 5, PRIOR)
    with pytest.raises(ValueError, match="labels: expected 64 labels"):
        pc_softmax_cross_entropy(logits, labels[:10], PRIOR)
    with pytest.raises(ValueError, match="loss: unknown value 'hinge'"):
        make_loss("hinge")
    with pytest.raises(ValueError, match="prior: required"):
        make_loss("pc-softmax")


def test_logit_adjustment_with_a_zero_prior_class_is_finite_or_refused_naming_tau():
    """A class of zero prior that no label takes: tau = 0 is plain softmax cross-entropy (0 * log 0 was
    NaN), tau > 0 never predicts that class, and tau < 0 (an infinite logit) is refused naming tau."""
    logits = torch.tensor([[0.3, -0.2, 1.0], [0.1, 0.4, -0.5]])
    labels = torch.tensor([0, 1])
    prior = [0.5, 0.5, 0.0]
    assert torch.equal(logit_adjusted_cross_entropy(logits, labels, prior, tau=0.0),
                       F.cross_entropy(logits, labels))
    assert torch.isfinite(logit_adjusted_cross_entropy(logits, labels, prior, tau=1.0))
    with pytest.raises(ValueError, match="^tau: must be >= 0"):
        logit_adjusted_cross_entropy(logits, labels, prior, tau=-0.5)
