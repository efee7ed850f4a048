"""`pip install pcsm` brings the estimator library (torch, numpy, scipy and their own dependencies), not
the book; the book's layers say which extra they need; the `pcsm` console script runs every subcommand."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import setuptools
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pcsm import __main__ as cli
from pcsm.book import runner
from pcsm.experiments import bench, parallel
from pcsm.experiments.results import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def extra_names(extra: str) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"][extra]}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python -m build` makes from a copy of the sources (no build/ folder in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "pcsm", source / "pcsm", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(source / "dist"), str(source)],
                   check=True, capture_output=True, text=True)
    (built,) = (source / "dist").glob("pcsm-*.whl")
    return built


@pytest.mark.slow
def test_plain_install_brings_the_core_and_nothing_of_the_book(wheel: Path, tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                    "--report", str(report_file), str(wheel)], check=True, capture_output=True, text=True)
    report = json.loads(report_file.read_text())
    installed = {canonicalize_name(item["metadata"]["name"]) for item in report["install"]}
    requested = {canonicalize_name(item["metadata"]["name"]) for item in report["install"] if item["requested"]}
    assert requested == {"pcsm"}
    assert {"torch", "numpy", "scipy"} <= installed
    book_only = (extra_names("book") | extra_names("test")) - {"joblib"}  # joblib: scikit-learn needs it too
    assert not installed & book_only, f"a plain install brings the book's packages: {sorted(installed & book_only)}"
    assert "jupyter-book" not in installed and "pandas" not in installed


def test_wheel_declares_the_console_script_and_the_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "pcsm = pcsm.__main__:main" in entry_points
    assert {"Provides-Extra: book", "Provides-Extra: test"} <= set(metadata.splitlines())
    assert "Requires-Python: >=3.11" in metadata
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert {"pcsm", "pcsm/core", "pcsm/experiments", "pcsm/book"} <= packages


def test_wheel_lists_every_subpackage_of_the_repository() -> None:
    """`[tool.setuptools] packages` is written by hand, and a package it leaves out is missing from the
    wheel (an installed book then fails on import): it must name every package under pcsm/."""
    listed = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = setuptools.find_packages(where=str(REPO_ROOT), include=["pcsm", "pcsm.*"])
    assert sorted(listed) == sorted(found), (
        f"pyproject.toml [tool.setuptools] packages lacks {sorted(set(found) - set(listed))} "
        f"and lists {sorted(set(listed) - set(found))} that is no package")


@pytest.mark.parametrize("layer, absent", [("pcsm.book", "papermill"), ("pcsm.experiments", "pandas"),
                                           ("pcsm.book", "seaborn")])
def test_book_layers_without_the_extra_name_it(layer: str, absent: str) -> None:
    """A missing package of the book extra (simulated: sys.modules[name] = None) makes the import fail
    with the install command, while `from pcsm import estimate_mi` still works."""
    code = (f"import sys; sys.modules[{absent!r}] = None\n"
            "from pcsm import estimate_mi\n"
            f"import {layer}\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError") and "pip install 'pcsm[book]'" in last and absent in last, last


def console_script() -> Path:
    script = Path(sys.executable).with_name("pcsm")
    assert script.is_file(), f"{script} is missing: the console script is installed by `make setup`"
    return script


def test_console_script_offers_every_subcommand() -> None:
    result = subprocess.run([str(console_script()), "--help"], capture_output=True, text=True, check=True)
    for command in ("run", "validate", "bench", "claims", "mutants"):
        assert command in result.stdout
    assert result.stdout.startswith("usage: pcsm ")


def test_console_script_refuses_bad_bench_arguments_before_running(tmp_path: Path) -> None:
    for arguments, named in ((["--output", str(tmp_path)], "--output"), (["--jobs", "0"], "--jobs")):
        result = subprocess.run([str(console_script()), "bench", "mi", *arguments], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 2 and named in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())


def test_scheduler_that_does_not_answer_stops_the_run_before_any_notebook(monkeypatch, capsys) -> None:
    monkeypatch.delenv(parallel.SCHEDULER_ENV, raising=False)
    monkeypatch.setattr(runner, "run", lambda *args: pytest.fail("a notebook ran"))
    with pytest.raises(SystemExit) as stop:
        cli.main(["run", "01-bound", "--scheduler", "tcp://127.0.0.1:9"])
    assert stop.value.code == 2
    assert "tcp://127.0.0.1:9" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["run", "01-bound"], ["bench", "mi", "--quick"]])
def test_scheduler_reaches_the_runs_through_pcsm_scheduler(monkeypatch, argv: list[str]) -> None:
    """--scheduler ADDRESS: checked to answer, then PCSM_SCHEDULER (which the notebooks' kernels and
    the benchmark's workers read) holds it for the run; without it the runs stay on this machine."""
    seen: list[str | None] = []

    def record(*args) -> int:
        seen.append(os.environ.get(parallel.SCHEDULER_ENV))
        return 0

    class Client:
        def close(self) -> None:
            seen.append("closed")

    # set, then removed, through monkeypatch: its teardown then removes what the CLI itself sets
    monkeypatch.setenv(parallel.SCHEDULER_ENV, "")
    monkeypatch.delenv(parallel.SCHEDULER_ENV)
    monkeypatch.setattr(parallel, "connect", lambda address: Client())
    monkeypatch.setattr(runner, "run", record)
    monkeypatch.setattr(bench, "main", record)
    assert cli.main([*argv, "--scheduler", "tcp://10.0.0.5:8786"]) == 0
    assert seen == ["closed", "tcp://10.0.0.5:8786"]
    monkeypatch.delenv(parallel.SCHEDULER_ENV)
    assert cli.main(argv) == 0
    assert seen[-1] is None
    monkeypatch.undo()
    assert parallel.SCHEDULER_ENV not in os.environ  # nothing leaks into the tests that follow
