"""CI's cross-machine check of the book: `python -m pcsm validate` re-executes every notebook's
validation subset under other CPU kernels than the committed run used (ATEN_CPU_CAPABILITY=default,
ONEDNN_MAX_CPU_ISA=SSE41) and compares the fresh aggregates with the committed seed spread. One
thread, one process (PCSM_THREADS, PCSM_JOBS): the validation subsets fit about 8 minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pcsm.experiments.results import REPO_ROOT

pytestmark = pytest.mark.slow

OTHER_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}


def test_validation_passes_under_other_cpu_kernels():
    env = {**os.environ, **OTHER_CPU, "PCSM_THREADS": "1", "PCSM_JOBS": "1",
           "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pcsm", "validate"], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env)
    minutes = (time.perf_counter() - started) / 60
    assert proc.returncode == 0, (
        f"the re-execution left the committed seed spread ({minutes:.1f} min):\n"
        f"{proc.stdout}\n{proc.stderr[-4000:]}"
    )
