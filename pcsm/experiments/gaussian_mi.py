"""The Gaussian task harness of chapter 02 and ``pcsm bench mi``: tasks, their ground truth, runs in
parallel, aggregation, and the chapter's configuration.

A :class:`Task` says which mixture (chapter 02's settings: the paper's mixture, means 0, +-2*1, +-4*1 and
identity covariances, with a uniform "balanced" or given "imbalanced" prior, and "long-tail"; or a
"suite" mixture of the benchmark) and how x is written (its ``warp``). A :class:`Run` is the unit of
parallel work: (task, seed, n_samples, estimator), n_samples pairs drawn class by class with counts
round(n_samples * P(y)), then one estimator on them; the same (task, seed, n_samples) always draws the
same pairs, so every estimator sees the same samples whichever worker runs it.

Ground truth is the mixture's own (:meth:`GaussianMixture.mutual_information`): the paper's means lie on
one line with identity covariance, so projecting x on that line loses nothing about y and I(X;Y) is a
one-dimensional integral whatever d is (by quadrature); elsewhere Monte Carlo with its standard error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ortho_group

from pcsm.core._checks import check_bool, check_choice, check_positive_float, check_positive_int, check_prior
from pcsm.core.baselines import bayes_plugin_mi, knn_mi, mine_mi
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.core.mi import estimate_mi
from pcsm.core.training import set_threads
from pcsm.experiments import paper
from pcsm.experiments.config import Chapter, ChapterConfig, Metric
from pcsm.experiments.formatting import mean_std_text, number_text
from pcsm.experiments.imbalance import long_tail_prior
from pcsm.experiments.parallel import FROM_ENV, map_runs

SETTINGS = ("imbalanced", "balanced", "long-tail")
ESTIMATORS = ("bayes", "pc-softmax", "softmax", "mine", "knn", "estimate_mi")


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
    "lr": check_positive_float, "optimism": check_bool,
    "mine_epochs": _positive, "n_neighbors": _positive,
    "gt_samples": lambda value, name: check_positive_int(value, name, minimum=1000),
    "n_jobs": _seed,
    "vs_n_dim": _positive, "vs_n_sizes": ("list", _sample_size), "vs_n_estimators": ("list", _estimator),
    "vs_n_seeds": ("list", _seed),
    "variants_dim": _positive, "variants_n": _sample_size, "variants_seeds": ("list", _seed),
    "wins_dims": ("list", _positive), "wins_sizes": ("list", _sample_size),
    "wins_estimators": ("list", _estimator), "wins_seeds": ("list", _seed),
    "authors_n_samples": lambda value, name: check_positive_int(value, name, minimum=1000),
    "authors_draws": _positive, "recipe_lrs": ("list", check_positive_float), "recipe_seeds": ("list", _seed),
    "recipe_epochs": _positive,
}


@dataclass(frozen=True)
class GaussianMIConfig(ChapterConfig):
    """The parameters of chapter 02, each checked when the record is built: a ``ValueError`` names the
    first bad one. Lists are kept as tuples."""

    PROFILES = {
        "smoke": {
            "dims": [1], "settings": ["imbalanced"], "n_samples_imbalanced": 300, "n_samples_balanced": 200,
            "seeds": [0], "epochs": 2, "batch_size": 50, "mine_epochs": 2, "gt_samples": 20000,
            "vs_n_dim": 1, "vs_n_sizes": [200, 400], "vs_n_seeds": [0, 1], "variants_n": 400,
            "variants_seeds": [0], "wins_dims": [20], "wins_sizes": [1000],
            "wins_estimators": ["bayes", "pc-softmax", "knn"], "authors_n_samples": 5000, "authors_draws": 1,
            "recipe_seeds": [0], "recipe_epochs": 2,
        },
        # the paper's sample sizes (test set one fifth), networks and epochs
        "paper": {
            "n_samples_imbalanced": 90000, "n_samples_balanced": 60000, "epochs": 100, "batch_size": 2000,
            "patience": 20, "mine_epochs": 100, "gt_samples": 1000000,
            "vs_n_sizes": [1000, 3000, 10000, 30000, 90000], "variants_n": 20000,
            "variants_seeds": [0, 1, 2, 3, 4],
            "wins_sizes": [2000, 8000, 20000],  # kNN at d = 100 takes 45 s at n = 20000; more is not affordable
            "wins_seeds": [0, 1],
        },
    }

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
    lr: float = 1e-3  # the classifier's Adam learning rate (the paper's)
    optimism: bool = False  # estimate_mi's optimism correction; off: the paper's plain bound
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
    authors_n_samples: int = 300000  # pairs per fresh draw scoring the authors' released networks
    authors_draws: int = 3  # fresh draws per network
    recipe_lrs: Sequence[float] = (1e-6, 1e-4)  # the authors' recipe retrained: released lr, one that trains
    recipe_seeds: Sequence[int] = (0, 1)  # seeds of the retrained recipe
    recipe_epochs: int = 100  # the released script's epochs

    def __post_init__(self) -> None:
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
                "epochs": self.epochs, "repeats": self.repeats, "lr": self.lr,
                "optimism": self.optimism}

    def run_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`run_tasks` for the paper's estimators."""
        mine = {"hidden": tuple(self.hidden), "batch_size": self.batch_size, "patience": self.patience,
                "epochs": self.mine_epochs}
        return {"training": self.training(), "mine": mine, "n_neighbors": self.n_neighbors}




