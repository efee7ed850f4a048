"""The Gaussian-mixture MI experiment (the paper's Table 1): configuration checks, tasks run in parallel,
ground truth, aggregation, and the paper's numbers as data.

A task is (setting, dim, n_samples, seed, estimator): n_samples pairs drawn class by class with counts
round(n_samples * P(y)) from the mixture of ``setting``, then one estimator run on them. The same
(setting, dim, n_samples, seed) always draws the same pairs, so every estimator sees the same samples
whichever worker runs it. Settings: the paper's mixture (means 0, +-2*1, +-4*1, identity covariances)
with a uniform ("balanced") or given ("imbalanced", the paper's 1:2:3:4:5) prior, and "long-tail": five
classes with random means, a shared random covariance and a Zipf prior of ratio 100 (:func:`mixture`).

Ground truth: the paper's means lie on one line with identity covariance, so projecting x on that line
loses nothing about y and I(X;Y) is a one-dimensional integral whatever d is (:func:`line_mi`, by
quadrature); elsewhere Monte Carlo with its standard error.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import integrate
from scipy.special import logsumexp
from scipy.stats import norm

from pcsm.core._checks import check_choice, check_positive_int, check_prior
from pcsm.core.baselines import bayes_plugin_mi, knn_mi, mine_mi
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.core.mi import estimate_mi
from pcsm.core.training import set_threads

SETTINGS = ("imbalanced", "balanced", "long-tail")
ESTIMATORS = ("bayes", "pc-softmax", "softmax", "mine", "knn")
PAPER_PRIOR = (1 / 15, 2 / 15, 3 / 15, 4 / 15, 5 / 15)

# Table 1 of the paper (imbalanced setting): accuracies in %, MI in nats.
PAPER_TABLE_1 = pd.DataFrame(
    {
        "dim": [1, 2, 5, 10],
        "acc_softmax": [79.0, 87.0, 93.0, 95.0],
        "acc_pc-softmax": [79.0, 88.0, 95.0, 96.0],
        "gt": [1.02, 1.23, 1.44, 1.48],
        "mine": [0.99, 1.17, 1.27, 1.22],
        "softmax": [1.11, 1.31, 1.41, 1.36],
        "pc-softmax": [0.96, 1.20, 1.31, 1.34],
    }
)


def check_config(
    dims: Sequence[int],
    settings: Sequence[str],
    estimators: Sequence[str],
    seeds: Sequence[int],
    imbalanced_prior: Sequence[float],
    sample_sizes: Sequence[int] = (),
    epochs: int = 1,
    batch_size: int = 1,
    patience: int = 1,
    mine_epochs: int = 1,
    n_neighbors: int = 1,
    repeats: int = 1,
    gt_samples: int = 1000,
) -> None:
    """Raise ValueError naming the parameter when a notebook parameter is unusable."""
    for name, values in [("dims", dims), ("settings", settings), ("estimators", estimators),
                         ("seeds", seeds)]:
        if isinstance(values, (str, bytes)) or len(values) == 0:
            raise ValueError(f"{name}: expected a non-empty list, got {values!r}")
    for d in dims:
        check_positive_int(d, "dims")
    for s in settings:
        check_choice(s, "settings", SETTINGS)
    for e in estimators:
        check_choice(e, "estimators", ESTIMATORS)
    for s in seeds:
        check_positive_int(s, "seeds", minimum=0)
    for n in sample_sizes:
        check_positive_int(n, "sample_sizes", minimum=50)
    check_prior(imbalanced_prior, len(PAPER_PRIOR), "imbalanced_prior")
    for name, value in [("epochs", epochs), ("batch_size", batch_size), ("patience", patience),
                        ("mine_epochs", mine_epochs), ("n_neighbors", n_neighbors), ("repeats", repeats)]:
        check_positive_int(value, name)
    check_positive_int(gt_samples, "gt_samples", minimum=1000)


LONG_TAIL_RATIO = 100.0


def zipf_prior(n_classes: int, exponent: float) -> np.ndarray:
    """P(y = k) proportional to (k + 1)^-exponent, k = 0..M-1 (uniform at exponent 0)."""
    check_positive_int(n_classes, "n_classes", minimum=2)
    if not np.isfinite(exponent) or exponent < 0:
        raise ValueError(f"exponent: must be a finite number >= 0, got {exponent}")
    weights = np.arange(1, n_classes + 1, dtype=np.float64) ** -float(exponent)
    return weights / weights.sum()


def long_tail_mixture(dim: int, n_classes: int = 5, ratio: float = LONG_TAIL_RATIO) -> GaussianMixture:
    """M classes in R^dim with a shared covariance and a Zipf prior whose largest/smallest ratio is
    ``ratio``. Means are drawn N(0, I) and scaled to length 2.5; the covariance is Q diag(s) Q^T with
    s log-uniform in [0.5, 2] and Q a random rotation (all from a fixed seed, so I(X;Y) ~ 0.9 nats)."""
    check_positive_int(dim, "dim")
    if not ratio >= 1:
        raise ValueError(f"ratio: must be >= 1, got {ratio}")
    rng = np.random.default_rng(1000 + dim)
    means = rng.standard_normal((n_classes, dim))
    means *= 2.5 / np.linalg.norm(means, axis=1, keepdims=True)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    cov = (q * np.exp(rng.uniform(np.log(0.5), np.log(2.0), dim))) @ q.T
    cov = (cov + cov.T) / 2
    prior = zipf_prior(n_classes, np.log(ratio) / np.log(n_classes))
    return GaussianMixture(means, np.broadcast_to(cov, (n_classes, dim, dim)).copy(), prior)


def mixture(setting: str, dim: int, imbalanced_prior: Sequence[float] = PAPER_PRIOR) -> GaussianMixture:
    """The paper's mixture in R^dim with a uniform ("balanced") or ``imbalanced_prior`` class prior, or
    the "long-tail" mixture of :func:`long_tail_mixture`."""
    check_choice(setting, "setting", SETTINGS)
    if setting == "long-tail":
        return long_tail_mixture(dim)
    if setting == "balanced":
        return paper_mixture(dim, balanced=True)
    return GaussianMixture(paper_mixture(dim, balanced=True).means, priors=imbalanced_prior)


def class_counts(prior: np.ndarray, n_samples: int) -> np.ndarray:
    """round(n_samples * P(y)) samples per class (at least 2 each, so every class can be split)."""
    check_positive_int(n_samples, "n_samples")
    return np.maximum(np.rint(prior * n_samples).astype(np.int64), 2)


def line_projection(g: GaussianMixture) -> np.ndarray | None:
    """Positions t_k of the means along their common line when every covariance is the identity and
    the means are collinear (mu_k = mu_0 + t_k u, |u| = 1); else None. Then u.x | y ~ N(t_y, 1) and the
    rest of x is N(0, I) whatever y is, so I(X;Y) = I(u.X; Y)."""
    if not np.allclose(g.covariances, np.eye(g.dim)):
        return None
    offsets = g.means - g.means[0]
    _, singular, vt = np.linalg.svd(offsets, full_matrices=False)
    if singular.size > 1 and singular[1] > 1e-9 * max(singular[0], 1.0):
        return None
    return offsets @ vt[0]


def line_mi(positions: np.ndarray, prior: np.ndarray) -> tuple[float, float]:
    """I(Z;Y) and the Bayes accuracy for Z | y ~ N(t_y, 1), by adaptive quadrature:

        I = int sum_y P(y) phi(z - t_y) log(phi(z - t_y) / p(z)) dz,   acc = int max_y P(y) phi(z - t_y) dz.
    """
    t, p = np.asarray(positions, dtype=np.float64), check_prior(prior, len(positions))
    keep = p > 0
    t, log_p = t[keep], np.log(p[keep])

    def log_joint(z: float) -> np.ndarray:
        return log_p + norm.logpdf(z - t)

    def mi_density(z: float) -> float:
        lj = log_joint(z)
        log_post = lj - logsumexp(lj)
        return float(np.sum(np.exp(log_post + logsumexp(lj)) * (log_post - log_p)))

    lo, hi, knots = t.min() - 12.0, t.max() + 12.0, np.sort(t)
    mi = integrate.quad(mi_density, lo, hi, points=knots, limit=500, epsabs=1e-12)[0]
    acc = integrate.quad(lambda z: float(np.exp(log_joint(z).max())), lo, hi, points=knots, limit=500)[0]
    return float(mi), float(acc)


def ground_truth(setting: str, dim: int, imbalanced_prior: Sequence[float], n_mc: int) -> dict[str, Any]:
    """I(X;Y) (``gt``), its standard error, the Bayes accuracy, H(Y) and how ``gt`` was computed:
    "quadrature" (standard error 0) when the mixture reduces to a line (:func:`line_projection`),
    else "monte carlo" over ``n_mc`` draws."""
    g = mixture(setting, dim, imbalanced_prior)
    positions = line_projection(g)
    if positions is not None:
        mi, accuracy = line_mi(positions, g.priors)
        se, method = 0.0, "quadrature"
    else:
        mi, se = g.mutual_information(n_mc, seed=12345)
        accuracy, method = g.bayes_accuracy(n_mc, seed=12345), "monte carlo"
    return {"gt": mi, "gt_se": se, "bayes_accuracy": accuracy, "label_entropy": g.label_entropy(),
            "gt_method": method}


def run_task(
    setting: str,
    dim: int,
    n_samples: int,
    seed: int,
    estimators: Sequence[str] = ESTIMATORS,
    imbalanced_prior: Sequence[float] = PAPER_PRIOR,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
) -> list[dict[str, Any]]:
    """Draw one task's samples and run every estimator on them: one row per estimator with the MI
    estimate (nats), its standard error where the estimator gives one (Bayes plug-in, classifiers),
    the classifier accuracy (NaN for estimators without one) and the wall time."""
    g = mixture(setting, dim, imbalanced_prior)
    x, y = g.sample_per_class(class_counts(g.priors, n_samples), seed=seed)
    rows = []
    for name in estimators:
        start = time.perf_counter()
        accuracy = np.nan
        stderr = np.nan
        if name == "bayes":
            value, stderr = bayes_plugin_mi(g, x, y), bayes_plugin_se(g, x, y)
            accuracy = float((g.log_posteriors(x).argmax(1) == y).mean())
        elif name in ("pc-softmax", "softmax"):
            fit = estimate_mi(x, y, name, prior=g.priors, seed=seed, **(training or {}))
            value, accuracy, stderr = fit.value, fit.accuracy, fit.stderr
        elif name == "mine":
            value = mine_mi(x, y, seed=seed, **(mine or {})).value
        else:
            value = knn_mi(x, y, n_neighbors=n_neighbors)
        rows.append({"setting": setting, "dim": dim, "n_samples": int(len(y)), "seed": seed,
                     "estimator": name, "mi": value, "mi_se": stderr, "accuracy": accuracy,
                     "seconds": time.perf_counter() - start})
    return rows


def bayes_plugin_se(g: GaussianMixture, x: np.ndarray, y: np.ndarray) -> float:
    """Analytic standard error of the Bayes plug-in: std_i(log p(y_i|x_i) - log P(y_i)) / sqrt(n)."""
    terms = g.log_posteriors(x)[np.arange(len(y)), y] - np.log(g.priors[y])
    return float(terms.std(ddof=1) / np.sqrt(len(y)))


@dataclass(frozen=True)
class Task:
    """One estimator on one draw: the unit of parallel work."""

    setting: str
    dim: int
    n_samples: int
    seed: int
    estimator: str


def make_tasks(
    settings: Sequence[str], dims: Sequence[int], seeds: Sequence[int], estimators: Sequence[str],
    n_samples: int | dict[str, int],
) -> list[Task]:
    """Every (setting, dim, seed, estimator), with ``n_samples`` per setting (an int for all)."""
    sizes = n_samples if isinstance(n_samples, dict) else {s: n_samples for s in settings}
    return [Task(s, d, sizes[s], seed, e)
            for s in settings for d in dims for seed in seeds for e in estimators]


def default_jobs() -> int:
    """Worker processes for :func:`run_tasks`: the ``PCSM_JOBS`` environment variable, else 2."""
    raw = os.environ.get("PCSM_JOBS", "2")
    try:
        return check_positive_int(int(raw), "PCSM_JOBS")
    except ValueError as error:
        raise ValueError(f"PCSM_JOBS: expected a positive integer, got {raw!r}") from error


def _run_one(index: int, task: Task, options: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Run one task in a worker with one torch thread (fastest for small MLPs on a shared CPU)."""
    set_threads(1)
    return index, run_task(task.setting, task.dim, task.n_samples, task.seed, [task.estimator], **options)


