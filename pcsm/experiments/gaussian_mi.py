"""The Gaussian-mixture MI experiment (the paper's Table 1): configuration checks, tasks run in parallel,
ground truth, aggregation, and the paper's numbers as data.

A task is (setting, dim, n_samples, seed, estimator): n_samples pairs drawn class by class with counts
round(n_samples * P(y)) from the mixture of ``setting``, then one estimator run on them. The same
(setting, dim, n_samples, seed) always draws the same pairs, so every estimator sees the same samples
whichever worker runs it. Settings: the paper's mixture (means 0, +-2*1, +-4*1, identity covariances)
with a uniform ("balanced") or given ("imbalanced", the paper's 1:2:3:4:5) prior, and "long-tail": five
classes with random means, a shared random covariance and a Zipf prior of ratio 100 (:func:`mixture`).

Ground truth: the paper's means lie on one line with identity covariance, so projecting x on that line
loses nothing about y and I(X;Y) is a one-dimensional integral whatever d is (by quadrature); elsewhere
Monte Carlo with its standard error. Both are the mixture's own (:meth:`GaussianMixture.mutual_information`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from pcsm.core._checks import check_choice, check_positive_int, check_prior
from pcsm.core.baselines import bayes_plugin_mi, knn_mi, mine_mi
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.core.mi import estimate_mi
from pcsm.core.training import set_threads
from pcsm.experiments import paper
from pcsm.experiments.config import ChapterConfig
from pcsm.experiments.parallel import FROM_ENV, map_runs

SETTINGS = ("imbalanced", "balanced", "long-tail")
ESTIMATORS = ("bayes", "pc-softmax", "softmax", "mine", "knn")


MIN_SAMPLES = 50  # the smallest sample size a task may draw (every class needs a few per fold)


def _check_list(values: Any, name: str, check: Callable[[Any, str], Any]) -> tuple:
    """A non-empty list (or tuple) whose every item passes ``check(item, name)``, as a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or len(values) == 0:
        raise ValueError(f"{name}: expected a non-empty list, got {values!r}")
    return tuple(check(value, name) for value in values)


def _positive(value: Any, name: str) -> int:
    return check_positive_int(value, name)


def _sample_size(value: Any, name: str) -> int:
    return check_positive_int(value, name, minimum=MIN_SAMPLES)


def _seed(value: Any, name: str) -> int:
    return check_positive_int(value, name, minimum=0)


def _setting(value: Any, name: str) -> str:
    return check_choice(value, name, SETTINGS)


def _estimator(value: Any, name: str) -> str:
    return check_choice(value, name, ESTIMATORS)


# How each field of GaussianMIConfig is checked: a scalar check, or ("list", item check).
_FIELD_CHECKS: dict[str, Any] = {
    "dims": ("list", _positive), "settings": ("list", _setting), "seeds": ("list", _seed),
    "estimators": ("list", _estimator), "hidden": ("list", _positive),
    "n_samples_imbalanced": _sample_size, "n_samples_balanced": _sample_size,
    "repeats": _positive, "epochs": _positive, "batch_size": _positive, "patience": _positive,
    "mine_epochs": _positive, "n_neighbors": _positive,
    "gt_samples": lambda value, name: check_positive_int(value, name, minimum=1000),
    "n_jobs": _seed,
    "vs_n_dim": _positive, "vs_n_sizes": ("list", _sample_size), "vs_n_estimators": ("list", _estimator),
    "vs_n_seeds": ("list", _seed),
    "variants_dim": _positive, "variants_n": _sample_size, "variants_seeds": ("list", _seed),
    "wins_dims": ("list", _positive), "wins_sizes": ("list", _sample_size),
    "wins_estimators": ("list", _estimator), "wins_seeds": ("list", _seed),
}


