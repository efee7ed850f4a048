"""The core's stated identities as properties: for every logits tensor, label vector and prior that
hypothesis draws (and for every mixture, the estimate from its exact Bayes logits)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pcsm.core.estimators import label_frequencies, mi_from_logits
from pcsm.core.gaussian import GaussianMixture
from pcsm.core.losses import logit_adjusted_cross_entropy, pc_log_softmax, pc_softmax_cross_entropy

FAST = settings(max_examples=60, deadline=None)
finite = st.floats(-60.0, 60.0, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """float64 logits (n, M), labels in [0, M) and a prior with every entry >= 1e-3."""
    n = draw(st.integers(1, 12))
    m = draw(st.integers(2, 8))
    logits = draw(arrays(np.float64, (n, m), elements=finite))
    labels = draw(arrays(np.int64, n, elements=st.integers(0, m - 1)))
    weights = draw(arrays(np.float64, m, elements=st.floats(1e-3, 1.0)))
    return torch.from_numpy(logits), torch.from_numpy(labels), weights / weights.sum()


@FAST
@given(problems(), st.floats(-1e3, 1e3))
def test_pc_softmax_is_invariant_to_a_constant_added_to_every_logit(problem, shift: float) -> None:
    logits, _, prior = problem
    torch.testing.assert_close(pc_log_softmax(logits + shift, prior), pc_log_softmax(logits, prior),
                               rtol=0, atol=1e-9)


@FAST
@given(problems())
def test_uniform_prior_gives_log_softmax_plus_log_m(problem) -> None:
    logits, _, _ = problem
    m = logits.shape[1]
    expected = torch.log_softmax(logits, dim=1) + math.log(m)
    torch.testing.assert_close(pc_log_softmax(logits, np.full(m, 1.0 / m)), expected, rtol=0, atol=1e-10)


@FAST
@given(problems())
def test_pc_cross_entropy_is_logit_adjusted_cross_entropy_plus_log_prior(problem) -> None:
    logits, labels, prior = problem
    pc = pc_softmax_cross_entropy(logits, labels, prior, reduction="none")
    adjusted = logit_adjusted_cross_entropy(logits, labels, prior, tau=1.0, reduction="none")
    torch.testing.assert_close(pc, adjusted + torch.from_numpy(np.log(prior))[labels], rtol=0, atol=1e-9)


@FAST
@given(problems())
def test_every_score_is_at_most_minus_log_prior(problem) -> None:
    """log PC-softmax_y(f) = f_y - log sum P(y') e^{f_y'} <= -log P(y): the bound's per-sample ceiling,
    so the estimate never exceeds H(Y) of the prior it is scored with."""
    logits, labels, prior = problem
    scores = pc_log_softmax(logits, prior).gather(1, labels[:, None]).squeeze(1)
    ceiling = -torch.from_numpy(np.log(prior))[labels]
    assert torch.all(scores <= ceiling + 1e-12), (scores - ceiling).max()
    frequencies = label_frequencies(labels, logits.shape[1])
    present = frequencies[frequencies > 0]
    assert mi_from_logits(logits, labels) <= -(present * np.log(present)).sum() + 1e-12


@st.composite
def mixtures(draw: st.DrawFn) -> GaussianMixture:
    """One-dimensional mixtures of 2 to 4 unit-variance components (quadrature truth, exact to ~1e-8)."""
    m = draw(st.integers(2, 4))
    means = draw(arrays(np.float64, (m, 1), elements=st.floats(-4.0, 4.0)))
    weights = draw(arrays(np.float64, m, elements=st.floats(0.05, 1.0)))
    return GaussianMixture(means, priors=weights / weights.sum())


@settings(max_examples=25, deadline=None, derandomize=True)
@given(mixtures(), st.integers(0, 2**31 - 1))
def test_estimate_from_exact_bayes_logits_is_within_its_standard_error_of_the_truth(mixture, seed) -> None:
    """The bound is tight at the Bayes logits log p(x|y): the mean score is an unbiased estimate of
    I(X;Y), off by at most 4 standard errors (derandomized draws, so the outcome is reproducible)."""
    x, y = mixture.sample(4000, seed=seed)
    logits = torch.from_numpy(mixture.log_likelihoods(x))
    scores = pc_log_softmax(logits, mixture.priors).gather(1, torch.from_numpy(y)[:, None]).squeeze(1).numpy()
    estimate = mi_from_logits(logits, y, prior=mixture.priors)
    assert math.isclose(estimate, scores.mean(), abs_tol=1e-12)
    se = scores.std(ddof=1) / math.sqrt(len(scores))
    truth = mixture.mutual_information().value
    assert abs(estimate - truth) <= 4 * se + 1e-6, (estimate, truth, se)
