"""Shared fixtures. Tests run torch on one thread: on a busy 2-core machine that is the fast setting."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import torch

from pcsm.experiments.results import REPO_ROOT


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


def _write_tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def write_tree() -> Callable[[Path, Mapping[str, str]], Path]:
    """``write_tree(root, {relative path: text})``: the files written under ``root`` (folders made as
    needed); returns ``root``."""
    return _write_tree


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built once per test session from this checkout (``jupyter-book build``, warnings as
    errors), in a temporary folder: its ``_build/html``. The browser tests and the built-page section
    checks read it."""
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run(
        [str(jupyter_book), "build", str(REPO_ROOT), "--path-output", str(out),
         "--warningiserror", "--keep-going"],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
    return out / "_build" / "html"


def _run_order(item: pytest.Item) -> int:
    """Longest first, so that the two workers of ``make test`` (pytest-xdist) end together: the
    cross-CPU validations of the chapters, then the tests that share the built book, then the other
    slow tests, then the fast ones."""
    if item.nodeid.startswith("tests/test_reproduce.py::test_validation_passes"):
        return 0
    if "built_book" in item.fixturenames:
        return 1
    return 2 if item.get_closest_marker("slow") else 3


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that read the built book on one worker (one build per session, not one per
    worker), and order the session longest first (:func:`_run_order`; the sort is stable)."""
    for item in items:
        if "built_book" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("book"))
    items.sort(key=_run_order)
