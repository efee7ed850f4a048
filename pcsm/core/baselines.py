"""Reference estimators of I(X;Y) for continuous x and a class label y, to set beside ``estimate_mi``.

* ``bayes_plugin_mi``: the true log-likelihoods as PC-softmax logits (the floor no classifier beats);
* ``mine_mi``: MINE (Belghazi et al. 2018), the Donsker-Varadhan bound with a statistics network;
* ``knn_mi``: the k-nearest-neighbour estimator of Ross (2014) in the joint x-space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.special import digamma
from sklearn.neighbors import KDTree, NearestNeighbors
from torch import nn

from pcsm.core._checks import as_label_tensor, check_positive_float, check_positive_int
from pcsm.core.estimators import label_frequencies, mi_from_logits
from pcsm.core.gaussian import GaussianMixture
from pcsm.core.mi import (
    default_batch_size,
    resolve_device,
    stratified_folds,
    stratified_holdout,
)
from pcsm.core.models import mlp
from pcsm.core.training import seed_everything


def _as_samples(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """x as a finite (n, d) float array and y as (n,) integer labels >= 0."""
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim == 1:
        xs = xs[:, None]
    if xs.ndim != 2 or xs.shape[0] < 2:
        raise ValueError(f"x: expected shape (n, d) with n >= 2, got {xs.shape}")
    if not np.all(np.isfinite(xs)):
        raise ValueError("x: contains NaN or infinite values")
    ys = np.asarray(y)
    labels = as_label_tensor(ys, "y", int(ys.max()) + 1 if ys.size else 1).numpy()
    if labels.shape[0] != xs.shape[0]:
        raise ValueError(f"y: expected {xs.shape[0]} labels (one per row of x), got {labels.shape[0]}")
    return xs, labels


def bayes_plugin_mi(mixture: GaussianMixture, x: Any, y: Any) -> float:
    """Mean log PC-softmax_y of the true log-likelihoods log p(x|y) with the true prior:
    the sample mean of log p(y|x) - log P(y), an unbiased estimate of I(X;Y)."""
    logits = mixture.log_likelihoods(x)
    return mi_from_logits(logits, y, prior=mixture.priors, method="pc-softmax")


def knn_mi(x: Any, y: Any, n_neighbors: int = 3, standardize: bool = True) -> float:
    """Ross (2014) kNN estimate of I(X;Y) in nats, with Euclidean distances in the joint x-space:

        I = psi(N) + <psi(k)> - <psi(N_y)> - <psi(m)>,

    where, for each sample, r is the distance to its k-th neighbour among the N_y samples of its class
    and m counts all samples (itself included) closer than r. Samples alone in their class are
    dropped. ``standardize`` divides every feature by its standard deviation (as sklearn does). In one
    dimension this is ``sklearn.feature_selection.mutual_info_classif`` without its clipping at 0.
    """
    check_positive_int(n_neighbors, "n_neighbors")
    xs, labels = _as_samples(x, y)
    if standardize:
        std = xs.std(axis=0)
        xs = xs / np.where(std > 0, std, 1.0)
    n = xs.shape[0]
    radius, class_size, k_all = np.empty(n), np.zeros(n), np.empty(n)
    for label in np.unique(labels):
        mask = labels == label
        count = int(mask.sum())
        class_size[mask] = count
        if count > 1:
            k = min(n_neighbors, count - 1)
            distances = NearestNeighbors(n_neighbors=k).fit(xs[mask]).kneighbors()[0]
            radius[mask] = np.nextafter(distances[:, -1], 0)
            k_all[mask] = k
    keep = class_size > 1
    if not keep.any():
        raise ValueError("y: every class has a single sample")
    xs, radius = xs[keep], radius[keep]
    within = KDTree(xs).query_radius(xs, radius, count_only=True)
    return float(
        digamma(keep.sum())
        + digamma(k_all[keep]).mean()
        - digamma(class_size[keep]).mean()
        - digamma(within).mean()
    )


class StatisticsNetwork(nn.Module):
    """T(x, y) = g(x)_y: an MLP x -> M values that scores every label in one forward pass."""

    def __init__(self, in_dim: int, n_classes: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp(in_dim, n_classes, hidden)
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # noqa: D102 - (n,) values
        return self.net(x).gather(1, y[:, None]).squeeze(1)

    def all_labels(self, x: torch.Tensor) -> torch.Tensor:
        """T(x, y) for every label y: shape (n, M)."""
        return self.net(x)


def dv_terms(
    scores: torch.Tensor, y: torch.Tensor, log_prior: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two halves of the DV bound from all-label scores (n, M): E_{p(x,y)} T and
    log E_{p(x)P(y)} e^T = logsumexp_{i,y}(T(x_i, y) + log P(y)) - log n (exact average over y)."""
    joint = scores.gather(1, y[:, None]).mean()
    log_marginal = torch.logsumexp((scores + log_prior).flatten(), 0) - math.log(scores.shape[0])
    return joint, log_marginal