LONG_TAIL_RATIO = 100.0  # largest / smallest class of the chapter's "long-tail" mixture
SAMPLE_STREAM = 1000  # a run draws with seed SAMPLE_STREAM * task_seed + seed: tasks' streams stay apart
TRUTH_SEED = 12345  # the Monte Carlo seed of a task's ground truth (plus its task_seed)
WARPS = ("none", "cube", "exp", "noise")
COVARIANCES = ("shared", "per-class")


@dataclass(frozen=True)
class Task:
    """A Gaussian task: which mixture, and how the estimators see x.

    ``setting`` "imbalanced" (the paper's means with ``prior``, None: the paper's 1:2:3:4:5), "balanced"
    (the paper's means, uniform prior), "long-tail" (five random means, a shared random covariance and
    :func:`~pcsm.experiments.imbalance.long_tail_prior` of ratio ``LONG_TAIL_RATIO``), or "suite" (a
    mixture of ``n_classes`` classes, prior ratio ``ratio`` and ``covariance`` drawn from ``task_seed``:
    :meth:`mixture`). ``warp`` is how x is written (:meth:`written`). ``task_seed`` also keeps the
    sample streams of tasks apart (a run draws with seed ``SAMPLE_STREAM * task_seed + seed``).
    """

    setting: str
    dim: int
    n_classes: int | None = None  # "suite" only
    ratio: float | None = None  # "suite" only: largest / smallest class (1: balanced)
    covariance: str | None = None  # "suite" only: "shared" or "per-class"
    task_seed: int = 0
    warp: str = "none"
    prior: tuple[float, ...] | None = None  # "imbalanced" only

    def __post_init__(self) -> None:
        check_choice(self.setting, "setting", (*SETTINGS, "suite"))
        check_positive_int(self.dim, "dim")
        check_positive_int(self.task_seed, "task_seed", minimum=0)
        check_choice(self.warp, "warp", WARPS)
        suite = (self.n_classes, self.ratio, self.covariance)
        given = [value is not None for value in suite]
        if (self.setting == "suite" and not all(given)) or (self.setting != "suite" and any(given)):
            raise ValueError(f"n_classes, ratio, covariance: given for, and only for, setting 'suite'; got "
                             f"{suite} for setting {self.setting!r}")
        if self.setting == "suite":
            check_positive_int(self.n_classes, "n_classes", minimum=2)
            check_choice(self.covariance, "covariance", COVARIANCES)
            if not self.ratio >= 1:
                raise ValueError(f"ratio: must be >= 1, got {self.ratio!r}")
        if self.prior is not None:
            if self.setting != "imbalanced":
                raise ValueError(f"prior: only the 'imbalanced' setting takes one, not {self.setting!r}")
            prior = check_prior(self.prior, len(paper.PRIOR_TABLE_1), "prior")
            object.__setattr__(self, "prior", tuple(float(p) for p in prior))

    @property
    def group(self) -> str:
        """"invariance" (a warped task), "paper" (the paper's imbalanced mixture), "balanced" (uniform
        prior) or "long-tail"."""
        if self.warp != "none":
            return "invariance"
        if self.setting in ("imbalanced", "balanced", "long-tail"):
            return {"imbalanced": "paper"}.get(self.setting, self.setting)
        return "balanced" if self.ratio == 1 else "long-tail"

    def describe(self) -> dict[str, Any]:
        """The task's fields (without the prior) and its group, for a table row."""
        return {name: getattr(self, name) for name in
                ("setting", "dim", "n_classes", "ratio", "covariance", "task_seed", "warp", "group")}

    def mixture(self) -> GaussianMixture:
        """The task's mixture (see the class docstring; "long-tail" and "suite" in :func:`_random_mixture`)."""
        if self.setting == "balanced":
            return paper_mixture(self.dim, balanced=True)
        if self.setting == "imbalanced":
            return GaussianMixture(paper_mixture(self.dim, balanced=True).means,
                                   priors=self.prior or paper.PRIOR_TABLE_1)
        if self.setting == "long-tail":
            return _long_tail_mixture(self.dim)
        return _suite_mixture(self)

    def written(self, x: np.ndarray, seed: int) -> np.ndarray:
        """The samples as the estimators see them: x itself, :math:`x^3` or :math:`e^x` per coordinate
        (invertible, so I(X;Y) is unchanged), or x with d standard-normal coordinates appended
        (independent of (X, Y), so I(X;Y) is unchanged)."""
        if self.warp == "cube":
            return x ** 3
        if self.warp == "exp":
            return np.exp(x)
        if self.warp == "noise":
            rng = np.random.default_rng([SAMPLE_STREAM * self.task_seed + seed, 1])
            return np.hstack([x, rng.standard_normal(x.shape)])
        return x

    def ground_truth(self, n_mc: int) -> dict[str, Any]:
        """I(X;Y) (``gt``) with its standard error, the Bayes accuracy, H(Y) and how ``gt`` was computed,
        all from the mixture (:meth:`GaussianMixture.mutual_information`): "quadrature" (SE 0) when it
        reduces to a line, else "monte carlo" over ``n_mc`` draws."""
        g = self.mixture()
        mi, se = g.mutual_information(n_mc, seed=TRUTH_SEED + self.task_seed)
        accuracy = g.bayes_accuracy(n_mc, seed=TRUTH_SEED + self.task_seed)
        method = "quadrature" if g.line_reduction() is not None else "monte carlo"
        return {"gt": mi, "gt_se": se, "bayes_accuracy": accuracy, "label_entropy": g.label_entropy(),
                "gt_method": method}


