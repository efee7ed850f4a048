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


def test_the_book_states_what_the_validation_detects():
    """The summary page's power table holds what `python -m pcsm mutants --power` computes now (a
    metric's k or floor changed without re-running 05 fails here), and the reproduce page lists every
    mutant with its least effect."""
    import html

    import nbformat

    from pcsm.book import mutants, summary

    executed = nbformat.read(REPO_ROOT / "notebooks" / "05-results.ipynb", as_version=4)
    [cell] = [c for c in executed.cells if "mutants.power_rows" in c.source]
    shown = html.unescape("".join(o.get("data", {}).get("text/html", "") for o in cell.outputs))
    rows = mutants.power_rows(REPO_ROOT / "results", summary.summarised_chapters())
    stale = [" | ".join(v for v in row if isinstance(v, str)) for row in rows.itertuples(index=False)
             if not all(f">{v}<" in shown for v in row if isinstance(v, str))]
    assert not stale, "05-results shows another validation power; run `pcsm run 05-results --force`:\n" + \
        "\n".join(stale)
    page = (REPO_ROOT / "book" / "reproduce.md").read_text()
    missing = [f"{m.name} ({m.notebook}): {m.effect.why}" for m in mutants.MUTANTS
               if f"{m.name} ({m.notebook}): {m.effect.why}" not in page]
    assert not missing, "book/reproduce.md is stale; paste `python -m pcsm mutants --list`:\n" + "\n".join(missing)
