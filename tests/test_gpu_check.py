"""scripts/gpu-check (make gpu-check): on a CPU-only machine it says so and runs nothing; on a GPU it
compares the fresh tables with the committed seed spread as `pcsm validate` does."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pcsm.book import runner
from pcsm.book.plan import load_plan
from pcsm.experiments.results import REPO_ROOT, published_results_dir

SCRIPT = REPO_ROOT / "scripts" / "gpu-check"


def load_script():
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_so_and_runs_nothing(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, str(SCRIPT), "--scratch", str(scratch)], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU on this machine" in result.stdout and "nothing run" in result.stdout
    assert not scratch.exists()


@pytest.mark.parametrize("shift, expected", [(0.0, 0), (100.0, 1)])
def test_fresh_tables_are_judged_against_the_committed_spread(monkeypatch, tmp_path, capsys, shift, expected):
    """With the run replaced by a copy of the committed tables (shifted by ``shift`` in every metric's
    value), the check passes on the copy and fails on the shifted copy."""
    name = "02-gaussian-mi"
    spec = load_plan()[name]

    def fake_run(names, profile, output_dir, results_target, force):
        assert names == [name] and profile == "paper" and force
        results_target.mkdir(parents=True)
        for metric in spec.metrics:
            table = pd.read_csv(published_results_dir() / f"{metric.table}.csv")
            table[metric.value] = table[metric.value] + shift
            table.to_csv(results_target / f"{metric.table}.csv", index=False)
        return 0

    monkeypatch.setattr(runner, "run", fake_run)
    assert load_script().check([name], "paper", tmp_path) == expected
    report = capsys.readouterr().out
    assert ("FAILED" in report) == bool(expected), report