TRUTH_COLUMNS = ("gt", "gt_se", "bayes_accuracy", "label_entropy", "gt_method")  # of Task.ground_truth


def _long_tail_mixture(dim: int, n_classes: int = 5) -> GaussianMixture:
    """Chapter 02's "long-tail" mixture: means drawn N(0, I) and scaled to length 2.5, one covariance
    Q diag(s) Q^T (s log-uniform in [0.5, 2], Q a random rotation), all from seed 1000 + dim, and the
    prior P(k) proportional to LONG_TAIL_RATIO^(-k / (M - 1)) (I(X;Y) ~ 0.9 nats)."""
    rng = np.random.default_rng(1000 + dim)
    means = rng.standard_normal((n_classes, dim))
    means *= 2.5 / np.linalg.norm(means, axis=1, keepdims=True)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    cov = (q * np.exp(rng.uniform(np.log(0.5), np.log(2.0), dim))) @ q.T
    cov = (cov + cov.T) / 2
    prior = long_tail_prior(n_classes, LONG_TAIL_RATIO)
    return GaussianMixture(means, np.broadcast_to(cov, (n_classes, dim, dim)).copy(), prior)


def _suite_mixture(task: Task) -> GaussianMixture:
    """A "suite" mixture: means ~ N(0, s^2 I / d) with s ~ U(1.5, 3) (pairwise distances about s sqrt 2
    whatever d); covariances R diag(e^u) R^T, R a random rotation, u ~ U(-a, a) with a = 0.7 / sqrt(d),
    per class ("per-class") or one for all ("shared"); the long-tail prior of ``ratio`` with the classes
    in random order; all from ``task_seed``."""
    rng = np.random.default_rng(task.task_seed)
    d, m = task.dim, task.n_classes
    means = rng.standard_normal((m, d)) * rng.uniform(1.5, 3.0) / math.sqrt(d)

    def covariance() -> np.ndarray:
        rotation = ortho_group.rvs(d, random_state=rng) if d > 1 else np.ones((1, 1))
        scales = np.exp(rng.uniform(-1, 1, d) * 0.7 / math.sqrt(d))
        return rotation @ np.diag(scales) @ rotation.T

    shared = covariance()
    covariances = np.stack([covariance() if task.covariance == "per-class" else shared for _ in range(m)])
    covariances = (covariances + np.swapaxes(covariances, 1, 2)) / 2
    return GaussianMixture(means, covariances, rng.permutation(long_tail_prior(m, task.ratio)))


