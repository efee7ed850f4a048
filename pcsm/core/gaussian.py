r"""Gaussian mixtures with known mutual information between the sample x and its component label y.

.. math::

    p(x, y) = P(y)\, \mathcal{N}(x; \mu_y, \Sigma_y), \qquad
    I(X;Y) = \mathbb{E}_x \Big[ \sum_y p(y \mid x) \log \frac{p(y \mid x)}{P(y)} \Big].

The log-likelihoods :math:`\log p(x \mid y)` are the Bayes-optimal logits for PC-softmax: plugged into
``mi_from_logits(..., method="pc-softmax")`` with the true prior they make the bound tight.
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any, NamedTuple

import numpy as np
from scipy.integrate import IntegrationWarning, quad
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from scipy.stats import norm

from pcsm.core._checks import (
    as_float_array,
    as_prior,
    check_bool,
    check_choice,
    check_positive_int,
    check_seed,
    optional,
    validate_params,
)

CHUNK = 100_000
QUADRATURE_WINDOW = 12.0  # each component is integrated over its mean +- 12 sd (the tails add < 1e-30)
QUADRATURE_TOLERANCE = 1e-6  # nats: a larger error estimate from the quadrature raises a warning
SQRT_2PI = math.sqrt(2 * math.pi)
# a component over 1 / NARROW times narrower than the one integrated gets break points at its mean plus
# these multiples of its sd
NARROW = 0.05
NARROW_BREAKS = np.array([-12.0, -6.0, -3.0, 0.0, 3.0, 6.0, 12.0])
MC_METHODS = ("auto", "quadrature", "monte-carlo")
ACCURACY_METHODS = ("auto", "monte-carlo")
check_n_samples = partial(check_positive_int, minimum=2)


class MutualInformation(NamedTuple):
    """A ground-truth I(X;Y) in nats and its standard error (0 for quadrature)."""

    #: I(X;Y) in nats.
    value: float
    #: Its Monte Carlo standard error in nats; 0 for quadrature.
    se: float


class GaussianMixture:
    r"""Mixture of M Gaussians in :math:`\mathbb{R}^d`,
    :math:`p(x, y) = P(y)\,\mathcal{N}(x; \mu_y, \Sigma_y)`.

    A class with prior 0 is never sampled and has posterior 0 everywhere (it adds nothing to I or H).

    Parameters
    ----------
    means : array_like, shape (M, d)
        Component means, M >= 2.
    covariances : array_like, shape (M, d, d), optional
        Symmetric positive definite covariances; identities by default.
    priors : array_like, shape (M,), optional
        Class prior P(y); uniform by default. A pandas Series is read by label (its index: 0..M-1).
    """

    @validate_params(means=as_float_array, covariances=optional(as_float_array), priors=optional(as_prior))
    def __init__(self, means: Any, covariances: Any = None, priors: Any = None) -> None:
        mu = means
        if mu.ndim != 2 or mu.shape[0] < 2 or mu.shape[1] < 1:
            raise ValueError(f"means: expected shape (M, d) with M >= 2 and d >= 1, got {mu.shape}")
        m, d = mu.shape
        cov = np.broadcast_to(np.eye(d), (m, d, d)).copy() if covariances is None else covariances
        if cov.shape != (m, d, d):
            raise ValueError(f"covariances: expected shape {(m, d, d)}, got {cov.shape}")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError as error:
            raise ValueError("covariances: every matrix must be symmetric positive definite") from error
        if not np.allclose(cov, np.swapaxes(cov, 1, 2)):
            raise ValueError("covariances: every matrix must be symmetric positive definite")
        self.means = mu
        self.covariances = cov
        self.priors = np.full(m, 1.0 / m) if priors is None else as_prior(priors, m, "priors").p.copy()
        self._chol = chol
        self._log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)

    @property
    def n_classes(self) -> int:
        """The number of components M."""
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        """The dimension d of x."""
        return self.means.shape[1]

    def label_entropy(self) -> float:
        r""":math:`H(Y) = -\sum_y P(y) \log P(y)` in nats."""
        p = self.priors[self.priors > 0]
        return float(-(p * np.log(p)).sum())

    @validate_params(n=check_positive_int, seed=check_seed)
    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw n i.i.d. pairs: labels from the prior, then x | y.

        Parameters
        ----------
        n : int
            Number of samples, >= 1.
        seed : int
            Seed of the numpy generator, in [0, 2**63 - 1].

        Returns
        -------
        x : ndarray, shape (n, d)
        y : ndarray, shape (n,)
        """
        rng = np.random.default_rng(seed)
        y = rng.choice(self.n_classes, size=n, p=self.priors)
        return self._sample_given(y, rng), y

    @validate_params(seed=check_seed)
    def sample_per_class(self, counts: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw exactly ``counts[k]`` samples of class k (the paper's protocol), in shuffled order.

        Parameters
        ----------
        counts : array_like of int, shape (M,)
            Non-negative counts, not all zero.
        seed : int
            Seed of the numpy generator, in [0, 2**63 - 1].

        Returns
        -------
        x : ndarray, shape (counts.sum(), d)
        y : ndarray, shape (counts.sum(),)
        """
        c = np.asarray(counts)
        if c.shape != (self.n_classes,) or not np.issubdtype(c.dtype, np.integer) or np.any(c < 0):
            raise ValueError(f"counts: expected {self.n_classes} non-negative integers, got {counts!r}")
        if c.sum() == 0:
            raise ValueError("counts: must not all be zero")
        rng = np.random.default_rng(seed)
        y = rng.permutation(np.repeat(np.arange(self.n_classes), c))
        return self._sample_given(y, rng), y

    def _sample_given(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        r""":math:`x_i = \mu_{y_i} + L_{y_i} z_i` with :math:`z_i \sim \mathcal{N}(0, I)` and
        :math:`L L^\top = \Sigma` (Cholesky), applied one component at a time so that memory stays
        proportional to the data."""
        z = rng.standard_normal((y.shape[0], self.dim))
        x = np.empty_like(z)
        for k in np.unique(y):
            rows = y == k
            x[rows] = self.means[k] + z[rows] @ self._chol[k].T
        return x

    @validate_params(x=as_float_array)
    def log_likelihoods(self, x: Any) -> np.ndarray:
        r"""The Bayes-optimal PC-softmax logits :math:`\log p(x \mid y)` for every class.

        Parameters
        ----------
        x : array_like or Tensor, shape (n, d)
            Finite real samples (a tensor's gradient is dropped); shape (n,) is accepted when d = 1.

        Returns
        -------
        ndarray, shape (n, M)
        """
        xs = x
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
        r""":math:`\log p(y \mid x) = \log P(y) + \log p(x \mid y) - \log p(x)`, shape (n, M); -inf for
        a class of prior 0."""
        with np.errstate(divide="ignore"):
            joint = self.log_likelihoods(x) + np.log(self.priors)
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def _rao_blackwell(self, n_samples: int, seed: int, statistic) -> tuple[float, float]:
        """Monte Carlo mean and standard error of statistic(log p(y|x)) over x ~ p(x), in chunks."""
        values = np.empty(n_samples)
        rng = np.random.default_rng(seed)
        for start in range(0, n_samples, CHUNK):
            stop = min(start + CHUNK, n_samples)
            y = rng.choice(self.n_classes, size=stop - start, p=self.priors)
            values[start:stop] = statistic(self.log_posteriors(self._sample_given(y, rng)))
        return float(values.mean()), float(values.std(ddof=1) / np.sqrt(n_samples))

    @validate_params(n_samples=check_n_samples, seed=check_seed,
                     method=partial(check_choice, choices=MC_METHODS))
    def mutual_information(
        self, n_samples: int = 1_000_000, seed: int = 0, method: str = "auto"
    ) -> MutualInformation:
        r"""The ground truth I(X;Y) in nats and its standard error.

        ``method="auto"`` integrates by quadrature (standard error 0) when the mixture is one-dimensional
        or reduces to a line (:meth:`line_reduction`), and uses Monte Carlo otherwise. Monte Carlo is
        Rao-Blackwellised, with exact posteriors:

        .. math:: I = \mathbb{E}_{x \sim p(x)} \sum_y p(y \mid x) \big(\log p(y \mid x) - \log P(y)\big).

        Parameters
        ----------
        n_samples : int
            Monte Carlo draws (>= 2); unused by quadrature.
        seed : int
            Seed of the Monte Carlo draws; unused by quadrature.
        method : {"auto", "quadrature", "monte-carlo"}
            "quadrature" needs a mixture that reduces to a line.

        Returns
        -------
        MutualInformation
            ``(value, se)`` in nats.
        """
        line = None if method == "monte-carlo" else self.line_reduction()
        if line is not None:
            return MutualInformation(line.quadrature_mutual_information(), 0.0)
        if method == "quadrature":
            raise ValueError("method: quadrature needs a mixture that reduces to a line (one covariance "
                             "shared by every class and collinear means); use 'monte-carlo' or 'auto'")
        with np.errstate(divide="ignore"):
            log_prior = np.where(self.priors > 0, np.log(self.priors), 0.0)

        def pointwise(log_post: np.ndarray) -> np.ndarray:
            ratio = np.where(self.priors > 0, log_post - log_prior, 0.0)
            return (np.exp(log_post) * ratio).sum(axis=1)

        return MutualInformation(*self._rao_blackwell(n_samples, seed, pointwise))

    def line_reduction(self) -> GaussianMixture | None:
        r"""The one-dimensional mixture with the same I(X;Y) and Bayes accuracy, or None.

        When every class of positive prior has one covariance :math:`\Sigma = L L^\top` and the whitened
        means are collinear, :math:`L^{-1}(\mu_y - \mu_0) = t_y u` with :math:`|u| = 1`, the statistic
        :math:`u \cdot L^{-1} x` given y is :math:`\mathcal{N}(t_y, 1)` and the rest of :math:`L^{-1} x` is
        :math:`\mathcal{N}(0, I)` whatever y is, so :math:`I(X;Y) = I(u \cdot L^{-1} X; Y)`.

        Returns
        -------
        GaussianMixture or None
            This mixture when d = 1; None when it does not reduce to a line.
        """
        if self.dim == 1:
            return self
        keep = self.priors > 0
        first = int(np.argmax(keep))
        if not np.allclose(self.covariances[keep], self.covariances[first]):
            return None
        white = solve_triangular(self._chol[first], (self.means - self.means[first]).T, lower=True).T
        _, singular, vt = np.linalg.svd(white[keep], full_matrices=False)
        if singular.size > 1 and singular[1] > 1e-9 * max(singular[0], 1.0):
            return None
        return GaussianMixture((white @ vt[0])[:, None], priors=self.priors)

    def quadrature_mutual_information(self) -> float:
        r"""I(X;Y) of a 1-D mixture by adaptive quadrature, one component at a time:

        .. math:: I = \sum_y P(y) \int \mathcal{N}(t; 0, 1)
                  \big[\log p(x_t \mid y) - \log p(x_t)\big] \, dt, \qquad x_t = \mu_y + \sigma_y t,

        each over :math:`|t| \le 12`, with break points where much narrower components sit, so that components
        far apart or of very different widths are integrated on their own scale. Warns (RuntimeWarning)
        when the quadrature's error estimate exceeds 1e-6 nats.

        Returns
        -------
        float
            I(X;Y) in nats.
        """
        if self.dim != 1:
            raise ValueError(f"dim: quadrature needs a 1-D mixture, got d = {self.dim}")
        keep = self.priors > 0
        prior, means = self.priors[keep], self.means[keep, 0]
        sds = np.sqrt(self.covariances[keep, 0, 0])
        terms = [_component_term(k, means, sds, np.log(prior)) for k in range(prior.shape[0])]
        value = float(sum(p * v for p, (v, _) in zip(prior, terms)))
        error = float(sum(p * e for p, (_, e) in zip(prior, terms)))
        if not error <= QUADRATURE_TOLERANCE:
            warnings.warn(
                f"quadrature_mutual_information: error estimate {error:.2g} nats exceeds "
                f"{QUADRATURE_TOLERANCE:g}; compare with mutual_information(method='monte-carlo')",
                RuntimeWarning,
                stacklevel=2,
            )
        return value

    @validate_params(n_samples=check_n_samples, seed=check_seed,
                     method=partial(check_choice, choices=ACCURACY_METHODS))
    def bayes_accuracy(self, n_samples: int = 1_000_000, seed: int = 0, method: str = "auto") -> float:
        r"""Accuracy of the Bayes classifier :math:`\arg\max_y p(y \mid x)`,
        :math:`\mathbb{E}_x \max_y p(y \mid x) = \sum_y P(y)\, \Pr(y \text{ wins} \mid y)`.

        Parameters
        ----------
        n_samples, seed : int
            Monte Carlo draws and their seed; unused when exact.
        method : {"auto", "monte-carlo"}
            "auto" is exact when the mixture reduces to a line (:meth:`line_reduction`): there each
            class wins on intervals bounded by the roots of :math:`P(y)p(x \mid y) = P(y')p(x \mid y')`,
            whose Gaussian masses are summed. Otherwise, the Monte Carlo mean of :math:`\max_y p(y \mid x)`.

        Returns
        -------
        float
        """
        line = None if method == "monte-carlo" else self.line_reduction()
        if line is None:
            return self._rao_blackwell(n_samples, seed, lambda lp: np.exp(lp.max(axis=1)))[0]
        keep = line.priors > 0
        prior, means = line.priors[keep], line.means[keep, 0]
        sds = np.sqrt(line.covariances[keep, 0, 0])
        return float(sum(prior[k] * _win_mass(k, means, sds, np.log(prior)) for k in range(prior.shape[0])))


def _component_term(k: int, means: np.ndarray, sds: np.ndarray, log_prior: np.ndarray) -> tuple[float, float]:
    r""":math:`\int \mathcal{N}(t; 0, 1)[\log p(x_t \mid k) - \log p(x_t)]\,dt` over :math:`|t| \le 12`,
    :math:`x_t = \mu_k + \sigma_k t`, and its error estimate. In these units component j has centre
    :math:`c_j = (\mu_j - \mu_k) / \sigma_k` and width :math:`w_j = \sigma_j / \sigma_k`; components whose
    density stays :math:`e^{-50}` below :math:`P(k)\,p(x \mid k)` across the window are left out. Break
    points at the centre and centre +- 3, 6 and 12 widths of every component over 20 times narrower, where
    :math:`\log p(x)` changes on a scale adaptive quadrature could step over."""
    centre, width = (means - means[k]) / sds[k], sds / sds[k]
    nearest = np.clip(centre, -QUADRATURE_WINDOW, QUADRATURE_WINDOW)
    ceiling = log_prior - 0.5 * ((nearest - centre) / width) ** 2 - np.log(width)
    relevant = ceiling > log_prior[k] - 0.5 * QUADRATURE_WINDOW**2 - 50
    centre, width = centre[relevant], width[relevant]
    log_weight = log_prior[relevant] - np.log(width)

    def integrand(t: float) -> float:
        log_joint = log_weight - 0.5 * ((t - centre) / width) ** 2
        peak = log_joint.max()
        log_px = peak + math.log(np.exp(log_joint - peak).sum())
        return math.exp(-0.5 * t * t) / SQRT_2PI * (-0.5 * t * t - log_px)

    narrow = width < NARROW
    points = (centre[narrow, None] + width[narrow, None] * NARROW_BREAKS).ravel()
    points = np.unique(points[np.abs(points) < QUADRATURE_WINDOW])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        value, error = quad(
            integrand, -QUADRATURE_WINDOW, QUADRATURE_WINDOW, points=points if points.size else None,
            limit=max(200, 4 * (points.size + 2)), epsabs=1e-12, epsrel=1e-10,
        )
    return value, error


def _win_mass(k: int, means: np.ndarray, sds: np.ndarray, log_prior: np.ndarray) -> float:
    r""":math:`\Pr(k \text{ wins} \mid y = k)` in one dimension: in units :math:`x = \mu_k + \sigma_k t`, the
    roots of :math:`\log P(k) p(x \mid k) = \log P(j) p(x \mid j)` (quadratics in t) cut the line into
    segments on each of which one class wins (ties to the lower index, like ``argmax``); the standard
    normal masses of k's segments are summed."""
    centre, width = (means - means[k]) / sds[k], sds / sds[k]
    a = 0.5 * (1.0 / width**2 - 1.0)
    b = -centre / width**2
    c = log_prior[k] - log_prior + np.log(width) + 0.5 * (centre / width) ** 2
    roots = [-c[a == 0][b[a == 0] != 0] / b[a == 0][b[a == 0] != 0]]
    quadratic = (a != 0) & (b * b - 4 * a * c >= 0)
    root = np.sqrt(b[quadratic] ** 2 - 4 * a[quadratic] * c[quadratic])
    roots += [(-b[quadratic] - root) / (2 * a[quadratic]), (-b[quadratic] + root) / (2 * a[quadratic])]
    cuts = np.unique(np.concatenate(roots))
    edges = np.concatenate([[-np.inf], cuts, [np.inf]])
    middle = [0.0]  # one segment, the whole line
    if cuts.size:
        middle = np.concatenate([cuts[:1] - 1.0, (cuts[:-1] + cuts[1:]) / 2, cuts[-1:] + 1.0])
    log_joint = log_prior - np.log(width) - 0.5 * ((np.asarray(middle)[:, None] - centre) / width) ** 2
    wins = np.argmax(log_joint, axis=1) == k
    return float((norm.cdf(edges[1:][wins]) - norm.cdf(edges[:-1][wins])).sum())


PAPER_OFFSETS = (0.0, 2.0, -2.0, 4.0, -4.0)
PAPER_IMBALANCED_WEIGHTS = (1, 2, 3, 4, 5)


@validate_params(dim=check_positive_int, balanced=check_bool)
def paper_mixture(dim: int, balanced: bool) -> GaussianMixture:
    r"""The authors' released setting: M = 5, identity covariances, means
    :math:`0, \pm 2 \cdot \mathbf{1}, \pm 4 \cdot \mathbf{1}` in :math:`\mathbb{R}^{dim}`.

    Parameters
    ----------
    dim : int
        Dimension d >= 1.
    balanced : bool
        Uniform priors if True, else 1:2:3:4:5 in the class order of the means.

    Returns
    -------
    GaussianMixture
    """
    means = np.outer(PAPER_OFFSETS, np.ones(dim))
    weights = np.ones(len(PAPER_OFFSETS)) if balanced else np.asarray(PAPER_IMBALANCED_WEIGHTS, float)
    return GaussianMixture(means, priors=weights / weights.sum())
