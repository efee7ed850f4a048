r"""``estimate_mi``: mutual information :math:`I(X;Y)` between continuous x and a class label y, from a
classifier.

A network :math:`f(x, \cdot)` trained with the PC-softmax loss approaches
:math:`f = \log p(x|y) + c(x)`. For any logits,

.. math::

    I(X;Y) = E\left[\log \mathrm{PC\text{-}softmax}_y f(x)\right]
             + E_x\, \mathrm{KL}\left(p(\cdot|x) \,\|\, q(\cdot|x)\right),
    \qquad q(y|x) = P(y)\, \mathrm{PC\text{-}softmax}_y f(x),

so the mean held-out score :math:`\log \mathrm{PC\text{-}softmax}_y f(x)` (the Barber-Agakov bound)
is a lower bound whose gap is the classifier's expected KL from the true posterior. The estimate is a
mean of per-sample terms, so its standard error is their standard deviation over :math:`\sqrt{n}`
(cross-fitting makes every term a held-out one; see :func:`estimate_mi`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import logsumexp, ndtri
from scipy.stats import chisquare, norm

from pcsm.core._checks import (
    MAX_SEED,
    Prior,
    as_prior,
    check_bool,
    check_choice,
    check_fraction,
    check_hidden,
    check_positive_float,
    check_positive_int,
    check_prior_covers,
)
from pcsm.core.estimators import MI_METHODS, label_frequencies
from pcsm.core.losses import pc_log_softmax
from pcsm.core.models import mlp
from pcsm.core.samples import as_samples, rescaled
from pcsm.core.training import (
    TrainingHistory,
    check_validation_splits,
    default_batch_size,
    predict_logits,
    resolve_device,
    seed_everything,
    stratified_folds,
    stratified_holdout,
    train_classifier,
)

PRIOR_MISMATCH_P = 1e-6
LOG_SCALE_BOUNDS = (math.log(1e-6), math.log(1e2))
REPEAT_SEED_STRIDE = 100_003
OPTIMISM_FACTOR = 0.3  # kappa: the held-out gap left after bagging, per nat of the networks' optimism
BOUND_TOLERANCE = 0.05
MAX_REPEATS = 1000  # cross-fits; each trains n_folds networks
MAX_FOLDS = 10**6  # more folds than samples of a class are refused once y is read
TRANSFORMS = ("quantile", "standardise")
SCORE_BLOCK = 65_536  # samples per block where per-sample work would otherwise copy all n


@dataclass
class MIEstimate:
    r"""Result of :func:`estimate_mi`, all in nats.

    Attributes
    ----------
    value : float
        The mean of ``scores``: the bagged held-out scores, extrapolated to infinitely many networks
        (unless ``extrapolate`` was off or R = 1) and corrected by the networks' optimism (unless
        ``optimism`` was off).
    stderr : float
        The interval's standard error: the square root of the sum of :math:`\mathrm{sampling\_se}^2`,
        :math:`\mathrm{model\_se}^2` and :math:`\mathrm{gap\_estimate}^2`.
    sampling_se : float
        :math:`\mathrm{sd}(s_i) / \sqrt{n}`, the noise of the scored terms given the networks.
    model_se : float
        Network-to-network spread: the standard deviation over the R cross-fits of their single-network
        values, over :math:`\sqrt{R}` (0 when R = 1).
    gap_estimate : float
        The corrections applied to the value (ensemble-size extrapolation and optimism; 0 when both
        are off or R = 1 without the optimism correction), counted in ``stderr`` as the order of the
        gap that remains.
    mean_optimism : float
        :math:`\bar o`, the networks' mean in-sample score minus their held-out score (nats; recorded
        whether or not the ``optimism`` option corrected the value).
    optimism_weight : float
        :math:`w = \bar o^2 / (\bar o^2 + \mathrm{se}(\bar o)^2)`, the share of the optimism
        correction applied: near 1 where the networks agree on their optimism, towards 0 where its
        network-to-network noise exceeds it (0 when ``optimism`` was off).
    ci : (float, float)
        :math:`\mathrm{value} \pm z_{(1+\mathrm{level})/2}\, \mathrm{stderr}`, lower end clipped at 0.
    level : float
        The level of ``ci``.
    method : str
        "pc-softmax" or "softmax".
    accuracy : float
        The networks' mean held-out accuracy.
    prior : numpy.ndarray
        :math:`P(y)` of the classes present, in the order of ``classes``.
    upper_bound : float
        :math:`H(Y)` of ``prior`` (:math:`\log M`, M classes present, for the balanced softmax formula).
    in_bounds : bool
        False (and a RuntimeWarning was issued) when ``value`` lies outside
        :math:`[0, \mathrm{upper\_bound}]` by more than ``BOUND_TOLERANCE`` nats, or the whole interval
        does.
    cross_fit, calibrate : bool
        The options used.
    device : str
        Where the networks trained.
    repeats : int
        Cross-fits whose posteriors were averaged.
    scores : numpy.ndarray
        The per-sample terms (:math:`t_i`, or :math:`s_i` without extrapolation).
    transform : str
        How x was prepared ("quantile" or "standardise").
    classes : numpy.ndarray
        The distinct labels of y, in increasing order (the networks' outputs).
    fold_values, fold_accuracies, fold_optimism, temperatures : list of float
        Per network: held-out score, held-out accuracy, in-sample minus held-out score, temperature.
    histories : list of TrainingHistory
        Per network.
    """

    value: float
    stderr: float
    ci: tuple[float, float]
    level: float
    method: str
    accuracy: float
    prior: np.ndarray
    upper_bound: float
    in_bounds: bool
    cross_fit: bool
    calibrate: bool
    device: str
    repeats: int = 1
    sampling_se: float = math.nan
    model_se: float = 0.0
    gap_estimate: float = 0.0
    mean_optimism: float = math.nan
    optimism_weight: float = 0.0
    transform: str = "quantile"
    scores: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))
    classes: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=np.int64))
    fold_values: list[float] = field(default_factory=list)
    fold_accuracies: list[float] = field(default_factory=list)
    fold_optimism: list[float] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=list)
    histories: list[TrainingHistory] = field(default_factory=list, repr=False)

    @property
    def ci95(self) -> tuple[float, float]:
        """The 95 % interval value ± 1.96 stderr, its lower end clipped at 0."""
        return confidence_interval(self.value, self.stderr, 0.95)

    @property
    def training_curve(self) -> list[float]:
        """Per-epoch validation loss of the first fold's network (the curve early stopping watched)."""
        return self.histories[0].val_loss if self.histories else []


@dataclass(frozen=True)
class _Settings:
    """The checked options of one :func:`estimate_mi` call that every network shares."""

    method: str
    cross_fit: bool
    calibrate: bool
    val_fraction: float
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int | None
    lr: float
    patience: int | None
    device: torch.device
    progress: bool


def confidence_interval(value: float, stderr: float, level: float) -> tuple[float, float]:
    r"""Normal interval :math:`\mathrm{value} \pm z\, \mathrm{stderr}`,
    :math:`z = \Phi^{-1}((1 + \mathrm{level}) / 2)`, its lower end clipped at 0."""
    z = float(norm.ppf(0.5 + level / 2))
    return float(max(value - z * stderr, 0.0)), float(max(value + z * stderr, 0.0))


def log_posterior_scores(logits: torch.Tensor, method: str, prior: Any) -> torch.Tensor:
    r"""Per-class :math:`\log q(y|x)` + const that the estimate averages:
    :math:`\log \mathrm{PC\text{-}softmax}_y f`, or :math:`\log \mathrm{softmax}_y f + \log M`
    (M = the number of logits' columns)."""
    if method == "softmax":
        return torch.log_softmax(logits, dim=1) + math.log(logits.shape[1])
    return pc_log_softmax(logits, prior)


def calibrate_logits(
    logits: torch.Tensor, labels: torch.Tensor, method: str, prior: Any
) -> tuple[float, torch.Tensor]:
    r"""Temperature :math:`T > 0` and class bias :math:`b` minimising the mean cross-entropy
    :math:`-\log q_y(f / T + b)`.

    The loss is PC-softmax cross-entropy (``method="pc-softmax"``:
    :math:`q_y(z) = e^{z_y} / \sum_{y'} P(y') e^{z_{y'}}`) or softmax cross-entropy, plus the ridge
    :math:`(s^2 + \|b\|^2) / (2 n)`, one pseudo-sample's worth, that keeps a few separable validation
    samples from sending T to 0. :math:`T = e^{-s}` with s in [log 1e-6, log 1e2], so
    0.01 <= T <= 1e6 (an uninformative classifier gets a large T, flat logits). L-BFGS-B on the
    analytic gradient.

    Parameters
    ----------
    logits : torch.Tensor, shape (n, M)
        Validation logits.
    labels : torch.Tensor, shape (n,)
        Their labels in [0, M).
    method : {"pc-softmax", "softmax"}
        Which cross-entropy.
    prior : Prior or sequence of M probabilities
        :math:`P(y)`, used by "pc-softmax".

    Returns
    -------
    (float, torch.Tensor)
        T and b; the calibrated logits are ``logits / T + b``.
    """
    check_choice(method, "method", MI_METHODS)
    f = logits.detach().double().cpu().numpy()
    y = labels.long().cpu().numpy()
    n, m = f.shape
    shift = as_prior(prior, m).log_p if method == "pc-softmax" else np.zeros(m)
    shift = np.where(np.isfinite(shift), shift, -1e30)
    onehot = np.eye(m)[y]

    def loss_and_grad(params: np.ndarray) -> tuple[float, np.ndarray]:
        scale = math.exp(params[0])
        z = scale * f + params[1:]
        log_norm = logsumexp(z + shift, axis=1)
        g = np.exp(z + shift - log_norm[:, None]) - onehot
        loss = float(np.mean(log_norm - z[np.arange(n), y]) + params @ params / (2 * n))
        grad = np.concatenate([[scale * np.mean((g * f).sum(axis=1))], g.mean(axis=0)])
        return loss, grad + params / n

    bounds = [LOG_SCALE_BOUNDS] + [(None, None)] * m
    fit = minimize(loss_and_grad, np.zeros(m + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    return math.exp(-float(fit.x[0])), torch.as_tensor(fit.x[1:])


def resolve_prior(prior: Any, labels: torch.Tensor, classes: np.ndarray) -> Prior:
    """The checked prior of the classes present, aligned with ``labels`` (codes 0..M-1 of ``classes``).

    ``None``: the label frequencies. Otherwise ``prior`` needs one entry per label 0..max(y), mass on
    every class present, and label counts plausible under it (chi-square p >= 1e-6); its entries of
    the classes present are renormalised.
    """
    counts = np.bincount(labels.numpy(), minlength=classes.shape[0])
    if prior is None:
        return as_prior(label_frequencies(labels, classes.shape[0]))
    p = as_prior(prior, int(classes[-1]) + 1).p
    check_prior_covers(p, torch.as_tensor(classes))
    full = np.zeros(p.shape[0], dtype=np.int64)
    full[classes] = counts
    support = p > 0
    if support.sum() >= 2:
        expected = full.sum() * p[support]
        p_value = chisquare(full[support], expected * full[support].sum() / expected.sum()).pvalue
        if p_value < PRIOR_MISMATCH_P:
            raise ValueError(
                f"prior: does not match the label frequencies of y "
                f"({np.round(full / full.sum(), 4).tolist()} vs {np.round(p, 4).tolist()}, "
                f"chi-square p = {p_value:.1e})"
            )
    present = p[classes]
    return as_prior(present / present.sum())


def check_bounds(result: MIEstimate) -> MIEstimate:
    r"""Flag a result outside what :math:`I(X;Y)` allows, :math:`[0, \mathrm{upper\_bound}]`.

    A RuntimeWarning is issued and ``in_bounds`` set False when the value lies outside the range by
    more than ``BOUND_TOLERANCE`` nats (whatever its standard error), is not finite, or when
    :math:`\mathrm{value} \pm z\,\mathrm{stderr}` lies wholly outside it.
    """
    z = float(norm.ppf(0.5 + result.level / 2))
    low, high = result.value - z * result.stderr, result.value + z * result.stderr
    near = -BOUND_TOLERANCE <= result.value <= result.upper_bound + BOUND_TOLERANCE
    if not near or high < 0 or low > result.upper_bound:
        result.in_bounds = False
        warnings.warn(
            f"estimate_mi: {result.value:.4g} +- {z * result.stderr:.4g} nats lies outside "
            f"[0, {result.upper_bound:.4f}] (the range of I(X;Y)); the classifier did not fit (too few "
            "samples or epochs, or too large a learning rate?)",
            RuntimeWarning,
            stacklevel=4,
        )
    return result


def _quantile_normal(xs: torch.Tensor) -> torch.Tensor:
    r"""Each column of ``xs`` replaced, in place, by its normal scores
    :math:`\Phi^{-1}((\mathrm{rank}_i - 1/2) / n)` (ties get their mean rank): a monotone,
    label-free map of each coordinate, so :math:`I(X;Y)` is unchanged, that turns a heavy-tailed or
    bent coordinate into a standard normal one. One column at a time, in about 3 words of memory per
    sample."""
    for column in range(xs.shape[1]):
        xs[:, column] = torch.from_numpy(_normal_scores(xs[:, column].numpy()))
    return xs


def _normal_scores(values: np.ndarray) -> np.ndarray:
    r""":math:`\Phi^{-1}((r_i - 1/2) / n)` of the mean ranks :math:`r_i` of ``values`` (1-D): a tie
    group at sorted positions :math:`a, \dots, b - 1` gets :math:`r = (a + b + 1) / 2`."""
    n = values.shape[0]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    del ordered
    bounds = np.append(np.flatnonzero(first), n)
    mean_rank = 0.5 * (bounds[:-1] + bounds[1:] + 1)
    del bounds
    group = np.cumsum(first, dtype=np.int64)
    del first
    group -= 1
    quantile = mean_rank[group]
    del mean_rank, group
    quantile -= 0.5
    quantile /= n
    ndtri(quantile, out=quantile)
    scores = np.empty(n)
    scores[order] = quantile
    return scores


def _with_batch(settings: _Settings, labels: torch.Tensor, n_folds: int) -> _Settings:
    """``settings`` with the default minibatch when none was given: :func:`default_batch_size` of a
    network's fitting samples with about 16 steps per epoch, at most 512."""
    if settings.batch_size is not None:
        return settings
    n_fit = labels.shape[0] * (1 - 1 / n_folds) * ((1 - settings.val_fraction) if settings.cross_fit else 1)
    return replace(settings, batch_size=default_batch_size(int(n_fit), steps=16, largest=512))


def _check_splits(labels: torch.Tensor, n_folds: int, settings: _Settings) -> None:
    """Refuse, before any training, folds too small to split: every class needs ``n_folds`` samples,
    and with cross-fitting every fold's training part needs a non-empty validation and fitting split."""
    if np.any(np.bincount(labels.numpy()) < n_folds):
        raise ValueError(f"y: every class present needs at least n_folds={n_folds} samples")
    if settings.cross_fit:
        check_validation_splits(labels.numpy(), n_folds, settings.val_fraction)


def _fit_and_score(
    xs: torch.Tensor, labels: torch.Tensor, held: np.ndarray, p: Prior, seed: int, settings: _Settings,
    description: str,
) -> tuple[np.ndarray, np.ndarray, float, float, TrainingHistory]:
    r"""Train on the samples outside ``held`` and return, for the held samples, the per-sample scores
    :math:`\log q_y(x)`, whether the argmax posterior is right, then the network's optimism (its mean
    score on the samples it fitted minus its mean held-out score), the temperature, and the history.

    With cross-fitting, early stopping and calibration use a stratified ``val_fraction`` of the
    training samples, so the held samples are only scored; otherwise both use the held samples."""
    train = np.flatnonzero(~held)
    if settings.cross_fit:
        inner = stratified_holdout(labels[train].numpy(), settings.val_fraction, seed)
        fit, val = train[~inner], train[inner]
    else:
        fit, val = train, np.flatnonzero(held)
    seed_everything(seed)
    model = mlp(xs.shape[1], p.p.shape[0], settings.hidden)
    lr = settings.lr
    history = train_classifier(
        model, xs[fit], labels[fit],
        loss=settings.method, prior=p if settings.method == "pc-softmax" else None,
        optimizer=lambda params: torch.optim.Adam(params, lr=lr, fused=True),
        epochs=settings.epochs, batch_size=settings.batch_size,
        seed=seed, validation=(xs[val], labels[val]), patience=settings.patience, device=settings.device,
        progress=settings.progress and description,
    )
    temperature, bias = 1.0, None
    if settings.calibrate:
        val_logits = predict_logits(model, xs[val])
        temperature, bias = calibrate_logits(val_logits, labels[val], settings.method, p)
    calibration = (temperature, bias)
    scores, correct = _scores(model, xs, labels, np.flatnonzero(held), calibration, p, settings)
    in_sample = float(_scores(model, xs, labels, fit, calibration, p, settings)[0].mean())
    return scores, correct, in_sample - float(scores.mean()), temperature, history


def _scores(
    model: torch.nn.Module, xs: torch.Tensor, labels: torch.Tensor, rows: np.ndarray,
    calibration: tuple[float, torch.Tensor | None], p: Prior, settings: _Settings,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Per sample of ``rows``: :math:`\log q_y(x)` of the (calibrated) network, and whether its argmax
    posterior is right; in blocks of ``SCORE_BLOCK`` samples."""
    temperature, bias = calibration
    scores, correct = np.empty(rows.shape[0]), np.empty(rows.shape[0], dtype=bool)
    for start in range(0, rows.shape[0], SCORE_BLOCK):
        block = slice(start, start + SCORE_BLOCK)
        logits = predict_logits(model, xs[rows[block]]).double()
        if bias is not None:
            logits = logits / temperature + bias
        y = labels[rows[block]]
        log_q = log_posterior_scores(logits, settings.method, p)
        scores[block] = log_q.gather(1, y[:, None]).squeeze(1)
        posterior = logits + p.log_tensor(logits) if settings.method == "pc-softmax" else logits
        correct[block] = (posterior.argmax(1) == y).numpy()
    return scores, correct


def _cross_fit(
    xs: torch.Tensor, labels: torch.Tensor, p: Prior, settings: _Settings, *, seed: int, n_folds: int,
    repeats: int,
) -> dict[str, Any]:
    """``repeats`` cross-fits over ``n_folds`` stratified folds: every network's held-out scores
    ``per_repeat[r, i]`` (:math:`s_{ri}`), their optimism ``optimism[r, k]`` (:math:`o_{rk}`), and
    per-network records."""
    per_repeat = np.empty((repeats, labels.shape[0]))
    correct = np.empty((repeats, labels.shape[0]), dtype=bool)
    optimism = np.empty((repeats, n_folds))
    record: dict[str, Any] = {"fold_values": [], "fold_accuracies": [], "temperatures": [], "histories": []}
    for repeat in range(repeats):
        split_seed = seed + REPEAT_SEED_STRIDE * repeat
        folds = stratified_folds(labels.numpy(), n_folds, split_seed)
        for fold in range(n_folds):
            held = folds == fold
            s, c, optimism[repeat, fold], temperature, history = _fit_and_score(
                xs, labels, held, p, split_seed + fold, settings,
                f"repeat {repeat + 1}/{repeats}, fold {fold + 1}/{n_folds}",
            )
            per_repeat[repeat, held], correct[repeat, held] = s, c
            record["fold_values"].append(float(s.mean()))
            record["fold_accuracies"].append(float(c.mean()))
            record["temperatures"].append(temperature)
            record["histories"].append(history)
    record["per_repeat"], record["optimism"] = per_repeat, optimism
    record["fold_optimism"] = optimism.ravel().tolist()
    record["accuracy"] = float(correct.mean())
    return record


def _check_settings(
    method: str, *, cross_fit: Any, calibrate: Any, val_fraction: Any, hidden: Any, epochs: Any,
    batch_size: Any, lr: Any, patience: Any, device: Any, progress: Any,
) -> _Settings:
    """Every option that shapes one network, checked by name."""
    return _Settings(
        method=check_choice(method, "method", MI_METHODS),
        cross_fit=check_bool(cross_fit, "cross_fit"),
        calibrate=check_bool(calibrate, "calibrate"),
        val_fraction=check_fraction(val_fraction, "val_fraction"),
        hidden=check_hidden(hidden),
        epochs=check_positive_int(epochs, "epochs"),
        batch_size=None if batch_size is None else check_positive_int(batch_size, "batch_size"),
        lr=check_positive_float(lr, "lr"),
        patience=None if patience is None else check_positive_int(patience, "patience"),
        device=resolve_device(device),
        progress=check_bool(progress, "progress"),
    )


def estimate_mi(
    x: Any,
    y: Any,
    method: str = "pc-softmax",
    *,
    prior: Any = None,
    seed: int = 0,
    n_folds: int = 2,
    cross_fit: bool = True,
    repeats: int = 3,
    calibrate: bool = True,
    val_fraction: float = 0.2,
    level: float = 0.95,
    hidden: int | tuple[int, ...] = (50, 50),
    epochs: int = 100,
    batch_size: int | None = None,
    lr: float = 3e-3,
    patience: int | None = 15,
    device: Any = "auto",
    progress: bool = False,
    transform: str = "quantile",
    extrapolate: bool = True,
    optimism: bool = True,
) -> MIEstimate:
    r"""Estimate :math:`I(X;Y)` in nats, with a standard error, by training an MLP classifier (the paper's
    estimator).

    Procedure (cross-fitting): y is split in ``n_folds`` stratified folds. For each fold a network
    trains on the other folds, minus a stratified ``val_fraction`` of them on which it early-stops
    (``patience``) and, with ``calibrate``, fits a temperature :math:`T > 0` and class biases b
    (:math:`f \to f / T + b`). The fold is then only scored. The whole is done ``repeats`` = R times
    with other fold splits, so every sample is scored by R networks that never saw it, and their
    posteriors are averaged (a bagged ensemble:
    :math:`\mathrm{KL}(p \| \bar q) \le \frac{1}{R}\sum_r \mathrm{KL}(p \| q_r)`, which roughly halved
    the gap on 10 classes in d = 10):

    .. math::

        s_i = \log \frac{1}{R} \sum_r q_r(y_i|x_i) - \log P(y_i), \qquad
        s_{ri} = \log q_r(y_i|x_i) - \log P(y_i),

    with :math:`q_r(y|x) = P(y)\, e^{f_y} / \sum_{y'} P(y') e^{f_{y'}}` (PC-softmax). ``cross_fit=False``
    early-stops and calibrates on the scored fold (optimistic by about :math:`(M + 1) / (2 n_{fold})`
    nats; kept to show the difference).

    Ensemble-size extrapolation (``extrapolate``, R >= 2). Each network's expected KL from the Bayes
    posterior is a part B that every network shares (what the family, the optimiser and early stopping
    leave out) plus a part V that varies from network to network; bagging R networks leaves about
    :math:`B + V / R`. The difference between the bagged score and the networks' mean single score,
    :math:`\bar s_i - \frac{1}{R}\sum_r s_{ri} \approx V (1 - 1/R)`, therefore estimates what more
    networks would still add, and the reported terms are extrapolated to :math:`R \to \infty`:

    .. math::

        t_i = s_i + \frac{s_i - \frac{1}{R}\sum_r s_{ri}}{R - 1}, \qquad
        \mathrm{value} = \frac{1}{n} \sum_i t_i .

    The extrapolated value is no longer a guaranteed lower bound; it removes the V part only, and only
    as far as the R networks' errors are independent (networks of two cross-fits share part of their
    training samples, so part of V stays).

    Optimism correction (``optimism``). What stays is the part of the networks' KL that every network
    shares, and it shows in each network as its optimism: its mean score on the samples it fitted
    minus its mean held-out score, :math:`o_{rk}` for fold k of cross-fit r. For a maximum-likelihood
    fit of p parameters to m samples the held-out score falls short of the best in the family by about
    :math:`p / (2m)` and the in-sample score exceeds it by as much (Akaike, Takeuchi), so the held-out
    gap is half the optimism; early stopping, calibration on other samples and bagging leave a smaller
    share, and the value moves by

    .. math::

        \kappa\, w\, \bar o, \qquad
        w = \frac{\bar o^2}{\bar o^2 + \mathrm{se}(\bar o)^2}, \qquad \kappa = 0.3,

    with :math:`\bar o` the mean of the :math:`R\,n_{folds}` networks' optimism and
    :math:`\mathrm{se}(\bar o)` its standard deviation over them over :math:`\sqrt{R\,n_{folds}}`. The
    weight w shrinks the correction where its network-to-network noise is as large as what it corrects
    (a task the networks fit without optimism) and leaves it whole where they agree. The optimism is
    paired, each network against itself, so it is measured with little noise even at small n.
    :math:`\kappa` is measured, not derived: on 10-class mixtures in d = 2 and 5 (balanced and ratio
    10, shared and per-class covariances; n = 600, 1000, 2000; 48 runs) the optimism tracked the
    bagged gap with correlation 0.91, where the difference to a half-sample rerun (the learning-curve
    correction this replaced) tracked it with 0.32 and over-corrected by up to 0.15 nats at n = 600;
    :math:`\kappa = 0.3` left a mean paired error against the Bayes plug-in of +0.002 nats (worst
    0.029), and on the 30 benchmark tasks at n = 20000 a mean of -0.0002 (worst 0.004). On mixtures
    it was not chosen on (d = 1, 3 and 8; 3, 5 and 10 classes; a cubed x; n = 600 to 10000; 84 runs)
    the worst paired error was 0.033 and the mean absolute error 0.007, kNN's 0.028. Each term
    carries the same share of the shift, so the terms' mean is the value; each cross-fit's value in
    ``model_se`` carries its own networks' correction, so ``stderr`` counts the correction's noise. It
    costs one forward pass over each network's fitting samples.

    ``gap_estimate`` is the total shift applied (value minus the bagged mean, :math:`\ge 0` up to
    noise).

    Uncertainty. ``stderr`` is the square root of the sum of :math:`\mathrm{sampling\_se}^2`,
    :math:`\mathrm{model\_se}^2` and :math:`\mathrm{gap\_estimate}^2`: the noise of the scored terms,
    the network-to-network spread of the cross-fits (with the correction, of each cross-fit's corrected
    value), and, as the order of what the corrections may miss, the size of the corrections themselves.
    ``MIEstimate`` reports each part.

    Assumptions. Without extrapolation the estimate is the Barber-Agakov bound: it equals
    :math:`I(X;Y) - E_x \mathrm{KL}(p(\cdot|x) \| q(\cdot|x))`, so it is unbiased only when the
    classifier's posterior q approximates the Bayes posterior p(y|x); whatever it misses (too little
    data, too small a network, too few epochs) biases it low. The optimism correction removes the part
    of that gap that shows as over-fitting, not what a smooth network cannot represent: where the
    posterior jumps (two overlapping uniform boxes, d = 2 and 3; 24 runs) the value stayed low by
    0.021 nats on average at n = 600 and 1000, 0.016 at 2000 and 0.007 at 10000, its 95 % interval
    covered in 79 % of the runs, and kNN came closer (mean absolute error 0.013 against 0.016).
    Samples must be i.i.d.; with ``prior`` the classes are weighted as given. ``transform="quantile"``
    (the default) replaces each coordinate of x by its normal scores, a monotone map that leaves
    :math:`I(X;Y)` unchanged and makes the estimate the same whether x is written as x, :math:`x^3` or
    :math:`e^x` coordinate by coordinate; on a 10-class mixture in d = 5 with cubed coordinates it
    moved the error from -0.044 to -0.008 nats and changed nothing measurable on Gaussian coordinates.

    Bounds. :math:`0 \le I \le H(Y)` (:math:`\log M` for "softmax", M the number of classes present).
    The intervals' lower end is clipped at 0; ``value`` is never clipped (that would bias averages
    over seeds). A value outside the range by more than ``BOUND_TOLERANCE`` (0.05) nats, or an
    interval wholly outside it, issues a RuntimeWarning and sets ``in_bounds`` False.

    Cost: ``repeats`` x ``n_folds`` trainings of an MLP on
    :math:`(1 - 1/n_{folds})(1 - \mathrm{val\_fraction})\, n` samples for at most ``epochs`` epochs,
    :math:`O(n \cdot \mathrm{epochs} \cdot \mathrm{width}^2)` each, and one forward pass of each
    network over the samples it fitted (minibatches of about 16 steps per epoch, Adam at 3e-3; the
    mean time per task over the benchmark suite, on one CPU thread, is in ``results/bench-mi.json``).
    ``optimism=False`` costs the same and left -0.004 nats on average on the benchmark's tasks at
    n = 20000 (-0.05 at n = 600); ``repeats=1`` costs a third and gives up the extrapolation and the
    model spread. Memory: the scores of :math:`R` networks, :math:`8 R n` bytes, beside transient
    copies of x and y made column by column or in blocks of ``SCORE_BLOCK``
    samples; ``pcsm bench memory`` measures the peak it adds per sample against the 24 bytes per
    sample of x (d = 2) and y (``results/bench-memory.json``).

    Parameters
    ----------
    x : array-like, shape (n, d) or (n,)
        Continuous features (numpy, torch, pandas; missing values are refused). Standardised per column
        in float64, so the estimate does not depend on an offset or scale of x.
    y : array-like, shape (n,)
        Class labels: integers (or integral floats), any values; the M >= 2 distinct values become
        the classes.
    method : {"pc-softmax", "softmax"}
        "pc-softmax" trains and scores with PC-softmax and ``prior``; "softmax" trains with softmax and
        scores the balanced formula :math:`\log \mathrm{softmax}_y f + \log M`, biased by about
        :math:`\log M - H(Y)` when the classes are imbalanced.
    prior : sequence of probabilities or pandas Series, optional
        :math:`P(y)`, one entry per label 0..max(y) (a Series is read by label: its index holds the
        labels, and a label it leaves out gets 0), with mass on every class present and fitting the
        label counts (chi-square p >= 1e-6); default: the label frequencies of y.
    seed : int
        Seeds the fold splits and the networks.
    n_folds : int
        Folds of one cross-fit, >= 2.
    cross_fit : bool
        Early-stop and calibrate on a split of the training folds (True) or on the scored fold.
    repeats : int
        Cross-fits with other splits whose posteriors are averaged, 1 to 1000.
    calibrate : bool
        Fit a temperature and class biases on the validation split.
    val_fraction : float
        Fraction in (0, 1) of each training part held out for early stopping and calibration.
    level : float
        Level in (0, 1) of ``ci``.
    hidden : int or tuple of int
        Hidden layer widths of the MLP (an int is one layer).
    epochs : int
        The most epochs of Adam each network trains.
    batch_size : int or None
        Minibatch size (default: about 16 steps per epoch of a full-size network, 32 to 512).
    lr : float
        Adam's learning rate.
    patience : int or None
        Early stopping after ``patience`` epochs without a lower validation loss (None: never).
    device : "auto", "cpu", "cuda", "cuda:N" or torch.device
        Where to train; "auto" uses the GPU when present.
    progress : bool
        Show a progress bar per network.
    transform : {"quantile", "standardise"}
        Per-coordinate normal scores (default), or only centring and scaling.
    extrapolate : bool
        Extrapolate the bagged terms to infinitely many networks (needs ``repeats`` >= 2).
    optimism : bool
        Correct the value by :math:`\kappa\, w\, \bar o`, the share of the networks' optimism that
        the held-out score misses.

    Returns
    -------
    MIEstimate
        The value, its standard error and interval, and the per-network records.
    """
    settings = _check_settings(
        method, cross_fit=cross_fit, calibrate=calibrate, val_fraction=val_fraction, hidden=hidden,
        epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, device=device, progress=progress,
    )
    check_positive_int(n_folds, "n_folds", minimum=2, maximum=MAX_FOLDS)
    check_positive_int(repeats, "repeats", maximum=MAX_REPEATS)
    seed = check_positive_int(seed, "seed", minimum=0,
                              maximum=MAX_SEED - REPEAT_SEED_STRIDE * repeats - n_folds - 1)
    level = check_fraction(level, "level")
    check_choice(transform, "transform", TRANSFORMS)
    extrapolate = check_bool(extrapolate, "extrapolate")
    optimism = check_bool(optimism, "optimism")
    values, codes, classes = as_samples(x, y)
    if classes.shape[0] < 2:
        raise ValueError(f"y: needs at least 2 distinct classes, got {classes.tolist()}")
    xs = torch.from_numpy(rescaled(values, standardize=True, centre=True)).float()
    del values
    if transform == "quantile":
        xs = _quantile_normal(xs)
    labels = torch.from_numpy(codes)
    p = resolve_prior(prior, labels, classes)
    _check_splits(labels, n_folds, settings)
    xs = xs.to(settings.device)
    record = _cross_fit(xs, labels, p, _with_batch(settings, labels, n_folds), seed=seed, n_folds=n_folds,
                        repeats=repeats)
    return _summarise(record, p, classes, settings, level=level, extrapolate=extrapolate, optimism=optimism,
                      transform=transform)


def _bagged(per_repeat: np.ndarray, extrapolate: bool) -> tuple[float, np.ndarray]:
    r"""The mean of the bagged terms :math:`s_i = \log \frac{1}{R} \sum_r e^{s_{ri}}` of R
    networks' scores ``per_repeat`` (R, n), and the terms themselves, extrapolated to
    :math:`R \to \infty` when asked (R >= 2):
    :math:`s_i + (s_i - \frac{1}{R}\sum_r s_{ri}) / (R - 1)`. Computed in blocks of samples and in
    place, so it needs about two words per sample beside its input."""
    repeats, n = per_repeat.shape
    terms = np.empty(n)
    for start in range(0, n, SCORE_BLOCK):
        block = slice(start, start + SCORE_BLOCK)
        terms[block] = logsumexp(per_repeat[:, block], axis=0)
    terms -= math.log(repeats)
    bagged_mean = terms.mean()
    if extrapolate and repeats >= 2:
        shift = per_repeat.mean(axis=0)
        np.subtract(terms, shift, out=shift)
        shift /= repeats - 1
        terms += shift
    return bagged_mean, terms


def _uncertainty(
    per_repeat: np.ndarray, extrapolate: bool, optimism: np.ndarray | None = None,
) -> dict[str, Any]:
    r"""The reported terms and the parts of the standard error (see :func:`estimate_mi`).

    ``per_repeat`` (R, n) are the networks' held-out scores; ``optimism`` (R, n_folds), when given, their
    in-sample minus held-out scores :math:`o_{rk}`, for the correction :math:`\kappa\, w\, \bar o`
    added to every term and, per cross-fit, :math:`\kappa\, w\, \bar o_r` to its value."""
    bagged_mean, terms = _bagged(per_repeat, extrapolate)
    per_network = per_repeat.mean(axis=1)
    weight = 0.0
    if optimism is not None:
        mean, spread = float(optimism.mean()), float(optimism.std(ddof=1) / math.sqrt(optimism.size))
        weight = mean ** 2 / (mean ** 2 + spread ** 2) if mean ** 2 + spread ** 2 > 0 else 0.0
        terms += OPTIMISM_FACTOR * weight * mean
        per_network = per_network + OPTIMISM_FACTOR * weight * optimism.mean(axis=1)
    repeats, n = per_repeat.shape
    sampling = float(terms.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    model = float(per_network.std(ddof=1) / math.sqrt(repeats)) if repeats > 1 else 0.0
    gap = float(terms.mean() - bagged_mean)
    return {"terms": terms, "sampling_se": sampling, "model_se": model, "gap_estimate": gap,
            "optimism_weight": weight, "stderr": math.sqrt(sampling ** 2 + model ** 2 + gap ** 2)}


def _summarise(
    record: dict[str, Any], p: Prior, classes: np.ndarray, settings: _Settings, *, level: float,
    extrapolate: bool, optimism: bool, transform: str,
) -> MIEstimate:
    """The :class:`MIEstimate` of the (extrapolated) bagged scores, checked against :math:`[0, H(Y)]`."""
    parts = _uncertainty(record["per_repeat"], extrapolate, record["optimism"] if optimism else None)
    value, stderr = float(parts["terms"].mean()), parts["stderr"]
    upper = math.log(classes.shape[0]) if settings.method == "softmax" else p.entropy
    return check_bounds(MIEstimate(
        value=value, stderr=stderr, ci=confidence_interval(value, stderr, level), level=level,
        method=settings.method, accuracy=record["accuracy"], prior=p.p.copy(), upper_bound=upper,
        in_bounds=True, cross_fit=settings.cross_fit, calibrate=settings.calibrate,
        device=str(settings.device), repeats=record["per_repeat"].shape[0],
        sampling_se=parts["sampling_se"], model_se=parts["model_se"], gap_estimate=parts["gap_estimate"],
        mean_optimism=float(record["optimism"].mean()), optimism_weight=parts["optimism_weight"],
        transform=transform, scores=parts["terms"], classes=classes,
        fold_values=record["fold_values"], fold_accuracies=record["fold_accuracies"],
        fold_optimism=record["fold_optimism"],
        temperatures=record["temperatures"], histories=record["histories"],
    ))
