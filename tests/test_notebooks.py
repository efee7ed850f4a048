"""Every notebook of the book: declared consistently, executes on the smoke profile, and the committed
executed copies are current (same code, same parameters) and pass nbval's checked cells."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pcsm.book import runner
from pcsm.experiments.results import REPO_ROOT

PLAN = runner.load_plan()


@pytest.mark.parametrize("name", PLAN)
def test_profiles_set_only_what_they_change(name):
    """A profile holds only values that differ from the record's defaults, so the record is the one home
    of every default and changing a default changes every profile that does not override it."""
    config = PLAN[name].config
    defaults = config().parameters()
    for profile, parameters in config.PROFILES.items():
        same = sorted(k for k, v in parameters.items() if v == defaults[k])
        assert not same, (f"{name}: profile {profile!r} restates the default of {', '.join(same)}; "
                          f"remove it from {config.__name__}.PROFILES[{profile!r}]")


@pytest.mark.slow
def test_every_notebook_runs_on_smoke_profile(tmp_path):
    """The whole pipeline, in book order, as `make book` runs it but on tiny problems."""
    out, results = tmp_path / "out", tmp_path / "results"
    # 02 reads the benchmark report, an input `pcsm bench mi` writes, from the results folder it publishes to
    results.mkdir()
    shutil.copy(REPO_ROOT / "results" / "bench-mi.json", results / "bench-mi.json")
    proc = subprocess.run(
        [sys.executable, "-m", "pcsm", "run", "--profile", "smoke",
         "--output-dir", str(out), "--results-dir", str(results)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"a notebook failed on the smoke profile:\n{proc.stdout}\n{proc.stderr}"
    for name, spec in PLAN.items():
        executed = nbformat.read(out / f"{name}.ipynb", as_version=4)
        errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
                  if o.output_type == "error"]
        assert not errors, name
        missing = [r for r in spec.results if not (results / f"{r}.csv").exists()]
        assert not missing, f"{name} did not write {missing}"


@pytest.mark.parametrize("name", PLAN)
def test_committed_notebook_is_current(name):
    """The book shows outputs of the current code on the published profile: `make book` on a fresh
    clone executes nothing. Re-run `pcsm run` after changing the notebook or what it imports."""
    spec = PLAN[name]
    committed = nbformat.read(spec.path, as_version=4)
    meta = committed.metadata.get("pcsm", {})
    assert meta.get("profile") == spec.published, (
        f"{name}: committed copy was executed on {meta.get('profile')!r}, not its published profile "
        f"{spec.published!r}; run `pcsm run {name}`"
    )
    expected = runner.cache_key(spec, committed, spec.published)
    assert meta.get("cache_key") == expected, (
        f"{name}: code, parameters or pcsm changed since it was executed; run "
        f"`pcsm run {name}` and commit the notebook and results/"
    )
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert all(o.output_type != "error" for o in cell.outputs), f"{name}: an error output"


# Chapters published on a cheap profile are re-executed whole; those on the authors' protocol (tens of
# minutes) are re-validated on a declared subset by `pcsm validate` (tests/test_reproduce.py).
NBVAL_NOTEBOOKS = [name for name, spec in PLAN.items() if spec.published == "default"]
NBVAL_SANITIZE = Path(__file__).with_name("nbval-sanitize.cfg")  # styled tables' random ids


@pytest.mark.slow
@pytest.mark.parametrize("name", NBVAL_NOTEBOOKS)
def test_committed_notebook_passes_nbval(name, tmp_path):
    """Re-execute the committed notebook; cells marked NBVAL_CHECK_OUTPUT must print the same."""
    env = {**os.environ, "PCSM_RESULTS_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-sanitize-with", str(NBVAL_SANITIZE), str(PLAN[name].path)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env,
    )
    assert proc.returncode == 0, f"nbval failed for {name}:\n{proc.stdout[-6000:]}"

