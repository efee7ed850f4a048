"""Benchmark of the MI estimators (accuracy, interval coverage and wall time; not a test):
``pcsm bench mi [--quick] [--output FILE]``.

A seeded suite of Gaussian-mixture tasks of our own, d = 1-10, M = 2-10, balanced and long-tail priors
(max/min ratio 10 and 100), shared and per-class covariances, plus the paper's imbalanced tasks, plus
invariance tasks: a mixture's samples passed through an invertible map of each coordinate
(:math:`x^3`, :math:`e^x`) or with as many pure-noise coordinates appended, which leave I(X;Y) as it
is; n samples per task and seed. Tasks, ground truth (the mixture's own: 1-D quadrature when it reduces
to a line, else Monte Carlo with its standard error) and runs are chapter 02's harness
(:mod:`pcsm.experiments.gaussian_mi`). Estimators on the same samples: the Bayes plug-in (true logits,
the noise floor), the joint kNN estimator (Ross 2014), MINE and ``estimate_mi``. Reported per estimator:
mean |error| on balanced, long-tail, invariance and paper tasks, the mean signed error at d = 10 and over
the invariance tasks, the coverage of the 95 % interval (|estimate - truth| <= 1.96 sqrt(se^2 +
se_truth^2)) and seconds per task on one thread; and a sample-size sweep: one task per group at smaller
n beside the suite's own n (:func:`sweep_tasks`).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from pcsm.core._checks import check_choice, check_positive_int
from pcsm.experiments.gaussian_mi import (
    MIN_SAMPLES,
    Run,
    Task,
    make_runs,
    run_tasks,
    truth_table,
)
from pcsm.experiments.parallel import scheduler_from_env
from pcsm.experiments.results import REPO_ROOT, atomic_write_text, published_results_dir

DEFAULT_OUTPUT = REPO_ROOT / "results" / "bench-mi.json"
ESTIMATORS = ("bayes", "knn", "mine", "estimate_mi")
N_SAMPLES = 20_000
N_MONTE_CARLO = 400_000
SEEDS = (0, 1)
Z95 = 1.959964
# (n_classes, prior ratio max/min (1 = balanced), covariance): cycled over every dimension.
CONFIGS = (
    (2, 1, "per-class"), (5, 10, "shared"), (10, 100, "per-class"), (10, 1, "shared"), (3, 100, "shared")
)
DIMS = (1, 2, 5, 10)
# (d, warp) of the invariance tasks, each on a 10-class ratio-100 per-class-covariance mixture.
INVARIANCE = ((2, "cube"), (5, "cube"), (2, "exp"), (5, "exp"), (5, "noise"), (8, "noise"))
QUICK_DIMS = (1, 10)
QUICK_CONFIGS = CONFIGS[2:4]
# The sample-size sweep: sizes below the suite's n, one task per group (:func:`sweep_tasks`).
SWEEP_GROUPS = ("balanced", "long-tail", "invariance")
SWEEP_SIZES = (1000, 3000, 10000)
QUICK_SWEEP_SIZES = (1000,)  # 500 leaves a ratio-100 task 2 samples of its rarest class: too few to cross-fit
SWEEP_DIM = 5
SMALL_N = 2000  # the sweep's sizes up to this are held to SMALL_N_WORST
SMALL_N_WORST = 0.03  # nats: the largest |estimate_mi - Bayes plug-in| allowed there, on the same samples
CPU = {"device": "cpu"}  # estimate_mi and MINE with the library's defaults, on one CPU thread


def suite(quick: bool = False) -> list[Task]:
    """The benchmark's tasks: every config at every dimension, the invariance tasks (not when
    ``quick``), then the paper's imbalanced tasks."""
    dims, configs = (QUICK_DIMS, QUICK_CONFIGS) if quick else (DIMS, CONFIGS)
    tasks = [Task("suite", d, m, r, cov, 1000 * d + i) for d in dims
             for i, (m, r, cov) in enumerate(CONFIGS) if (m, r, cov) in configs]
    invariance = [] if quick else [Task("suite", d, 10, 100, "per-class", 1000 * d + 50 + i, warp)
                                   for i, (d, warp) in enumerate(INVARIANCE)]
    return tasks + invariance + [Task("imbalanced", d, task_seed=d) for d in dims]