def mixture(setting: str, dim: int) -> GaussianMixture:
    """The mixture of one of chapter 02's settings in R^dim (the paper's prior when "imbalanced")."""
    return Task(setting, dim).mixture()


def class_counts(prior: np.ndarray, n_samples: int) -> np.ndarray:
    """round(n_samples * P(y)) samples per class (at least 2 each, so every class can be split)."""
    check_positive_int(n_samples, "n_samples")
    return np.maximum(np.rint(prior * n_samples).astype(np.int64), 2)


def truth_table(tasks: Sequence[Task], n_mc: int, n_jobs: int = 1, scheduler: str | None = None,
                progress: bool = False) -> pd.DataFrame:
    """One row per task: its :meth:`Task.describe` and :meth:`Task.ground_truth` (computed in parallel
    by :func:`~pcsm.experiments.parallel.map_runs`)."""
    truths = map_runs(_ground_truth, [(task, n_mc) for task in tasks], n_jobs=n_jobs, scheduler=scheduler,
                      desc="ground truths", progress=progress)
    return pd.DataFrame([{**task.describe(), **truth} for task, truth in zip(tasks, truths)])


def _ground_truth(task: Task, n_mc: int) -> dict[str, Any]:
    return task.ground_truth(n_mc)


@dataclass(frozen=True)
class Run:
    """The unit of parallel work: one estimator on ``n_samples`` pairs of a task drawn with ``seed``
    (class by class, round(n_samples * P(y)) each: :func:`class_counts`). The same (task, seed,
    n_samples) always draws the same pairs, so every estimator sees the same samples."""

    task: Task
    seed: int
    n_samples: int
    estimator: str

    def __post_init__(self) -> None:
        check_positive_int(self.seed, "seed", minimum=0)
        check_positive_int(self.n_samples, "n_samples", minimum=MIN_SAMPLES)
        check_choice(self.estimator, "estimator", ESTIMATORS)


def make_runs(tasks: Sequence[Task], seeds: Sequence[int], estimators: Sequence[str],
              n_samples: int | dict[str, int]) -> list[Run]:
    """Every (task, seed, estimator), with ``n_samples`` per setting (an int for all)."""
    sizes = n_samples if isinstance(n_samples, dict) else {t.setting: n_samples for t in tasks}
    return [Run(task, seed, sizes[task.setting], name) for task in tasks for seed in seeds for name in estimators]


def chapter_tasks(settings: Sequence[str], dims: Sequence[int], prior: Sequence[float] | None = None) -> list[Task]:
    """Chapter 02's task of every (setting, dim); ``prior`` is the "imbalanced" setting's."""
    return [Task(s, d, prior=tuple(prior) if s == "imbalanced" and prior is not None else None)
            for s in settings for d in dims]


def run(one: Run, training: dict[str, Any] | None = None, mine: dict[str, Any] | None = None,
        n_neighbors: int = 3) -> dict[str, Any]:
    """Draw the run's samples and run its estimator on them: one row with the task
    (:meth:`Task.describe`), the seed, the requested and the drawn sample size, and
    :func:`run_estimator`'s numbers."""
    task, seed = one.task, one.seed
    g = task.mixture()
    x, y = g.sample_per_class(class_counts(g.priors, one.n_samples), seed=SAMPLE_STREAM * task.task_seed + seed)
    result = run_estimator(one.estimator, g, x, task.written(x, seed), y, seed, training=training, mine=mine,
                           n_neighbors=n_neighbors)
    return {**task.describe(), "seed": seed, "n_samples": one.n_samples, "n_drawn": len(y),
            "estimator": one.estimator, **result}


