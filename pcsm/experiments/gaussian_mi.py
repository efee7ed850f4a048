"""The Gaussian-mixture MI experiment (the paper's Table 1): configuration checks, one task -> rows,
aggregation, and the paper's numbers as data.

A task is (setting, dim, n_samples, seed): n_samples pairs drawn class by class with counts
round(n_samples * P(y)) from the paper's mixture (means 0, +-2*1, +-4*1, identity covariances), the prior
uniform ("balanced") or given ("imbalanced", the paper's 1:2:3:4:5). Every estimator sees the same pairs.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from pcsm.core._checks import check_choice, check_positive_int, check_prior
from pcsm.core.baselines import bayes_plugin_mi, knn_mi, mine_mi
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.core.mi import estimate_mi

SETTINGS = ("imbalanced", "balanced")
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
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")


def mixture(setting: str, dim: int, imbalanced_prior: Sequence[float] = PAPER_PRIOR) -> GaussianMixture:
    """The paper's mixture in R^dim with a uniform ("balanced") or ``imbalanced_prior`` class prior."""
    check_choice(setting, "setting", SETTINGS)
    if setting == "balanced":
        return paper_mixture(dim, balanced=True)
    return GaussianMixture(paper_mixture(dim, balanced=True).means, priors=imbalanced_prior)


def class_counts(prior: np.ndarray, n_samples: int) -> np.ndarray:
    """round(n_samples * P(y)) samples per class (at least 2 each, so every class can be split)."""
    check_positive_int(n_samples, "n_samples")
    return np.maximum(np.rint(prior * n_samples).astype(np.int64), 2)


def ground_truth(setting: str, dim: int, imbalanced_prior: Sequence[float], n_mc: int) -> dict[str, float]:
    """Monte Carlo I(X;Y), its standard error, Bayes accuracy and H(Y) of one mixture."""
    g = mixture(setting, dim, imbalanced_prior)
    mi, se = g.mutual_information(n_mc, seed=12345)
    return {"gt": mi, "gt_se": se, "bayes_accuracy": g.bayes_accuracy(n_mc, seed=12345),
            "label_entropy": g.label_entropy()}


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
    estimate (nats), the classifier accuracy (NaN for estimators without one) and the wall time."""
    g = mixture(setting, dim, imbalanced_prior)
    x, y = g.sample_per_class(class_counts(g.priors, n_samples), seed=seed)
    rows = []
    for name in estimators:
        start = time.perf_counter()
        accuracy = np.nan
        if name == "bayes":
            value = bayes_plugin_mi(g, x, y)
            accuracy = float((g.log_posteriors(x).argmax(1) == y).mean())
        elif name in ("pc-softmax", "softmax"):
            fit = estimate_mi(x, y, name, prior=g.priors, seed=seed, **(training or {}))
            value, accuracy = fit.value, fit.accuracy
        elif name == "mine":
            value = mine_mi(x, y, seed=seed, **(mine or {})).value
        else:
            value = knn_mi(x, y, n_neighbors=n_neighbors)
        rows.append({"setting": setting, "dim": dim, "n_samples": int(len(y)), "seed": seed,
                     "estimator": name, "mi": value, "accuracy": accuracy,
                     "seconds": time.perf_counter() - start})
    return rows


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
