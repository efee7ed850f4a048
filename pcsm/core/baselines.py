"""Reference estimators of I(X;Y) for continuous x and a class label y, to set beside ``estimate_mi``.

* :func:`bayes_plugin_mi`: the true log-likelihoods as PC-softmax logits (the floor no classifier beats);
* :func:`mine_mi`: MINE (Belghazi et al. 2018), the Donsker-Varadhan bound with a statistics network;
* :func:`knn_mi`: the k-nearest-neighbour estimator of Ross (2014) in the joint x-space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from scipy.special import digamma
from sklearn.neighbors import KDTree
from torch import nn

from pcsm.core._checks import (
    MAX_SEED,
    as_float_array,
    as_label_tensor,
    check_bool,
    check_fraction,
    check_hidden,
    check_label_count,
    check_positive_float,
    check_positive_int,
    check_prior_covers,
    check_seed,
    optional,
    validate_params,
)
from pcsm.core.estimators import label_frequencies, mi_from_logits
from pcsm.core.gaussian import GaussianMixture
from pcsm.core.models import mlp
from pcsm.core.samples import as_samples, rescaled
from pcsm.core.training import (
    EarlyStopping,
    default_batch_size,
    check_validation_splits,
    resolve_device,
    seed_everything,
    stratified_folds,
    stratified_holdout,
)

SCORE_BATCH = 8192


def _check_mixture(value: Any, name: str) -> GaussianMixture:
    """Require a :class:`~pcsm.core.gaussian.GaussianMixture` (a :class:`TypeError` for anything else)."""
    if not isinstance(value, GaussianMixture):
        raise TypeError(f"{name}: expected a GaussianMixture, got {type(value).__name__}")
    return value


@validate_params(mixture=_check_mixture, x=as_float_array)
def bayes_plugin_mi(mixture: GaussianMixture, x: Any, y: Any) -> float:
    r"""The Bayes plug-in estimate: the mean log PC-softmax of the true log-likelihoods with the true prior,

    .. math:: \hat I = \frac{1}{n} \sum_i \big[\log p(y_i \mid x_i) - \log P(y_i)\big],

    an unbiased estimate of I(X;Y) in nats.

    Parameters
    ----------
    mixture : GaussianMixture
        The mixture the samples were drawn from.
    x : array_like or Tensor, shape (n, d)
        Finite samples.
    y : array_like of int, shape (n,)
        Their component labels, each of a component of positive prior.

    Returns
    -------
    float
    """
    logits = mixture.log_likelihoods(x)
    labels = as_label_tensor(y, "y", mixture.n_classes)
    check_label_count(labels, logits.shape[0], "y", "row of x")
    check_prior_covers(mixture.priors, labels, "mixture.priors")
    return mi_from_logits(logits, labels, prior=mixture.priors, method="pc-softmax")


@validate_params(n_neighbors=check_positive_int, standardize=check_bool)
def knn_mi(x: Any, y: Any, n_neighbors: int = 3, standardize: bool = True) -> float:
    r"""Ross (2014) kNN estimate of I(X;Y) in nats, with Euclidean distances in the joint x-space:

    .. math::

        \hat I = \psi(N) + \langle \psi(k) \rangle - \langle \psi(N_y) \rangle - \langle \psi(m) \rangle,

    where, for each sample, r is the distance to its k-th neighbour among the :math:`N_y` samples of its
    class and m counts all samples (itself included) closer than r. Samples alone in their class are
    dropped. In one dimension this is ``sklearn.feature_selection.mutual_info_classif`` without its
    clipping at 0. A constant x carries no information: the estimate is exactly 0.

    Parameters
    ----------
    x : array_like or Tensor, shape (n, d)
        Finite samples (a tensor's gradient is dropped); any overall scale.
    y : array_like of int, shape (n,)
        Class labels (any integer values).
    n_neighbors : int
        k >= 1 (capped at the class size - 1).
    standardize : bool
        Divide every feature by its standard deviation (as sklearn does).

    Returns
    -------
    float
    """
    xs, labels, _ = as_samples(x, y, min_rows=2)
    if np.all(xs == xs[0]):
        return 0.0
    xs = rescaled(xs, standardize)
    radius, class_size, k_all = _class_radii(xs, labels, n_neighbors)
    keep = class_size > 1
    if not keep.any():
        raise ValueError("y: every class has a single sample")
    if np.any(radius[keep] <= 0):
        raise ValueError("x: repeated samples within a class (distance 0 to the k-th neighbour); "
                         "the kNN estimator needs continuous x")
    xs, radius = xs[keep], radius[keep]
    within = KDTree(xs).query_radius(xs, radius, count_only=True)
    return float(
        digamma(keep.sum())
        + digamma(k_all[keep]).mean()
        - digamma(class_size[keep]).mean()
        - digamma(within).mean()
    )


def _class_radii(xs: np.ndarray, labels: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, ...]:
    """Per sample: the distance to its k-th neighbour within its class (just below, so that "closer
    than r" excludes it, measured by the same KD-tree that counts), the size of its class, and the k
    used (min(n_neighbors, class size - 1))."""
    n = xs.shape[0]
    radius, class_size, k_all = np.zeros(n), np.zeros(n), np.ones(n)
    for label in np.unique(labels):
        mask = labels == label
        count = int(mask.sum())
        class_size[mask] = count
        if count > 1:
            k = min(n_neighbors, count - 1)
            # the tree that counts "closer than r" also measures r (brute force's BLAS distances differ
            # from the tree's in the last digits, by CPU); column 0 is the sample itself
            distances = KDTree(xs[mask]).query(xs[mask], k=k + 1)[0]
            radius[mask] = np.nextafter(distances[:, k], 0)
            k_all[mask] = k
    return radius, class_size, k_all


class StatisticsNetwork(nn.Module):
    r"""MINE's statistics network :math:`T(x, y) = g(x)_y`: an MLP x -> M values that scores every
    label in one forward pass.

    Parameters
    ----------
    in_dim : int
        Dimension d of x.
    n_classes : int
        Number of labels M.
    hidden : tuple of int
        Hidden layer widths of the MLP.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp(in_dim, n_classes, hidden)
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """T(x_i, y_i) for every pair: shape (n,)."""
        return self.net(x).gather(1, y[:, None]).squeeze(1)

    def all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """T(x, y) for every label y: shape (n, M)."""
        return self.net(x)


def dv_terms(
    scores: torch.Tensor, y: torch.Tensor, log_prior: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two halves of the Donsker-Varadhan bound from all-label scores :math:`T(x_i, y)`, shape (n, M):

    .. math::

        \mathbb{E}_{p(x,y)} T = \frac{1}{n} \sum_i T(x_i, y_i), \qquad
        \log \mathbb{E}_{p(x)P(y)} e^T
        = \operatorname{logsumexp}_{i,y}\big(T(x_i, y) + \log P(y)\big) - \log n,

    the product of marginals averaged exactly over y.
    """
    joint = scores.gather(1, y[:, None]).mean()
    log_marginal = torch.logsumexp((scores + log_prior).flatten(), 0) - math.log(scores.shape[0])
    return joint, log_marginal


@torch.no_grad()
def dv_estimate(net: StatisticsNetwork, x: torch.Tensor, y: torch.Tensor, prior: np.ndarray) -> float:
    r"""The sample estimate of the Donsker-Varadhan bound of the network's critic on (x, y):
    :math:`\mathbb{E}_{p(x,y)} T - \log \mathbb{E}_{p(x)P(y)} e^T` (see :func:`dv_terms`), in nats,
    scored in batches in float64.

    Parameters
    ----------
    net : StatisticsNetwork
    x : Tensor, shape (n, d)
    y : Tensor of int64, shape (n,)
    prior : ndarray, shape (M,)
        The label prior P(y) of the marginal term.

    Returns
    -------
    float
    """
    net.eval()
    scores = torch.cat([net.all_labels(x[i : i + SCORE_BATCH]) for i in range(0, len(x), SCORE_BATCH)])
    joint, log_marginal = dv_terms(scores.double().cpu(), y.cpu(), _log_prior(prior))
    return float(joint - log_marginal)


def _log_prior(prior: np.ndarray) -> torch.Tensor:
    with np.errstate(divide="ignore"):
        return torch.as_tensor(np.log(prior))


@dataclass
class MINEEstimate:
    """Result of :func:`mine_mi`.

    Attributes
    ----------
    value : float
        I(X;Y) in nats: the held-out DV estimates of the folds, weighted by fold size.
    fold_values : list of float
        The held-out DV estimate of each fold.
    val_curves : list of list of float
        Per fold, the validation DV estimate after every epoch.
    """

    value: float
    fold_values: list[float] = field(default_factory=list)
    val_curves: list[list[float]] = field(default_factory=list)


def train_mine(
    net: StatisticsNetwork, x: torch.Tensor, y: torch.Tensor, validation: tuple[torch.Tensor, torch.Tensor],
    prior: np.ndarray, *, epochs: int, batch_size: int, lr: float, ema: float, patience: int, seed: int,
) -> list[float]:
    r"""Maximise the DV bound on (x, y) with Adam and MINE's bias-corrected gradient

    .. math:: \nabla \mathbb{E}\,T - \nabla \mathbb{E}_{marg} e^T / a,

    where a is a moving average of :math:`\mathbb{E}_{marg} e^T` (rate ``ema``); :math:`\mathbb{E}_{marg}`
    averages :math:`e^{T(x_i, y)}` over the batch's x and exactly over y ~ P(y), from the one forward pass
    that scores all M labels (the cost of a classifier step). Keeps the weights with the best DV estimate
    on ``validation`` (:class:`~pcsm.core.training.EarlyStopping` on its negative), stopping after
    ``patience`` epochs without improvement.

    Returns
    -------
    list of float
        The validation DV estimate after every epoch.
    """
    generator = seed_everything(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    log_prior = _log_prior(prior).to(device=x.device, dtype=x.dtype)
    stopper, moving, curve = EarlyStopping(patience), None, []
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            joint, log_marginal = dv_terms(net.all_labels(x[idx]), y[idx], log_prior)
            mean_exp = torch.exp(log_marginal)
            moving = mean_exp.detach() if moving is None else (1 - ema) * moving + ema * mean_exp.detach()
            loss = -(joint - mean_exp / moving)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        curve.append(dv_estimate(net, *validation, prior))
        if stopper.update(-curve[-1], net):
            break
    stopper.restore(net)
    return curve


def _check_rate(value: Any, name: str) -> float:
    """Require a rate of a moving average: a number in (0, 1]."""
    if check_positive_float(value, name) > 1:
        raise ValueError(f"{name}: must lie in (0, 1], got {value!r}")
    return float(value)


@validate_params(
    seed=check_seed, n_folds=partial(check_positive_int, minimum=2), hidden=check_hidden,
    epochs=check_positive_int, batch_size=optional(check_positive_int), lr=check_positive_float,
    ema=_check_rate, patience=check_positive_int, val_fraction=check_fraction, device=resolve_device,
)
def mine_mi(
    x: Any,
    y: Any,
    *,
    seed: int = 0,
    n_folds: int = 2,
    hidden: tuple[int, ...] = (100, 100, 100),
    epochs: int = 100,
    batch_size: int | None = None,
    lr: float = 1e-3,
    ema: float = 0.01,
    patience: int = 15,
    val_fraction: float = 0.2,
    device: Any = "auto",
) -> MINEEstimate:
    """MINE estimate of I(X;Y) in nats, cross-fitted like ``estimate_mi``.

    x is standardised, the data split in ``n_folds`` stratified folds, and for each a statistics
    network (:class:`StatisticsNetwork`, M outputs, so a step costs what a classifier's does) is
    trained on the others by :func:`train_mine`, with early stopping on a stratified ``val_fraction``
    of them, and scores this fold's DV estimate (:func:`dv_estimate`); the folds' values are averaged.

    Parameters
    ----------
    x : array_like or Tensor, shape (n, d)
        Finite samples (a tensor's gradient is dropped).
    y : array_like of int, shape (n,)
        Class labels (any integer values; coded 0..M-1 for M classes).
    seed : int
        Seeds the folds, splits, initial weights and shuffles (fold f with seed + f); in
        [0, 2**63 - 1 - n_folds].
    n_folds : int
        Cross-fitting folds, >= 2.
    hidden : int or tuple of int
        Hidden widths of the statistics network (an int is one layer).
    epochs : int
        Most epochs per fold.
    patience : int
        Epochs without a better validation DV estimate before stopping.
    batch_size : int, optional
        Default :func:`~pcsm.core.training.default_batch_size` of the training size.
    lr : float
        Adam's learning rate.
    ema : float
        The rate of the moving average, in (0, 1].
    val_fraction : float
        Fraction of each fold's training part used for early stopping, in (0, 1).
    device : str or torch.device
        "auto" uses the GPU when present.

    Returns
    -------
    MINEEstimate
    """
    if seed > MAX_SEED - n_folds:
        raise ValueError(f"seed: must be <= {MAX_SEED - n_folds} with n_folds={n_folds} "
                         "(fold f uses seed + f)")
    xs, labels, classes = as_samples(x, y, min_rows=2)
    if labels.shape[0] < n_folds:
        raise ValueError(f"n_folds: {n_folds} folds need at least {n_folds} samples, got {labels.shape[0]}")
    check_validation_splits(labels, n_folds, val_fraction)
    prior = label_frequencies(labels, max(classes.shape[0], 2))
    xs = rescaled(xs, standardize=True, centre=True)
    xt = torch.as_tensor(xs, dtype=torch.float32, device=device)
    yt = torch.as_tensor(labels, dtype=torch.int64, device=device)
    folds = stratified_folds(labels, n_folds, seed)
    result = MINEEstimate(value=0.0)
    for fold in range(n_folds):
        train = np.flatnonzero(folds != fold)
        inner = stratified_holdout(labels[train], val_fraction, seed + fold)
        fit, val, held = train[~inner], train[inner], np.flatnonzero(folds == fold)
        seed_everything(seed + fold)
        net = StatisticsNetwork(xs.shape[1], prior.shape[0], hidden).to(device)
        curve = train_mine(
            net, xt[fit], yt[fit], (xt[val], yt[val]), prior,
            epochs=epochs, batch_size=batch_size or default_batch_size(fit.shape[0]),
            lr=lr, ema=ema, patience=patience, seed=seed + fold,
        )
        result.fold_values.append(dv_estimate(net, xt[held], yt[held], prior))
        result.val_curves.append(curve)
    weights = np.bincount(folds, minlength=n_folds) / folds.shape[0]
    result.value = float(np.dot(weights, result.fold_values))
    return result