def run_estimator(
    name: str,
    g: GaussianMixture,
    x: np.ndarray,
    seen: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
) -> dict[str, float]:
    """One estimator on samples (x, y) of the mixture ``g`` whose x it sees written as ``seen``: the MI
    estimate ``mi`` (nats), its standard error ``mi_se`` where the estimator gives one (Bayes plug-in,
    classifiers), the accuracy of the Bayes rule or the classifier (NaN otherwise) and the wall time
    ``seconds``. The Bayes plug-in scores the mixture's own x; "pc-softmax" and "softmax" are
    ``estimate_mi`` with the mixture's prior, "estimate_mi" is PC-softmax with the label frequencies (as
    a user calls it), all three with the options ``training``; MINE takes ``mine``; kNN ``n_neighbors``."""
    check_choice(name, "estimator", ESTIMATORS)
    start = time.perf_counter()
    accuracy = stderr = np.nan
    if name == "bayes":
        value, stderr = bayes_plugin_mi(g, x, y), bayes_plugin_se(g, x, y)
        accuracy = float((g.log_posteriors(x).argmax(1) == y).mean())
    elif name in ("pc-softmax", "softmax", "estimate_mi"):
        method, prior = ("pc-softmax", None) if name == "estimate_mi" else (name, g.priors)
        fit = estimate_mi(seen, y, method, prior=prior, seed=seed, **(training or {}))
        value, accuracy, stderr = fit.value, fit.accuracy, fit.stderr
    elif name == "mine":
        value = mine_mi(seen, y, seed=seed, **(mine or {})).value
    else:
        value = knn_mi(seen, y, n_neighbors=n_neighbors)
    return {"mi": value, "mi_se": stderr, "accuracy": accuracy, "seconds": time.perf_counter() - start}


def bayes_plugin_se(g: GaussianMixture, x: np.ndarray, y: np.ndarray) -> float:
    """Analytic standard error of the Bayes plug-in: std_i(log p(y_i|x_i) - log P(y_i)) / sqrt(n)."""
    terms = g.log_posteriors(x)[np.arange(len(y)), y] - np.log(g.priors[y])
    return float(terms.std(ddof=1) / np.sqrt(len(y)))


def _run_in_worker(one: Run, options: dict[str, Any]) -> dict[str, Any]:
    """:func:`run` in a worker with one torch thread (fastest for small MLPs on a shared CPU)."""
    set_threads(1)
    return run(one, **options)