def run_tasks(
    tasks: Sequence[Task],
    n_jobs: int | None = None,
    *,
    imbalanced_prior: Sequence[float] = PAPER_PRIOR,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
    progress: bool = True,
) -> pd.DataFrame:
    """Run independent tasks in ``n_jobs`` worker processes (joblib, loky backend; default
    :func:`default_jobs`), printing a line per finished task. Rows come back in the order of ``tasks``;
    each task seeds itself, so the numbers equal a serial run's (``n_jobs=1``)."""
    n_jobs = default_jobs() if n_jobs is None else check_positive_int(n_jobs, "n_jobs")
    if not tasks:
        raise ValueError("tasks: expected at least one task")
    options = {"imbalanced_prior": imbalanced_prior, "training": training, "mine": mine,
               "n_neighbors": n_neighbors}
    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    results: dict[int, list[dict[str, Any]]] = {}
    for done, (index, rows) in enumerate(parallel(delayed(_run_one)(i, t, options)
                                                  for i, t in enumerate(tasks)), start=1):
        results[index] = rows
        if progress:
            t, row = tasks[index], rows[0]
            print(f"[{done}/{len(tasks)}] {t.setting} d={t.dim} n={t.n_samples} seed={t.seed} "
                  f"{t.estimator}: {row['mi']:.4f} nats in {row['seconds']:.1f} s", flush=True)
    return pd.DataFrame([row for i in range(len(tasks)) for row in results[i]])