def sweep_tasks(tasks: Sequence[Task]) -> list[Task]:
    """One task per group of :data:`SWEEP_GROUPS` present in ``tasks``: the one whose d is nearest
    ``SWEEP_DIM``, then with the most classes, then the first."""
    chosen = []
    for group in SWEEP_GROUPS:
        members = [t for t in tasks if t.group == group]
        if members:
            chosen.append(min(members, key=lambda t: (abs(t.dim - SWEEP_DIM), -t.n_classes, tasks.index(t))))
    return chosen


def suite_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per estimator: mean |error| by group, mean signed error at the largest d and over the invariance
    tasks, 95 % coverage, seconds."""
    rows = rows.assign(error=rows["mi"] - rows["gt"])
    rows["covered"] = np.where(rows["mi_se"].notna(), (rows["error"].abs()
                               <= Z95 * np.sqrt(rows["mi_se"] ** 2 + rows["gt_se"] ** 2)), np.nan)
    top = rows["dim"] == rows["dim"].max()
    out = {}
    for name, part in rows.groupby("estimator", sort=False):
        entry = {f"abs_error_{group}": part.loc[part["group"] == group, "error"].abs().mean()
                 for group in ("balanced", "long-tail", "paper", "invariance")}
        entry["signed_error_max_dim"] = part.loc[top[part.index], "error"].mean()
        entry["signed_error_invariance"] = part.loc[part["group"] == "invariance", "error"].mean()
        entry["coverage_95"] = part["covered"].mean()
        entry["seconds_mean"] = part["seconds"].mean()
        entry["seconds_max"] = part["seconds"].max()
        out[name] = entry
    return pd.DataFrame(out).T.rename_axis("estimator").reset_index()


def target_checks(summary: pd.DataFrame, max_seconds: float = 6.0) -> dict[str, bool]:
    """The targets ``estimate_mi`` is held to: mean |error| no worse than kNN on balanced, long-tail and
    invariance tasks, |mean signed error| <= 0.005 at the largest d and over the invariance tasks,
    coverage >= 90 %, <= ``max_seconds`` per task (targets of a group the suite lacks are left out)."""
    at = summary.set_index("estimator")
    ours, knn = at.loc["estimate_mi"], at.loc["knn"]
    checks = {
        "abs_error_balanced_le_knn": bool(ours["abs_error_balanced"] <= knn["abs_error_balanced"]),
        "abs_error_long_tail_le_knn": bool(ours["abs_error_long-tail"] <= knn["abs_error_long-tail"]),
        "signed_error_max_dim_within_0.005": bool(abs(ours["signed_error_max_dim"]) <= 0.005),
        "coverage_95_at_least_0.90": bool(ours["coverage_95"] >= 0.90),
        f"seconds_per_task_at_most_{max_seconds:g}": bool(ours["seconds_mean"] <= max_seconds),
    }
    if pd.notna(ours["abs_error_invariance"]):
        checks["abs_error_invariance_le_knn"] = bool(ours["abs_error_invariance"] <= knn["abs_error_invariance"])
        checks["signed_error_invariance_within_0.005"] = bool(abs(ours["signed_error_invariance"]) <= 0.005)
    return checks


def small_n_check(sweep_rows: pd.DataFrame) -> dict[str, bool]:
    """The small-sample target: on the sweep's runs of at most ``SMALL_N`` samples, ``estimate_mi`` within
    ``SMALL_N_WORST`` nats of the Bayes plug-in on the same samples in every run (empty when the sweep
    has no such size or lacks either estimator)."""
    keys = ["setting", "dim", "task_seed", "warp", "seed", "n_samples"]
    small = sweep_rows[sweep_rows["n_samples"] <= SMALL_N]
    ours, bayes = (small[small["estimator"] == name].set_index(keys)["mi"] for name in ("estimate_mi", "bayes"))
    paired = (ours - bayes).dropna()
    if paired.empty:
        return {}
    return {f"small_n_worst_paired_error_within_{SMALL_N_WORST:g}": bool(paired.abs().max() <= SMALL_N_WORST)}


def _check_sweep_sizes(sizes: Sequence[int], n_samples: int) -> tuple[int, ...]:
    """The sweep's sizes: at least one, each from ``MIN_SAMPLES`` up to below the suite's ``n_samples``."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (list, tuple)) or len(sizes) == 0:
        raise ValueError(f"sweep_sizes: expected a non-empty list of sample sizes, got {sizes!r}")
    return tuple(sorted(check_positive_int(n, "sweep_sizes", minimum=MIN_SAMPLES, maximum=n_samples - 1)
                        for n in sizes))


