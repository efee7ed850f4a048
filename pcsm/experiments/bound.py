"""The derivation chapter's computations (01-bound): the prior-mismatch identity, imperfect classifiers,
the balanced formula's bias against imbalance, PC-softmax beside Donsker-Varadhan, and the Bayes rule
for average per-class accuracy. Everything works on exact log-likelihoods of a Gaussian mixture.

The identity: for logits f, a prior pi in the normaliser and q_pi(y|x) = pi(y) e^{f_y} / sum pi e^{f},

    E[log e^{f_y} / sum_y' pi(y') e^{f_y'}] = I(X;Y) - E_x KL(p(.|x) || q_pi(.|x)) + KL(P || pi).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from pcsm.core._checks import check_positive_int, check_prior
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.experiments.gaussian_mi import line_mi, line_projection, zipf_prior


def check_config(n_samples: int, seed: int) -> None:
    """Check the derivation page's parameters (a ValueError names the bad one) before any sampling."""
    check_positive_int(n_samples, "n_samples", minimum=1000)
    check_positive_int(seed, "seed", minimum=0)


def _log_pi(pi: Any, n_classes: int) -> np.ndarray:
    return np.log(check_prior(pi, n_classes, "pi"))


def normalised_scores(logits: np.ndarray, pi: Any) -> np.ndarray:
    """log e^{f_y} / sum_y' pi(y') e^{f_y'} for every class: shape (n, M)."""
    f = np.asarray(logits, dtype=np.float64)
    return f - logsumexp(f + _log_pi(pi, f.shape[1]), axis=1, keepdims=True)


def prior_mismatch(g: GaussianMixture, x: np.ndarray, y: np.ndarray, logits: np.ndarray, pi: Any,
                   mi: float) -> dict[str, float]:
    """Both sides of the prior-mismatch identity on a sample, each with its standard error.

    ``lhs``: the sample mean of log e^{f_y} / sum pi e^{f}. ``rhs``: ``mi`` - E_x KL(p || q_pi) +
    KL(P || pi), the expected KL computed with the exact posteriors (Rao-Blackwellised over y), so the
    two sides share no term and their agreement is a statistical check, not an algebraic one.
    """
    log_pi = _log_pi(pi, g.n_classes)
    lhs_terms = normalised_scores(logits, pi)[np.arange(len(y)), y]
    log_post = g.log_posteriors(x)
    log_q = normalised_scores(logits, pi) + log_pi
    kl = (np.exp(log_post) * (log_post - log_q)).sum(axis=1)
    prior_kl = float(np.sum(g.priors * (np.log(g.priors) - log_pi)))
    n = len(y)
    return {"lhs": float(lhs_terms.mean()), "lhs_se": float(lhs_terms.std(ddof=1) / np.sqrt(n)),
            "expected_kl": float(kl.mean()), "prior_kl": prior_kl,
            "rhs": mi - float(kl.mean()) + prior_kl, "rhs_se": float(kl.std(ddof=1) / np.sqrt(n))}


def _noise(n: int, n_classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, n_classes))