@dataclass(frozen=True)
class GaussianMIConfig(ChapterConfig):
    """The parameters of chapter 02 (its defaults are the notebook's), each checked when the record is
    built: a ``ValueError`` names the first bad one. Lists are kept as tuples."""

    profile: str = "default"  # the profile name shown on the page
    dims: Sequence[int] = (1, 2, 5, 10)  # Table 1's dimensions d
    settings: Sequence[str] = ("imbalanced", "balanced")  # Table 1's priors
    imbalanced_prior: Sequence[float] = (0.0666667, 0.1333333, 0.2, 0.2666667, 0.3333333)  # 1:2:3:4:5
    n_samples_imbalanced: int = 3000  # samples per Table 1 task, imbalanced prior
    n_samples_balanced: int = 2000  # samples per Table 1 task, uniform prior
    seeds: Sequence[int] = (0, 1, 2)  # Table 1's seeds
    estimators: Sequence[str] = ("bayes", "pc-softmax", "softmax", "mine", "knn")
    hidden: Sequence[int] = (100, 100, 100)  # the classifier's hidden layers (the paper's MLP)
    repeats: int = 1  # estimate_mi's re-split cross-fits; 1: one network per fold
    epochs: int = 30  # classifier epochs
    batch_size: int = 100  # classifier and MINE batch size
    patience: int = 10  # epochs without a better validation loss before early stopping
    mine_epochs: int = 30  # MINE's epochs
    n_neighbors: int = 3  # k of the kNN estimator
    gt_samples: int = 200000  # Monte Carlo draws where the truth is not a 1-D integral
    n_jobs: int = 0  # worker processes; 0: PCSM_JOBS (pcsm.experiments.parallel.jobs_from_env)
    vs_n_dim: int = 2  # the mixture whose MI is estimated against the sample size
    vs_n_sizes: Sequence[int] = (500, 2000, 8000)
    vs_n_estimators: Sequence[str] = ("bayes", "pc-softmax", "knn")
    vs_n_seeds: Sequence[int] = (0, 1, 2, 3, 4)
    variants_dim: int = 5  # calibration and cross-fitting switched on and off on this mixture
    variants_n: int = 4000
    variants_seeds: Sequence[int] = (0, 1, 2)
    wins_dims: Sequence[int] = (20, 50, 100)  # "where the classifier wins": the long-tail mixture
    wins_sizes: Sequence[int] = (2000, 8000)
    wins_estimators: Sequence[str] = ("bayes", "pc-softmax", "knn", "mine")
    wins_seeds: Sequence[int] = (0,)

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str):
            raise ValueError(f"profile: expected a name, got {self.profile!r}")
        for name, check in _FIELD_CHECKS.items():
            value = getattr(self, name)
            checked = _check_list(value, name, check[1]) if isinstance(check, tuple) else check(value, name)
            object.__setattr__(self, name, checked)
        prior = check_prior(self.imbalanced_prior, len(paper.PRIOR_TABLE_1), "imbalanced_prior")
        object.__setattr__(self, "imbalanced_prior", tuple(float(p) for p in prior))


    def n_samples(self) -> dict[str, int]:
        """Table 1's sample size per setting."""
        return {"imbalanced": self.n_samples_imbalanced, "balanced": self.n_samples_balanced}

    def training(self) -> dict[str, Any]:
        """``estimate_mi``'s options for the paper's classifier."""
        return {"hidden": tuple(self.hidden), "batch_size": self.batch_size, "patience": self.patience,
                "epochs": self.epochs, "repeats": self.repeats}

    def run_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`run_tasks` for the paper's estimators."""
        mine = {"hidden": tuple(self.hidden), "batch_size": self.batch_size, "patience": self.patience,
                "epochs": self.mine_epochs}
        return {"imbalanced_prior": self.imbalanced_prior, "training": self.training(), "mine": mine,
                "n_neighbors": self.n_neighbors}


check_config = GaussianMIConfig.from_parameters  # the runner's check: the record, or a ValueError naming the parameter


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


def mixture(setting: str, dim: int, imbalanced_prior: Sequence[float] = paper.PRIOR_TABLE_1) -> GaussianMixture:
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


def ground_truth(setting: str, dim: int, imbalanced_prior: Sequence[float], n_mc: int) -> dict[str, Any]:
    """I(X;Y) (``gt``), its standard error, the Bayes accuracy, H(Y) and how ``gt`` was computed, all
    from the mixture (:meth:`GaussianMixture.mutual_information`): "quadrature" (standard error 0) when
    the mixture reduces to a line, else "monte carlo" over ``n_mc`` draws."""
    g = mixture(setting, dim, imbalanced_prior)
    mi, se = g.mutual_information(n_mc, seed=12345)
    accuracy = g.bayes_accuracy(n_mc, seed=12345)
    method = "quadrature" if g.line_reduction() is not None else "monte carlo"
    return {"gt": mi, "gt_se": se, "bayes_accuracy": accuracy, "label_entropy": g.label_entropy(),
            "gt_method": method}


def run_task(
    setting: str,
    dim: int,
    n_samples: int,
    seed: int,
    estimators: Sequence[str] = ESTIMATORS,
    imbalanced_prior: Sequence[float] = paper.PRIOR_TABLE_1,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
) -> list[dict[str, Any]]:
    """Draw one task's samples and run every estimator on them: one row per estimator with the MI
    estimate (nats), its standard error where the estimator gives one (Bayes plug-in, classifiers),
    the classifier accuracy (NaN for estimators without one) and the wall time."""
    g = mixture(setting, dim, imbalanced_prior)
    x, y = g.sample_per_class(class_counts(g.priors, n_samples), seed=seed)
    options = {"prior": g.priors, "training": training, "mine": mine, "n_neighbors": n_neighbors}
    return [{"setting": setting, "dim": dim, "n_samples": int(len(y)), "seed": seed, "estimator": name,
             **run_estimator(name, g, x, y, seed, **options)} for name in estimators]