def bench_mi(
    quick: bool = False,
    seeds: tuple[int, ...] = SEEDS,
    n_samples: int = N_SAMPLES,
    n_mc: int = N_MONTE_CARLO,
    n_jobs: int = 1,
    estimators: tuple[str, ...] = ESTIMATORS,
    scheduler: str | None = None,
    sweep_sizes: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Run every estimator on every (task, seed) of the suite at ``n_samples``, and on the
    :func:`sweep_tasks` at ``sweep_sizes`` (default :data:`SWEEP_SIZES`, :data:`QUICK_SWEEP_SIZES` when
    ``quick``), all in one :func:`~pcsm.experiments.gaussian_mi.run_tasks` (``n_jobs`` worker processes,
    or the Dask cluster at ``scheduler`` / ``PCSM_SCHEDULER``); the sweep's rows at ``n_samples`` are the
    suite's own. Returns the rows, the summary, the targets and the sweep's rows."""
    check_positive_int(n_samples, "n_samples", minimum=100)
    check_positive_int(n_jobs, "n_jobs", minimum=0)
    for name in estimators:
        check_choice(name, "estimators", ESTIMATORS)
    default = QUICK_SWEEP_SIZES if quick else SWEEP_SIZES
    sizes = _check_sweep_sizes(default if sweep_sizes is None else sweep_sizes, n_samples)
    start = time.perf_counter()
    tasks = suite(quick)
    swept = sweep_tasks(tasks)
    options = {"scheduler": scheduler}
    truth = truth_table(tasks, n_mc, n_jobs=n_jobs, progress=True, **options)
    runs = make_runs(tasks, seeds, estimators, n_samples)
    runs += [Run(task, seed, n, name) for n in sizes for task in swept for seed in seeds for name in estimators]
    rows = run_tasks(runs, n_jobs, training=CPU, mine=CPU, **options)
    keys = ["setting", "dim", "task_seed", "warp"]
    rows = rows.merge(truth.drop(columns=[c for c in truth if c not in keys and c in rows]), on=keys, how="left")
    suite_rows = rows.iloc[:len(tasks) * len(seeds) * len(estimators)]
    in_sweep = suite_rows["task_seed"].isin([t.task_seed for t in swept])
    sweep_rows = pd.concat([rows.iloc[len(suite_rows):], suite_rows[in_sweep]], ignore_index=True)
    summary = suite_summary(suite_rows)
    targets = target_checks(summary) if {"estimate_mi", "knn"} <= set(estimators) else {}
    return {
        "suite": {"quick": quick, "seeds": list(seeds), "n_samples": n_samples, "n_monte_carlo": n_mc,
                  "n_tasks": len(tasks), "configs": [list(c) for c in (QUICK_CONFIGS if quick else CONFIGS)],
                  "invariance": [] if quick else [list(c) for c in INVARIANCE],
                  "sweep_sizes": [*sizes, n_samples]},
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch_threads": 1,
                    "n_jobs": n_jobs, "scheduler": scheduler_from_env(scheduler)},
        "total_seconds": time.perf_counter() - start,
        "summary": summary.to_dict(orient="records"),
        "rows": suite_rows.to_dict(orient="records"),
        "targets": {**targets, **small_n_check(sweep_rows)},
        "sweep": sweep_rows.to_dict(orient="records"),
    }


def sweep_errors(report: dict[str, Any]) -> pd.DataFrame:
    """The sample-size sweep of a report: per (group, estimator, n_samples) the mean error against the
    truth over seeds (``error_mean``, nats), its SD over seeds (``error_sd``) and the seed count; a
    ``ValueError`` when the report has no sweep (one written before the benchmark had it)."""
    if not report.get("sweep"):
        raise ValueError("report: no sample-size sweep ('sweep'), it was written before `pcsm bench mi` "
                         "ran one; run `pcsm bench mi` to write results/bench-mi.json again")
    rows = pd.DataFrame(report["sweep"])
    rows = rows.assign(error=rows["mi"] - rows["gt"])
    out = rows.groupby(["group", "estimator", "n_samples"], sort=False).agg(
        error_mean=("error", "mean"), error_sd=("error", "std"), n_seeds=("seed", "nunique")).reset_index()
    order = {name: k for k, name in enumerate((*SWEEP_GROUPS, *ESTIMATORS))}
    by_order = lambda column: column if is_numeric_dtype(column) else column.map(order)
    return out.sort_values(["group", "estimator", "n_samples"], key=by_order, ignore_index=True)


def sweep_headline(sweep: pd.DataFrame) -> dict[str, Any]:
    """The numbers a page quotes from :func:`sweep_errors`: the smallest and largest n
    (``bench_sweep_min_n``, ``bench_sweep_max_n``) and, per group, the mean error of ``estimate_mi`` and
    kNN at each (``bench_sweep_ours_long_tail_min_n``, ..., NaN where one did not run)."""
    smallest, largest = int(sweep["n_samples"].min()), int(sweep["n_samples"].max())
    at = sweep.set_index(["group", "estimator", "n_samples"])["error_mean"]
    numbers: dict[str, Any] = {"bench_sweep_min_n": smallest, "bench_sweep_max_n": largest}
    for group in SWEEP_GROUPS:
        for name, short in (("estimate_mi", "ours"), ("knn", "knn")):
            for end, n in (("min_n", smallest), ("max_n", largest)):
                key = f"bench_sweep_{short}_{group.replace('-', '_')}_{end}"
                numbers[key] = float(at.get((group, name, n), np.nan))
    return numbers


ESTIMATOR_NAMES = {"estimate_mi": "estimate_mi (PC-softmax)", "knn": "kNN (Ross 2014)", "mine": "MINE",
                   "bayes": "Bayes plug-in (true posterior)"}
REPORT_COLUMNS = {
    "abs_error_balanced": "mean |error|, balanced",
    "abs_error_long-tail": "mean |error|, long-tail",
    "abs_error_invariance": "mean |error|, invariance",
    "abs_error_paper": "mean |error|, paper's tasks",
    "signed_error_max_dim": "mean error at d = 10",
    "signed_error_invariance": "mean error, invariance",
    "coverage_95": "95 % interval covers",
}


def read_report(path: Path | None = None) -> dict[str, Any]:
    """A report written by :func:`main` (default: ``bench-mi.json`` among the published results,
    :func:`~pcsm.experiments.results.published_results_dir`); a ``ValueError`` names the file when it is
    missing or not one."""
    path = published_results_dir() / DEFAULT_OUTPUT.name if path is None else path
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a benchmark report ({error}); run `pcsm bench mi`") from error
    if not isinstance(report, dict) or not {"summary", "targets", "suite"} <= set(report):
        raise ValueError(f"{path}: not a benchmark report (no summary, targets and suite); run `pcsm bench mi`")
    return report


def report_table(report: dict[str, Any]) -> pd.DataFrame:
    """The summary for a reader: one row per estimator, errors in nats, coverage in %; the estimators
    without an interval (kNN, MINE) show no coverage. The seconds per task stay in the report (its
    speed target), out of the page."""
    summary = pd.DataFrame(report["summary"]).set_index("estimator")
    table = summary[[c for c in REPORT_COLUMNS if c in summary]].rename(columns=REPORT_COLUMNS)
    if "95 % interval covers" in table:
        table["95 % interval covers"] = 100 * table["95 % interval covers"]
    table.index = [ESTIMATOR_NAMES.get(name, name) for name in table.index]
    return table.rename_axis("estimator").reset_index()


TARGET_TEXT = {
    "abs_error_balanced_le_knn": "mean |error| on balanced tasks no worse than kNN's",
    "abs_error_long_tail_le_knn": "mean |error| on long-tail tasks no worse than kNN's",
    "abs_error_invariance_le_knn": "mean |error| on invariance tasks no worse than kNN's",
    "signed_error_max_dim_within_0.005": "mean error at d = 10 within 0.005 nats",
    "signed_error_invariance_within_0.005": "mean error on invariance tasks within 0.005 nats",
    "coverage_95_at_least_0.90": "the 95 % interval covering the truth in at least 90 % of runs",
    f"small_n_worst_paired_error_within_{SMALL_N_WORST:g}": f"within {SMALL_N_WORST:g} nats of the Bayes "
    f"plug-in in every sweep run of at most {SMALL_N} samples",
}


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers a page quotes from a report: the suite's size, and for ``estimate_mi`` and kNN the
    mean |error| by group, the mean errors at d = 10 and on the invariance tasks, ``estimate_mi``'s
    coverage (%), and :func:`targets_sentence`."""
    suite = report["suite"]
    at = pd.DataFrame(report["summary"]).set_index("estimator")
    numbers: dict[str, Any] = {"bench_tasks": suite["n_tasks"], "bench_seeds": len(suite["seeds"]),
                               "bench_n": suite["n_samples"], "bench_targets": targets_sentence(report)}
    for name, short in (("estimate_mi", "ours"), ("knn", "knn")):
        for column in ("abs_error_balanced", "abs_error_long-tail", "abs_error_invariance", "abs_error_paper",
                       "signed_error_max_dim", "signed_error_invariance"):
            value = at.loc[name, column] if column in at else np.nan  # an older suite lacks a group
            numbers[f"bench_{short}_{column.replace('-', '_')}"] = float(value)
    numbers["bench_paper_tasks_sentence"] = paper_tasks_sentence(at)
    numbers["bench_ours_coverage"] = 100 * float(at.loc["estimate_mi", "coverage_95"])
    return numbers


def paper_tasks_sentence(summary: pd.DataFrame) -> str:
    """How ``estimate_mi`` compares on the paper's own tasks (``summary`` indexed by estimator), computed:
    its mean |error| against kNN's, and its rank among the estimators; '' for a suite without them."""
    if "abs_error_paper" not in summary or summary["abs_error_paper"].isna().all():
        return ""
    errors = summary["abs_error_paper"].dropna()
    ours, knn = float(errors["estimate_mi"]), float(errors["knn"])
    rank = int((errors < ours).sum()) + 1
    place = {1: "the most accurate", len(errors): "the least accurate"}.get(rank, f"number {rank} by accuracy")
    return (f"On the paper's own tasks its mean |error| is {ours:.4f} nats, {'above' if ours > knn else 'below'} "
            f"kNN's {knn:.4f}: {place} of the {len(errors)} estimators there.")


def targets_sentence(report: dict[str, Any]) -> str:
    """How many of ``estimate_mi``'s targets hold, and which do not, as one sentence."""
    targets = report["targets"]
    missed = [TARGET_TEXT.get(name, f"at most {name.rsplit('_', 1)[-1]} s per task")
              for name, held in targets.items() if not held]
    held = len(targets) - len(missed)
    named = "; ".join(TARGET_TEXT.get(name, f"at most {name.rsplit('_', 1)[-1]} s per task") for name in targets)
    if not missed:
        return f"All {len(targets)} targets hold: {named}."
    return f"{held} of the {len(targets)} targets hold ({named}); missed: {'; '.join(missed)}."


def print_report(report: dict[str, Any]) -> None:
    """The summary table (nats, coverage fraction, seconds) and the target checks."""
    summary = pd.DataFrame(report["summary"]).set_index("estimator")
    print(summary.round(4).to_string())
    sweep = sweep_errors(report).pivot(index=["group", "n_samples"], columns="estimator", values="error_mean")
    print("mean error against n:\n" + sweep.round(4).to_string())
    print("targets:", report["targets"], f"\ntotal {report['total_seconds']:.0f} s")


def main(name: str, output: Path | None = None, quick: bool = False, n_jobs: int = 1) -> int:
    """Entry point of ``pcsm bench NAME``: run, print, write JSON; 0 when the targets hold."""
    if name != "mi":
        raise ValueError(f"name: unknown benchmark {name!r}; choose mi")
    report = bench_mi(quick=quick, n_jobs=n_jobs)
    print_report(report)
    path = Path(output) if output else DEFAULT_OUTPUT
    atomic_write_text(path, json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {path}")
    return 0 if all(report["targets"].values()) else 1
