"""CI's re-validation of the book: re-execute every notebook on the profile it was committed with and
compare the fresh result tables with the committed ones within the tolerances of profiles.toml."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from pcsm import runner
from pcsm.results import REPO_ROOT
from pcsm.validate import compare_result_files

PLAN = runner.load_plan()
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", PLAN)
def test_reexecution_reproduces_committed_results(name, tmp_path):
    spec = PLAN[name]
    assert spec.results, f"{name}: declare the result tables it writes (`results = [...]` in profiles.toml)"
    profile = nbformat.read(spec.path, as_version=4).metadata["pcsm"]["profile"]
    fresh = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "pcsm", "run", name, "--profile", profile, "--force",
         "--output-dir", str(tmp_path / "notebooks"), "--results-dir", str(fresh)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"{name} failed on re-execution:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    problems = compare_result_files(fresh, REPO_ROOT / "results", list(spec.results), spec.tolerance)
    assert not problems, f"{name} ({profile}) no longer reproduces its committed results:\n" + "\n".join(
        problems[:40]
    )