@torch.no_grad()
def donsker_varadhan(net: StatisticsNetwork, x: torch.Tensor, y: torch.Tensor, prior: np.ndarray) -> float:
    """DV bound E_{p(x,y)} T - log E_{p(x)P(y)} e^T, the product of marginals averaged exactly over y."""
    net.eval()
    scores = torch.cat([net.all_labels(x[i : i + 8192]) for i in range(0, len(x), 8192)]).double().cpu()
    joint, log_marginal = dv_terms(scores, y.cpu(), _log_prior(prior))
    return float(joint - log_marginal)


def _log_prior(prior: np.ndarray) -> torch.Tensor:
    with np.errstate(divide="ignore"):
        return torch.as_tensor(np.log(prior))


@dataclass
class MINEEstimate:
    """Result of :func:`mine_mi`: ``value`` in nats averages the held-out DV bound over folds."""

    value: float
    fold_values: list[float] = field(default_factory=list)
    val_curves: list[list[float]] = field(default_factory=list)


def train_mine(
    net: StatisticsNetwork, x: torch.Tensor, y: torch.Tensor, validation: tuple[torch.Tensor, torch.Tensor],
    prior: np.ndarray, *, epochs: int, batch_size: int, lr: float, ema: float, patience: int, seed: int,
) -> list[float]:
    """Maximise the DV bound on (x, y) with Adam and MINE's bias-corrected gradient
    grad E T - grad E_marg e^T / a, where a is a moving average of E_marg e^T (rate ``ema``);
    E_marg averages e^{T(x_i, y)} over the batch's x and exactly over y ~ P(y), from the one forward
    pass that scores all M labels (the cost of a classifier step). Keeps the weights with the best DV bound on
    ``validation``, stopping after ``patience`` epochs without improvement. Returns the validation curve.
    """
    generator = seed_everything(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    log_prior = _log_prior(prior).to(device=x.device, dtype=x.dtype)
    moving, curve, best, best_state, stale = None, [], -np.inf, None, 0
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
        curve.append(donsker_varadhan(net, *validation, prior))
        if curve[-1] > best:
            best, stale = curve[-1], 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                break
    net.load_state_dict(best_state)
    return curve


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
    """MINE estimate of I(X;Y) in nats, cross-fitted like ``estimate_mi``: x is standardised, the data
    split in ``n_folds`` stratified folds, and for each a statistics network trained on the others
    (early stopping on a stratified ``val_fraction`` of them) scores this fold's DV bound; the folds'
    values are averaged. The network has M outputs, T(x, y) = g(x)_y, so a step costs what a
    classifier's does. ``batch_size`` defaults to ``default_batch_size`` of the training size;
    ``device`` "auto" uses the GPU when present."""
    check_positive_int(n_folds, "n_folds", minimum=2)
    check_positive_int(epochs, "epochs")
    check_positive_int(patience, "patience")
    check_positive_int(seed, "seed", minimum=0)
    check_positive_float(lr, "lr")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size")
    if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 < ema <= 1:
        raise ValueError(f"ema: must lie in (0, 1], got {ema!r}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, float) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: must lie in (0, 1), got {val_fraction!r}")
    torch_device = resolve_device(device)
    xs, labels = _as_samples(x, y)
    n_classes = max(int(labels.max()) + 1, 2)
    prior = label_frequencies(labels, n_classes)
    xs = (xs - xs.mean(axis=0)) / np.where(xs.std(axis=0) > 0, xs.std(axis=0), 1.0)
    xt = torch.as_tensor(xs, dtype=torch.float32, device=torch_device)
    yt = torch.as_tensor(labels, dtype=torch.int64, device=torch_device)
    folds = stratified_folds(labels, n_folds, seed)
    result = MINEEstimate(value=0.0)
    for fold in range(n_folds):
        train = np.flatnonzero(folds != fold)
        inner = stratified_holdout(labels[train], val_fraction, seed + fold)
        fit, val, held = train[~inner], train[inner], np.flatnonzero(folds == fold)
        seed_everything(seed + fold)
        net = StatisticsNetwork(xs.shape[1], n_classes, hidden).to(torch_device)
        curve = train_mine(
            net, xt[fit], yt[fit], (xt[val], yt[val]), prior,
            epochs=epochs, batch_size=batch_size or default_batch_size(fit.shape[0]),
            lr=lr, ema=ema, patience=patience, seed=seed + fold,
        )
        result.fold_values.append(donsker_varadhan(net, xt[held], yt[held], prior))
        result.val_curves.append(curve)
    weights = np.bincount(folds, minlength=n_folds) / folds.shape[0]
    result.value = float(np.dot(weights, result.fold_values))
    return result