def noisy_logits(g: GaussianMixture, x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """An imperfect softmax classifier's logits: log p(y|x) + sigma * N(0, 1) noise per class."""
    if not sigma >= 0:
        raise ValueError(f"sigma: must be >= 0, got {sigma}")
    return g.log_posteriors(x) + sigma * _noise(len(x), g.n_classes, seed)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of argmax_y logits equal to the label."""
    return float((np.asarray(logits).argmax(axis=1) == y).mean())


def sigma_for_accuracy(g: GaussianMixture, x: np.ndarray, y: np.ndarray, target: float, seed: int,
                       steps: int = 40) -> float:
    """Noise level at which :func:`noisy_logits` (same ``seed``) reaches accuracy ``target``
    (bisection on [0, 50]; accuracy falls as the noise grows)."""
    if not 0 < target < 1:
        raise ValueError(f"target: must lie in (0, 1), got {target}")
    log_post, noise = g.log_posteriors(x), _noise(len(x), g.n_classes, seed)
    lo, hi = 0.0, 50.0
    if accuracy(log_post, y) <= target:
        return lo
    for _ in range(check_positive_int(steps, "steps")):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if accuracy(log_post + mid * noise, y) > target else (lo, mid)
    return (lo + hi) / 2


def balanced_formula(logits: np.ndarray, y: np.ndarray) -> float:
    """The balanced formula: mean log softmax_y(f) + log M (the prior-mismatch score with pi uniform)."""
    m = logits.shape[1]
    return float(normalised_scores(logits, np.full(m, 1 / m))[np.arange(len(y)), y].mean())


def label_entropy(prior: Any) -> float:
    """H(Y) in nats."""
    p = check_prior(prior)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def donsker_varadhan(logits: np.ndarray, y: np.ndarray, prior: Any) -> float:
    """DV bound of the critic T(x, y) = f_y(x): E f_y - log E_x sum_y' P(y') e^{f_y'(x)}."""
    f = np.asarray(logits, dtype=np.float64)
    log_marginal = logsumexp(f + _log_pi(prior, f.shape[1]), axis=1)
    return float(f[np.arange(len(y)), y].mean() - (logsumexp(log_marginal) - np.log(len(y))))


def pc_softmax_bound(logits: np.ndarray, y: np.ndarray, prior: Any) -> float:
    """PC-softmax bound of the same critic: E [f_y - log sum_y' P(y') e^{f_y'}] (>= DV by Jensen)."""
    return float(normalised_scores(logits, prior)[np.arange(len(y)), y].mean())


def average_per_class_accuracy(predicted: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """(1/M) sum_y P(prediction = y | Y = y), every class weighted equally."""
    check_positive_int(n_classes, "n_classes", minimum=2)
    present = [k for k in range(n_classes) if np.any(y == k)]
    return float(np.mean([(predicted[y == k] == k).mean() for k in present]))


def per_class_accuracy_vs_tau(g: GaussianMixture, x: np.ndarray, y: np.ndarray,
                              taus: np.ndarray) -> np.ndarray:
    """Average per-class accuracy of argmax_y log p(x|y) + tau log P(y) for each tau: tau = 1 is the
    usual Bayes (posterior) rule, tau = 0 the likelihood rule argmax p(x|y)."""
    log_lik, log_prior = g.log_likelihoods(x), np.log(g.priors)
    return np.array([average_per_class_accuracy((log_lik + t * log_prior).argmax(axis=1), y, g.n_classes)
                     for t in np.asarray(taus, dtype=np.float64)])


def zipf_sweep(exponents: Any, dim: int, n_samples: int, seed: int, sigma: float = 1.0) -> list[dict]:
    """The balanced formula's error against imbalance: for each Zipf exponent s, the paper's five means
    in R^dim with prior P(y) ~ (y + 1)^-s; rows hold log M - H(Y) and the balanced formula's error
    (estimate - I, I by quadrature) for the exact posterior and for a noisy one (:func:`noisy_logits`)."""
    means = paper_mixture(dim, balanced=True).means
    rows = []
    for k, s in enumerate(np.asarray(exponents, dtype=np.float64)):
        g = GaussianMixture(means, priors=zipf_prior(len(means), float(s)))
        mi = line_mi(line_projection(g), g.priors)[0]
        x, y = g.sample(check_positive_int(n_samples, "n_samples"), seed=seed + k)
        rows.append({"exponent": float(s), "log_m_minus_h": float(np.log(g.n_classes)) - g.label_entropy(),
                     "mi": mi, "bayes_error": balanced_formula(g.log_posteriors(x), y) - mi,
                     "noisy_error": balanced_formula(noisy_logits(g, x, sigma, seed + k), y) - mi})
    return rows

