"""CI's re-validation of the book: re-execute every notebook on the profile it was committed with and
compare the fresh result tables with the committed ones within the tolerances of profiles.toml."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from pcsm.book import runner
from pcsm.experiments.results import REPO_ROOT
from pcsm.book.validate import compare_result_files

PLAN = runner.load_plan()
pytestmark = pytest.mark.slow


def test_reexecution_reproduces_committed_results(tmp_path):
    profiles = {nbformat.read(spec.path, as_version=4).metadata["pcsm"]["profile"] for spec in PLAN.values()}
    assert len(profiles) == 1, f"the committed notebooks mix profiles: {profiles}"
    fresh = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "pcsm", "run", "--profile", profiles.pop(), "--force",
         "--output-dir", str(tmp_path / "notebooks"), "--results-dir", str(fresh)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"re-execution failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    problems = []
    for name, spec in PLAN.items():
        assert spec.results, f"{name}: declare the result tables it writes (`results = [...]` in profiles.toml)"
        found = compare_result_files(fresh, REPO_ROOT / "results", list(spec.results), spec.tolerance)
        problems += [f"{name}: {p}" for p in found]
    assert not problems, "re-execution no longer reproduces the committed results:\n" + "\n".join(problems[:60])
