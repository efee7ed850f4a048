"""Benchmark of ``estimate_mi``'s memory (not a test): ``pcsm bench memory [--quick] [--output FILE]``.

Each size runs in a fresh Python process on one thread: a small warm-up call (torch's kernels, the
network's first allocations), then ``estimate_mi`` at d = 2 with one epoch and one repeat; the peak
resident memory it adds is ``ru_maxrss`` after the call minus before it. Over the sizes, a least-squares
line ``growth = constant + slope * n`` separates the per-sample cost (``slope``, bytes) from the fixed
one; the slope is compared with the 24 bytes per sample of the data (float64 x of d = 2, int64 y) and
with the target, at most 4 x that. Epochs do not change the memory; each further repeat keeps one more
row of held-out scores, 8 n bytes (see :func:`pcsm.core.mi.estimate_mi`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pcsm.experiments.results import REPO_ROOT, atomic_write_text

DATA_BYTES_PER_SAMPLE = 24  # float64 x with d = 2, int64 y
TARGET_RATIO = 4  # the per-sample growth may be at most this many times the data
SIZES = (200_000, 1_000_000, 2_000_000)
QUICK_SIZES = (200_000, 1_000_000)

_CHILD = """
import resource, sys
import numpy as np, torch
torch.set_num_threads(1)
from pcsm.core.mi import estimate_mi
n = int(sys.argv[1])
y = np.random.default_rng(0).integers(0, 2, n)
x = np.random.default_rng(1).normal(size=(n, 2)) + y[:, None]
estimate_mi(x[:500], y[:500], epochs=1, repeats=1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
estimate_mi(x, y, epochs=1, repeats=1)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def peak_growth(n_samples: int) -> int:
    """Bytes of peak resident memory one ``estimate_mi`` call on ``n_samples`` samples adds, measured
    in a fresh process (``ru_maxrss`` is in KiB on Linux)."""
    env = {**os.environ, "PCSM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(n_samples)], capture_output=True, text=True,
                         check=True, env=env)
    return int(out.stdout.split()[-1]) * 1024


def growth_line(sizes: tuple[int, ...], growths: list[int]) -> tuple[float, float]:
    """``(constant, slope)`` of the least-squares line ``growth = constant + slope * n``, in bytes."""
    slope, constant = np.polyfit(np.asarray(sizes, dtype=float), np.asarray(growths, dtype=float), 1)
    return float(constant), float(slope)


def bench_memory(quick: bool = False) -> dict[str, Any]:
    """The report: the growth at each size, the fitted constant (MB) and per-sample slope (bytes), its
    ratio to the data's bytes per sample, and whether it meets :data:`TARGET_RATIO`."""
    sizes = QUICK_SIZES if quick else SIZES
    growths = [peak_growth(n) for n in sizes]
    constant, slope = growth_line(sizes, growths)
    return {
        "what": "peak resident memory added by estimate_mi (d = 2, epochs=1, repeats=1), fresh process per size",
        "rows": [{"n_samples": n, "growth_mb": round(g / 1e6, 1)} for n, g in zip(sizes, growths)],
        "constant_mb": round(constant / 1e6, 1),
        "bytes_per_sample": round(slope, 1),
        "data_bytes_per_sample": DATA_BYTES_PER_SAMPLE,
        "ratio_to_data": round(slope / DATA_BYTES_PER_SAMPLE, 2),
        "target_ratio": TARGET_RATIO,
        "meets_target": slope <= TARGET_RATIO * DATA_BYTES_PER_SAMPLE,
    }


def main(output: Path | None = None, quick: bool = False) -> int:
    """Run the benchmark, print it and write it to ``output`` (default ``results/bench-memory.json``)."""
    report = bench_memory(quick)
    for row in report["rows"]:
        print(f"n = {row['n_samples']:>9,}: +{row['growth_mb']:.1f} MB")
    print(f"{report['constant_mb']:.1f} MB + {report['bytes_per_sample']:.1f} bytes per sample: "
          f"{report['ratio_to_data']:.2f} x the data's {DATA_BYTES_PER_SAMPLE} bytes "
          f"(target at most {TARGET_RATIO} x: {'met' if report['meets_target'] else 'missed'})")
    path = output or REPO_ROOT / "results" / "bench-memory.json"
    atomic_write_text(path, json.dumps(report, indent=1) + "\n")
    print(f"written to {path}")
    return 0