def run_tasks(
    runs: Sequence[Run],
    n_jobs: int = FROM_ENV,
    *,
    training: dict[str, Any] | None = None,
    mine: dict[str, Any] | None = None,
    n_neighbors: int = 3,
    scheduler: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run independent runs through :func:`pcsm.experiments.parallel.map_runs` (``n_jobs`` worker
    processes, default ``PCSM_JOBS``, or the Dask cluster at ``scheduler`` / ``PCSM_SCHEDULER``), with a
    progress bar on stderr: one row each (:func:`run`), in the order of ``runs``; each run seeds
    itself, so the numbers equal a serial run's (``n_jobs=1``)."""
    if not runs:
        raise ValueError("runs: expected at least one run")
    options = {"training": training, "mine": mine, "n_neighbors": n_neighbors}
    rows = map_runs(_run_in_worker, [(one, options) for one in runs], n_jobs=n_jobs, scheduler=scheduler,
                    desc="Gaussian tasks", progress=progress)
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of each estimator's MI and accuracy per (setting, dim, n_samples), with
    the ground truth (``truth``, of :func:`truth_table`) beside it and the error (mean - gt). Results
    only: the runs' wall times (``rows.seconds``) stay out of it, the chapter's is in its provenance."""
    keys = ["setting", "dim", "n_samples", "estimator"]
    out = rows.groupby(keys, sort=False).agg(
        mi_mean=("mi", "mean"), mi_std=("mi", "std"), accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"), n_seeds=("seed", "nunique"),
    ).reset_index()
    truth = truth[[c for c in ("setting", "dim", *TRUTH_COLUMNS) if c in truth]]
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
    :func:`summarise`) and its :func:`error_se`; (NaN, NaN) when the estimator did not run there."""
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
    paper's value, ours (accuracies in %) and ours - paper. The one place our estimates meet Table 1:
    the chapter shows it, and the summary reads its ground truth and MINE rows."""
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
    return pd.DataFrame(records, columns=["dim", "quantity", "paper", "ours", "difference"])


def table1_headline(summary: pd.DataFrame, estimators: Sequence[str] = ("pc-softmax", "mine", "knn")
                    ) -> dict[str, float]:
    """The numbers chapter 02 quotes about Table 1: each estimator's :func:`worst_error` on the imbalanced
    tasks and its SE (``pc_max_abs_error``, ``pc_max_abs_error_se``, ``mine_...``, ``knn_...``), the
    paper's own largest PC-softmax |error| and the bias plain softmax is predicted to have there,
    log M - H(Y) (``softmax_bias_predicted``)."""
    entropy = summary.loc[summary["setting"] == "imbalanced", "label_entropy"]
    bias = np.log(len(paper.PRIOR_TABLE_1)) - entropy.iloc[0] if len(entropy) else np.nan
    numbers = {"softmax_bias_predicted": float(bias)}
    for name in estimators:
        short = name.replace("-softmax", "")
        numbers[f"{short}_max_abs_error"], numbers[f"{short}_max_abs_error_se"] = worst_error(summary, name)
    numbers["paper_pc_max_abs_error"] = float((paper.TABLE_1["pc-softmax"] - paper.TABLE_1["gt"]).abs().max())
    return numbers


VARIANTS = tuple((cross_fit, calibrate) for cross_fit in (True, False) for calibrate in (True, False))


def run_variants(config: GaussianMIConfig) -> pd.DataFrame:
    """The PC-softmax estimate with cross-fitting and calibration each on and off (:data:`VARIANTS`), on
    the same draws of the imbalanced mixture in ``config.variants_dim`` (``variants_n`` samples,
    ``variants_seeds``): :func:`error_by_variant` against the mixture's truth."""
    task = Task("imbalanced", config.variants_dim, prior=config.imbalanced_prior)
    runs = [Run(task, seed, config.variants_n, "pc-softmax") for seed in config.variants_seeds]
    options = config.run_options()
    variants = []
    for cross_fit, calibrate in VARIANTS:
        training = {**options["training"], "cross_fit": cross_fit, "calibrate": calibrate}
        got = run_tasks(runs, config.n_jobs, **{**options, "training": training})
        variants.append(got.assign(cross_fit=cross_fit, calibrate=calibrate))
    truth = task.ground_truth(config.gt_samples)["gt"]
    return error_by_variant(pd.concat(variants, ignore_index=True), truth)


def variant_error(table: pd.DataFrame, cross_fit: bool, calibrate: bool) -> float:
    """The mean error of one variant in :func:`run_variants`' table."""
    return float(table.loc[(table["cross_fit"] == cross_fit) & (table["calibrate"] == calibrate),
                           "error_mean"].iloc[0])


def wins_headline(summary: pd.DataFrame, estimators: Sequence[str] = ("pc-softmax", "knn", "mine", "bayes")
                  ) -> dict[str, Any]:
    """The numbers chapter 02 quotes from "where the classifier wins" (``summary`` of :func:`summarise`
    on long-tail tasks): the largest d (``wins_max_dim``) and each estimator's error there at the
    largest n with its SD over seeds (``wins_pc_error``, ``wins_pc_error_sd``, ..., NaN for one that
    did not run), the number of seeds, the smallest and largest n, the rarest class's count at the
    smallest n (``wins_rarest``), and the classifier's errors at every n as text
    (``wins_pc_errors_by_n``)."""
    top, smallest, largest = int(summary["dim"].max()), int(summary["n_samples"].min()), int(summary["n_samples"].max())
    at = summary[(summary["dim"] == top) & (summary["n_samples"] == largest)].set_index("estimator")
    numbers: dict[str, Any] = {"wins_max_dim": top, "wins_seeds": int(summary["n_seeds"].min())}
    for name in estimators:
        short = name.replace("-softmax", "")
        numbers[f"wins_{short}_error"] = float(at["error"].get(name, np.nan))
        numbers[f"wins_{short}_error_sd"] = float(at["mi_std"].get(name, np.nan))
    numbers["wins_rarest"] = int(class_counts(mixture("long-tail", top).priors, smallest).min())
    numbers["wins_min_n"], numbers["wins_max_n"] = smallest, largest
    pc = summary[(summary["dim"] == top) & (summary["estimator"] == "pc-softmax")].sort_values("n_samples")
    numbers["wins_pc_errors_by_n"] = ", ".join(
        f"{mean_std_text(error, sd, 3, signed=True)} at n = {n:,}".replace(",", " ")
        for error, sd, n in zip(pc["error"], pc["mi_std"].fillna(0), pc["n_samples"]))
    return numbers


def variants_sentence(table: pd.DataFrame, n_seeds: int) -> str:
    """What :func:`run_variants`' table shows about calibration and cross-fitting, computed: the
    difference of the mean errors with both on and both off, its standard error
    sqrt(sd_on^2 + sd_off^2) / sqrt(n_seeds), and whether it lies beyond 2 SE."""
    rows = table.set_index(["cross_fit", "calibrate"])
    on, off = rows.loc[(True, True)], rows.loc[(False, False)]
    difference = float(on["error_mean"] - off["error_mean"])
    se = float(np.hypot(on["error_sd"], off["error_sd"]) / np.sqrt(n_seeds))
    text = (f"With both off the mean error is {number_text(off['error_mean'], 4, signed=True)} nats; both on "
            f"minus both off is {mean_std_text(difference, se, 4, signed=True)} (standard error over {n_seeds} "
            "seeds), ")
    if abs(difference) <= 2 * se:
        return text + "within 2 SE: on these draws the two features do not change the estimate measurably."
    better = "closer to" if abs(on["error_mean"]) < abs(off["error_mean"]) else "further from"
    return text + f"beyond 2 SE: with both on the estimate lies {better} the truth."


CHAPTER = Chapter(
    config=GaussianMIConfig,
    results=("gaussian-mi", "gaussian-mi-paper", "gaussian-mi-vs-n", "gaussian-mi-wins", "gaussian-mi-authors",
             "gaussian-mi-recipe"),
    timeout=3600,  # the paper profile's Table 1 cell: about 10 min on 2 workers, more on a busy machine
    published="paper",
    inputs=("results/bench-mi.json",),  # the benchmark table it shows (written by `pcsm bench mi`)
    # seed 0 of the imbalanced setting (where softmax and PC-softmax differ) at d = 1 and 10, MINE
    # included (its marginal term is where a wrong prior shows); kNN left out for time (its rows are
    # then not compared); the sweep at its smallest size; the variants and "where the classifier wins"
    # at their smallest (not compared: no metric); the retrained recipe one seed, two epochs
    validate={
        "settings": ["imbalanced"], "dims": [1, 10], "seeds": [0],
        "estimators": ["bayes", "pc-softmax", "softmax", "mine"],
        "vs_n_sizes": [1000], "vs_n_estimators": ["bayes", "pc-softmax"], "vs_n_seeds": [0],
        "variants_seeds": [0], "wins_dims": [20], "wins_sizes": [2000], "wins_estimators": ["bayes", "pc-softmax"],
        "recipe_seeds": [0], "recipe_lrs": [0.0001], "recipe_epochs": 2,
    },
    metrics=(
        Metric(table="gaussian-mi-authors", keys=("kind", "dim"), value="mi", k=0.0, floor=0.002,
               reason="the authors' fixed networks scored on fixed-seed draws: other CPU kernels change float32 "
                      "logits in the last digits only",
               detects="a readout with the wrong prior (the balanced formula for the PC network, or PC-softmax "
                       "for a softmax one: 0.1 nats and more, 50 bounds) or another network file"),
        Metric(table="gaussian-mi", keys=("setting", "dim", "n_samples", "estimator"), value="mi_mean",
               std="mi_std", n="n_seeds", k=3.0, floor=0.01,
               reason="one fresh seed against the committed seeds' spread; 0.01 nats covers a spread "
                      "estimated from 3 seeds",
               detects="a shift above 0.010-0.021 nats: PC-softmax scored with the balanced formula, MINE's "
                       "marginal over a uniform prior (both +log 5 - H(Y) = 0.12 nats on the imbalanced task, "
                       "8 bounds)"),
        Metric(table="gaussian-mi", keys=("setting", "dim", "n_samples", "estimator"), value="accuracy_mean",
               std="accuracy_std", n="n_seeds", where={"estimator": ["pc-softmax", "softmax"]}, k=3.0,
               floor=0.005,
               reason="test accuracy of the trained classifiers (fractions): one fresh seed within the seeds' "
                      "spread"),
        Metric(table="gaussian-mi", keys=("setting", "dim"), value="gt", k=0.0, floor=1e-4,
               reason="ground truth by 1-D quadrature (Table 1 is one-dimensional): identical on every CPU but "
                      "for the last digits"),
        Metric(table="gaussian-mi-vs-n", keys=("setting", "dim", "n_samples", "estimator"), value="mi_mean",
               std="mi_std", n="n_seeds", k=3.0, floor=0.03,
               reason="small samples (1000) spread more; 0.03 nats covers a spread estimated from few seeds"),
    ),
)