def run_estimator(
    name: str,
    g: GaussianMixture,
    x: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    prior: Any = None,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
) -> dict[str, float]:
    """One estimator on samples (x, y) of the mixture ``g``: the MI estimate ``mi`` (nats), its standard
    error ``mi_se`` where the estimator gives one (Bayes plug-in, classifiers), the accuracy of the
    Bayes rule or the classifier (NaN otherwise) and the wall time ``seconds``. The classifiers
    ("pc-softmax", "softmax") are ``estimate_mi`` with ``prior`` (None: the label frequencies) and the
    options ``training``; MINE takes ``mine``; kNN ``n_neighbors``."""
    check_choice(name, "estimator", ESTIMATORS)
    start = time.perf_counter()
    accuracy = stderr = np.nan
    if name == "bayes":
        value, stderr = bayes_plugin_mi(g, x, y), bayes_plugin_se(g, x, y)
        accuracy = float((g.log_posteriors(x).argmax(1) == y).mean())
    elif name in ("pc-softmax", "softmax"):
        fit = estimate_mi(x, y, name, prior=prior, seed=seed, **(training or {}))
        value, accuracy, stderr = fit.value, fit.accuracy, fit.stderr
    elif name == "mine":
        value = mine_mi(x, y, seed=seed, **(mine or {})).value
    else:
        value = knn_mi(x, y, n_neighbors=n_neighbors)
    return {"mi": value, "mi_se": stderr, "accuracy": accuracy, "seconds": time.perf_counter() - start}


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


def _run_one(task: Task, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Run one task in a worker with one torch thread (fastest for small MLPs on a shared CPU)."""
    set_threads(1)
    return run_task(task.setting, task.dim, task.n_samples, task.seed, [task.estimator], **options)


def run_tasks(
    tasks: Sequence[Task],
    n_jobs: int = FROM_ENV,
    *,
    imbalanced_prior: Sequence[float] = paper.PRIOR_TABLE_1,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
    scheduler: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run independent tasks through :func:`pcsm.experiments.parallel.map_runs` (``n_jobs`` worker
    processes, default ``PCSM_JOBS``, or the Dask cluster at ``scheduler`` / ``PCSM_SCHEDULER``), with a
    progress bar on stderr. Rows come back in the order of ``tasks``; each task seeds itself, so the
    numbers equal a serial run's (``n_jobs=1``)."""
    if not tasks:
        raise ValueError("tasks: expected at least one task")
    options = {"imbalanced_prior": imbalanced_prior, "training": training, "mine": mine,
               "n_neighbors": n_neighbors}
    results = map_runs(_run_one, [(task, options) for task in tasks], n_jobs=n_jobs, scheduler=scheduler,
                       desc="Gaussian tasks", progress=progress)
    return pd.DataFrame([row for rows in results for row in rows])


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


def error_se(std: Any, n_seeds: Any, gt_se: Any) -> Any:
    """Standard error of an error against the truth, mean over seeds minus I(X;Y):
    sqrt(std^2 / n_seeds + se_gt^2), with ``std`` the SD of the estimates over ``n_seeds`` seeds and
    ``gt_se`` the ground truth's own standard error (numbers or aligned arrays)."""
    return np.hypot(np.asarray(std, dtype=float) / np.sqrt(n_seeds), gt_se)


def worst_error(summary: pd.DataFrame, estimator: str, setting: str = "imbalanced") -> tuple[float, float]:
    """The largest |error| of ``estimator`` over the dimensions of ``setting`` in ``summary`` (of
    :func:`summarize`) and its :func:`error_se`; (NaN, NaN) when the estimator did not run there."""
    part = summary[(summary["setting"] == setting) & (summary["estimator"] == estimator)]
    if part.empty:
        return np.nan, np.nan
    row = part.loc[part["error"].abs().idxmax()]
    return float(abs(row["error"])), float(error_se(row["mi_std"], row["n_seeds"], row["gt_se"]))


def error_by_variant(variants: pd.DataFrame, truth: float) -> pd.DataFrame:
    """Per (cross_fit, calibrate): the mean and SD over seeds of the error (estimate - ``truth``) and
    the mean of the reported standard errors."""
    errors = variants.assign(error=variants["mi"] - truth)
    return errors.groupby(["cross_fit", "calibrate"]).agg(
        error_mean=("error", "mean"), error_sd=("error", "std"), stderr=("mi_se", "mean")).reset_index()


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


def table1_against_paper(summary: pd.DataFrame) -> pd.DataFrame:
    """Our imbalanced results beside Table 1 of the paper: one row per (dim, quantity) with the
    paper's value, ours (accuracies in %) and ours - paper."""
    ours = summary[summary["setting"] == "imbalanced"].drop_duplicates(["dim", "estimator"], keep="last")
    records = []
    for _, paper_row in paper.TABLE_1.iterrows():
        dim = int(paper_row["dim"])
        at = ours[ours["dim"] == dim].set_index("estimator")
        if at.empty:
            continue
        for column in paper.TABLE_1.columns.drop("dim"):
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
