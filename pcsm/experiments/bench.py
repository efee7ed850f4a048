"""Benchmarks (accuracy and wall time, not tests): ``python -m pcsm bench mi [--output FILE]``.

``mi``: every MI estimator on the paper's imbalanced Gaussian tasks (d = 1, 2, 5, 10; 90000 pairs, the
paper's 75000 training + 15000 test samples; one seed, as MINE and kNN take minutes per task on a CPU);
prints |estimate - ground truth| and wall time per estimator and dimension, checks the targets, and
writes everything as JSON.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from pcsm.experiments import gaussian_mi as gx
from pcsm.experiments.results import REPO_ROOT, atomic_write_text
from pcsm.core.training import set_threads

DIMS = (1, 2, 5, 10)
SEEDS = (0,)
N_SAMPLES = 90_000
N_MONTE_CARLO = 1_000_000
DEFAULT_OUTPUT = REPO_ROOT / "results" / "bench-mi.json"


def target_checks(summary: pd.DataFrame) -> dict[str, bool]:
    """The issue's targets: PC-softmax within 0.02 nats of GT and its accuracy within 0.5 points of
    Bayes at every d, closer to GT than MINE at every d, no worse than kNN at d = 10."""
    at = summary.set_index(["dim", "estimator"])
    err = at["abs_error"]
    dims = sorted(summary["dim"].unique())
    return {
        "pc_within_0.02": bool(all(err[d, "pc-softmax"] <= 0.02 for d in dims)),
        "pc_accuracy_within_0.5pt_of_bayes": bool(all(
            100 * (at.loc[(d, "pc-softmax"), "bayes_accuracy"] - at.loc[(d, "pc-softmax"), "accuracy_mean"])
            <= 0.5 for d in dims)),
        "pc_beats_mine": bool(all(err[d, "pc-softmax"] < err[d, "mine"] for d in dims)),
        "pc_no_worse_than_knn_at_max_dim": bool(err[max(dims), "pc-softmax"] <= err[max(dims), "knn"]),
    }


def bench_mi(dims=DIMS, seeds=SEEDS, n_samples: int = N_SAMPLES, n_mc: int = N_MONTE_CARLO) -> dict:
    """Run every estimator on every (dim, seed) task; return rows, a summary and the target checks."""
    set_threads()
    start = time.perf_counter()
    truth = pd.DataFrame([{"setting": "imbalanced", "dim": d,
                           **gx.ground_truth("imbalanced", d, gx.PAPER_PRIOR, n_mc)} for d in dims])
    rows = pd.DataFrame([row for d in dims for s in seeds
                         for row in gx.run_task("imbalanced", d, n_samples, s)])
    summary = gx.summarize(rows, truth)
    summary["abs_error"] = summary["error"].abs()
    return {
        "task": {"setting": "imbalanced", "dims": list(dims), "seeds": list(seeds),
                 "n_samples": n_samples, "n_monte_carlo": n_mc},
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
        "total_seconds": time.perf_counter() - start,
        "summary": summary.to_dict(orient="records"),
        "rows": rows.to_dict(orient="records"),
        "targets": target_checks(summary),
    }


def print_report(report: dict) -> None:
    """|error| (nats), accuracy (%) and seconds per estimator and dimension, then the target checks."""
    summary = pd.DataFrame(report["summary"])
    for column, scale in [("abs_error", 1), ("accuracy_mean", 100), ("seconds", 1)]:
        table = summary.pivot(index="estimator", columns="dim", values=column) * scale
        print(f"\n{column} (mean over seeds {report['task']['seeds']})")
        print(table.round(4).to_string())
    print("\nground truth:", summary.drop_duplicates("dim").set_index("dim")["gt"].round(4).to_dict())
    print("Bayes accuracy %:",
          (100 * summary.drop_duplicates("dim").set_index("dim")["bayes_accuracy"]).round(2).to_dict())
    print("targets:", report["targets"], f"\ntotal {report['total_seconds']:.0f} s")


def main(name: str, output: Path | None = None) -> int:
    """Entry point of ``python -m pcsm bench NAME``: run, print, write JSON; 0 when the targets hold."""
    if name != "mi":
        raise ValueError(f"name: unknown benchmark {name!r}; choose mi")
    report = bench_mi()
    print_report(report)
    path = Path(output) if output else DEFAULT_OUTPUT
    atomic_write_text(path, json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {path}")
    return 0 if all(report["targets"].values()) else 1