def summarize(rows: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of each estimator's MI and accuracy per (setting, dim, n_samples), with
    the ground truth beside it and the error (mean - gt)."""
    keys = ["setting", "dim", "n_samples", "estimator"]
    out = rows.groupby(keys, sort=False).agg(
        mi_mean=("mi", "mean"), mi_std=("mi", "std"), accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"), seconds=("seconds", "mean"), n_seeds=("seed", "nunique"),
    ).reset_index()
    out = out.merge(truth, on=["setting", "dim"], how="left")
    out["error"] = out["mi_mean"] - out["gt"]
    return out


def paired_with_bayes(rows: pd.DataFrame) -> pd.DataFrame:
    """Each estimator minus the Bayes plug-in on the same draw, then the mean and standard error
    (SD / sqrt(seeds)) of that difference per (setting, dim, n_samples, estimator). The sampling noise
    the two share cancels, so what is left is the estimator's own error."""
    keys = ["setting", "dim", "n_samples", "seed"]
    bayes = rows[rows.estimator == "bayes"].set_index(keys)["mi"]
    if bayes.empty:
        raise ValueError("rows: no 'bayes' rows to pair with")
    others = rows[rows.estimator != "bayes"].join(bayes.rename("bayes_mi"), on=keys)
    others = others.assign(difference=others["mi"] - others["bayes_mi"])
    out = others.groupby(["setting", "dim", "n_samples", "estimator"], sort=False).agg(
        mean_difference=("difference", "mean"), sd=("difference", "std"), n_seeds=("seed", "nunique"),
    ).reset_index()
    out["se_difference"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out.drop(columns="sd")


def compare_with_paper(summary: pd.DataFrame) -> pd.DataFrame:
    """Our imbalanced results beside Table 1 of the paper: one row per (dim, quantity) with the
    paper's value, ours (accuracies in %) and ours - paper."""
    ours = summary[summary["setting"] == "imbalanced"].drop_duplicates(["dim", "estimator"], keep="last")
    records = []
    for _, paper_row in PAPER_TABLE_1.iterrows():
        dim = int(paper_row["dim"])
        at = ours[ours["dim"] == dim].set_index("estimator")
        if at.empty:
            continue
        for column in PAPER_TABLE_1.columns.drop("dim"):
            if column == "gt":
                value = float(at["gt"].iloc[0])
            elif column.startswith("acc_"):
                est = column.removeprefix("acc_")
                value = 100 * float(at.loc[est, "accuracy_mean"]) if est in at.index else np.nan
            else:
                value = float(at.loc[column, "mi_mean"]) if column in at.index else np.nan
            records.append({"dim": dim, "quantity": column, "paper": float(paper_row[column]),
                            "ours": value, "difference": value - float(paper_row[column])})
    return pd.DataFrame(records)
