"""Gaussian mixtures with known mutual information between the sample x and its component label y.

    p(x, y) = P(y) N(x; mu_y, Sigma_y),     I(X;Y) = E_x [ sum_y p(y|x) log(p(y|x) / P(y)) ].

The log-likelihoods log p(x|y) are the Bayes-optimal logits for PC-softmax: plugged into
``mi_from_logits(..., method="pc-softmax")`` with the true prior they make the bound tight.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.integrate import quad
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from scipy.stats import norm

from pcsm.core._checks import check_positive_int, check_prior

CHUNK = 100_000


class GaussianMixture:
    """Mixture of M Gaussians in R^d with class prior ``priors`` (uniform by default).

    ``means`` has shape (M, d); ``covariances`` has shape (M, d, d) and defaults to identities. A class
    with prior 0 is never sampled and has posterior 0 everywhere (it adds nothing to I or H).
    """

    def __init__(self, means: Any, covariances: Any = None, priors: Any = None) -> None:
        mu = np.asarray(means, dtype=np.float64)
        if mu.ndim != 2 or mu.shape[0] < 2 or mu.shape[1] < 1:
            raise ValueError(f"means: expected shape (M, d) with M >= 2 and d >= 1, got {mu.shape}")
        if not np.all(np.isfinite(mu)):
            raise ValueError("means: contains NaN or infinite values")
        m, d = mu.shape
        if covariances is None:
            cov = np.broadcast_to(np.eye(d), (m, d, d)).copy()
        else:
            cov = np.asarray(covariances, dtype=np.float64)
            if cov.shape != (m, d, d):
                raise ValueError(f"covariances: expected shape {(m, d, d)}, got {cov.shape}")
            if not np.all(np.isfinite(cov)):
                raise ValueError("covariances: contains NaN or infinite values")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError as error:
            raise ValueError("covariances: every matrix must be symmetric positive definite") from error
        if not np.allclose(cov, np.swapaxes(cov, 1, 2)):
            raise ValueError("covariances: every matrix must be symmetric positive definite")
        self.means = mu
        self.covariances = cov
        self.priors = np.full(m, 1.0 / m) if priors is None else check_prior(priors, m, "priors")
        self._chol = chol
        self._log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)

    @property
    def n_classes(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def label_entropy(self) -> float:
        """H(Y) in nats."""
        p = self.priors[self.priors > 0]
        return float(-(p * np.log(p)).sum())

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw n i.i.d. pairs: labels from the prior, then x | y. Returns x (n, d) and y (n,)."""
        check_positive_int(n, "n")
        rng = np.random.default_rng(seed)
        y = rng.choice(self.n_classes, size=n, p=self.priors)
        return self._sample_given(y, rng), y

    def sample_per_class(self, counts: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw exactly ``counts[k]`` samples of class k (the paper's protocol), in shuffled order."""
        c = np.asarray(counts)
        if c.shape != (self.n_classes,) or not np.issubdtype(c.dtype, np.integer) or np.any(c < 0):
            raise ValueError(f"counts: expected {self.n_classes} non-negative integers, got {counts!r}")
        if c.sum() == 0:
            raise ValueError("counts: must not all be zero")
        rng = np.random.default_rng(seed)
        y = rng.permutation(np.repeat(np.arange(self.n_classes), c))
        return self._sample_given(y, rng), y

    def _sample_given(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((y.shape[0], self.dim))
        return self.means[y] + np.einsum("nij,nj->ni", self._chol[y], z)

    def log_likelihoods(self, x: Any) -> np.ndarray:
        """log p(x|y) for every class: shape (n, M). These are the Bayes-optimal PC-softmax logits."""
        xs = np.asarray(x, dtype=np.float64)
        if xs.ndim == 1 and self.dim == 1:
            xs = xs[:, None]
        if xs.ndim != 2 or xs.shape[1] != self.dim:
            raise ValueError(f"x: expected shape (n, {self.dim}), got {xs.shape}")
        out = np.empty((xs.shape[0], self.n_classes))
        for k in range(self.n_classes):
            diff = (xs - self.means[k]).T
            maha = (solve_triangular(self._chol[k], diff, lower=True) ** 2).sum(axis=0)
            out[:, k] = -0.5 * (self.dim * np.log(2 * np.pi) + self._log_det[k] + maha)
        return out

    def log_posteriors(self, x: Any) -> np.ndarray:
        """log p(y|x) = log P(y) + log p(x|y) - log p(x): shape (n, M); -inf for a class of prior 0."""
        with np.errstate(divide="ignore"):
            joint = self.log_likelihoods(x) + np.log(self.priors)
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def _rao_blackwell(self, n_samples: int, seed: int, statistic) -> tuple[float, float]:
        """Monte Carlo mean and standard error of statistic(log p(y|x)) over x ~ p(x), in chunks."""
        check_positive_int(n_samples, "n_samples", minimum=2)
        values = np.empty(n_samples)
        rng = np.random.default_rng(seed)
        for start in range(0, n_samples, CHUNK):
            stop = min(start + CHUNK, n_samples)
            y = rng.choice(self.n_classes, size=stop - start, p=self.priors)
            values[start:stop] = statistic(self.log_posteriors(self._sample_given(y, rng)))
        return float(values.mean()), float(values.std(ddof=1) / np.sqrt(n_samples))

    def mutual_information(self, n_samples: int = 1_000_000, seed: int = 0) -> tuple[float, float]:
        """I(X;Y) in nats and its Monte Carlo standard error.

        Rao-Blackwellised estimator: I = E_x sum_y p(y|x) (log p(y|x) - log P(y)), with exact posteriors.
        """
        with np.errstate(divide="ignore"):
            log_prior = np.where(self.priors > 0, np.log(self.priors), 0.0)

        def pointwise(log_post: np.ndarray) -> np.ndarray:
            ratio = np.where(self.priors > 0, log_post - log_prior, 0.0)
            return (np.exp(log_post) * ratio).sum(axis=1)

        return self._rao_blackwell(n_samples, seed, pointwise)

    def quadrature_mutual_information(self) -> float:
        """I(X;Y) of a 1-D mixture by adaptive quadrature of sum_y P(y) p(x|y) log(p(x|y) / p(x)) dx,
        over mean +- 12 sd (the tails beyond add under 1e-30)."""
        if self.dim != 1:
            raise ValueError(f"dim: quadrature needs a 1-D mixture, got d = {self.dim}")
        means, sds = self.means[:, 0], np.sqrt(self.covariances[:, 0, 0])
        keep = self.priors > 0

        def integrand(x: float) -> float:
            log_lik = norm.logpdf(x, means[keep], sds[keep])
            log_px = logsumexp(log_lik, b=self.priors[keep])
            return float((self.priors[keep] * np.exp(log_lik) * (log_lik - log_px)).sum())

        lo, hi = (means - 12 * sds).min(), (means + 12 * sds).max()
        return float(quad(integrand, lo, hi, limit=400, points=list(np.unique(means)))[0])

    def bayes_accuracy(self, n_samples: int = 1_000_000, seed: int = 0) -> float:
        """Accuracy of the Bayes classifier argmax_y p(y|x): E_x max_y p(y|x)."""
        return self._rao_blackwell(n_samples, seed, lambda lp: np.exp(lp.max(axis=1)))[0]


PAPER_OFFSETS = (0.0, 2.0, -2.0, 4.0, -4.0)
PAPER_IMBALANCED_WEIGHTS = (1, 2, 3, 4, 5)


def paper_mixture(dim: int, balanced: bool) -> GaussianMixture:
    """The authors' released setting: M = 5, identity covariances, means 0, +-2*1, +-4*1 in R^dim.

    Imbalanced priors are 1:2:3:4:5 in that class order; balanced priors are uniform.
    """
    check_positive_int(dim, "dim")
    means = np.outer(PAPER_OFFSETS, np.ones(dim))
    weights = np.ones(len(PAPER_OFFSETS)) if balanced else np.asarray(PAPER_IMBALANCED_WEIGHTS, float)
    return GaussianMixture(means, priors=weights / weights.sum())
