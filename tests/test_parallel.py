"""Where the independent runs go: PCSM_JOBS parsed once, capped by the runs and the cores; an
unanswered Dask scheduler address refused fast, by name."""

import operator
import os

import pytest

from pcsm.experiments import parallel


def test_jobs_come_from_the_argument_else_pcsm_jobs_else_two(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.delenv("PCSM_JOBS", raising=False)
    assert parallel.jobs_from_env() == parallel.DEFAULT_JOBS == 2
    monkeypatch.setenv("PCSM_JOBS", "5")
    assert parallel.jobs_from_env() == 5
    assert parallel.jobs_from_env(3) == 3


def test_jobs_never_exceed_the_runs_or_the_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setenv("PCSM_JOBS", "64")
    assert parallel.jobs_from_env() == 4
    assert parallel.jobs_from_env(n_tasks=3) == 3
    assert parallel.jobs_from_env(8, n_tasks=0) == 1


@pytest.mark.parametrize("raw", ["two", "0", "-1", "1.5"])
def test_a_bad_pcsm_jobs_is_named(monkeypatch, raw):
    monkeypatch.setenv("PCSM_JOBS", raw)
    with pytest.raises(ValueError, match="^PCSM_JOBS"):
        parallel.jobs_from_env()


@pytest.mark.parametrize("n_jobs", [-1, 1.5, "2", True])
def test_a_bad_n_jobs_is_named(n_jobs):
    with pytest.raises(ValueError, match="^n_jobs"):
        parallel.jobs_from_env(n_jobs)


def test_map_runs_keeps_the_order_of_its_arguments():
    assert parallel.map_runs(operator.sub, [(i, 1) for i in range(7)], n_jobs=2, progress=False) == list(
        range(-1, 6))
    with pytest.raises(ValueError, match="^runs"):
        parallel.map_runs(operator.sub, [])


def test_the_scheduler_comes_from_the_argument_else_pcsm_scheduler(monkeypatch):
    monkeypatch.delenv("PCSM_SCHEDULER", raising=False)
    assert parallel.scheduler_from_env() is None
    monkeypatch.setenv("PCSM_SCHEDULER", " tcp://10.0.0.5:8786 ")
    assert parallel.scheduler_from_env() == "tcp://10.0.0.5:8786"
    assert parallel.scheduler_from_env("tcp://other:1") == "tcp://other:1"
    assert parallel.scheduler_from_env("") is None
    with pytest.raises(ValueError, match="^scheduler"):
        parallel.scheduler_from_env(8786)
