"""CI's cross-machine check of the book: `python -m pcsm validate` re-executes every notebook's
validation subset under other CPU kernels than the committed run used (ATEN_CPU_CAPABILITY=default,
ONEDNN_MAX_CPU_ISA=SSE41) and compares the fresh aggregates with the committed seed spread, one chapter
per test. One thread, one process (PCSM_THREADS, PCSM_JOBS)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pcsm.book.plan import load_plan
from pcsm.book.validate import OTHER_CPU
from pcsm.experiments.results import REPO_ROOT

# one test per chapter, so that the workers of `make test` share them (each chapter's validation reads
# the committed results of the others, as `pcsm validate` without names does); the LeNets of 03 first
CHAPTERS_LONGEST_FIRST = sorted(load_plan(), key=lambda name: name != "03-mnist")


@pytest.mark.slow
@pytest.mark.parametrize("notebook", CHAPTERS_LONGEST_FIRST)
def test_validation_passes_under_other_cpu_kernels(notebook):
    env = {**os.environ, **OTHER_CPU, "PCSM_THREADS": "1", "PCSM_JOBS": "1",
           "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pcsm", "validate", notebook], capture_output=True,
                          text=True, cwd=REPO_ROOT, env=env)
    minutes = (time.perf_counter() - started) / 60
    assert proc.returncode == 0, (
        f"the re-execution left the committed seed spread ({minutes:.1f} min):\n"
        f"{proc.stdout}\n{proc.stderr[-4000:]}"
    )


def test_the_reproduce_page_states_what_the_validation_detects():
    """The page's lists are what `python -m pcsm mutants --power` and `--list` compute now."""
    from pcsm.book import mutants

    page = (REPO_ROOT / "book" / "reproduce.md").read_text()
    stale = [line for line in mutants.power_report(REPO_ROOT / "results").splitlines() if line not in page]
    stale += [f"{m.name} ({m.notebook}): {m.effect.why}" for m in mutants.MUTANTS
              if f"{m.name} ({m.notebook}): {m.effect.why}" not in page]
    assert not stale, "book/reproduce.md is stale; paste `python -m pcsm mutants --power`:\n" + "\n".join(stale)
