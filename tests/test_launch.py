"""The launch buttons run a chapter: Binder installs pcsm (environment.yml, then postBuild) and each
chapter's first code cell installs it on Colab, and only there."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

from pcsm.book.plan import load_plan
from pcsm.experiments.results import REPO_ROOT

REPOSITORY = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"]
CHAPTERS = sorted(load_plan())


def colab_cell(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return next(cell for cell in nb.cells if cell.cell_type == "code")


def colab_requirement(name: str) -> str:
    """The requirement the chapter's Colab cell passes to %pip install."""
    (line,) = [line for line in colab_cell(name).source.splitlines() if "%pip install" in line]
    (requirement,) = [word for word in shlex.split(line.split("%pip install", 1)[1]) if not word.startswith("-")]
    return requirement


@pytest.mark.parametrize("name", CHAPTERS)
def test_first_code_cell_installs_pcsm_on_colab_only(name: str) -> None:
    """Run the cell's Python (as IPython transforms it) with and without a google.colab module."""
    code = TransformerManager().transform_cell(colab_cell(name).source)
    for on_colab in (False, True):
        calls: list[tuple[str, str]] = []
        shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
        saved = sys.modules.pop("google.colab", None)
        if on_colab:
            sys.modules["google.colab"] = types.ModuleType("google.colab")
        try:
            exec(code, {"get_ipython": lambda: shell})
        finally:
            sys.modules.pop("google.colab", None)
            if saved is not None:
                sys.modules["google.colab"] = saved
        if on_colab:
            assert [magic for magic, _ in calls] == ["pip"] and "install" in calls[0][1], calls
        else:
            assert calls == [], f"{name}: the install cell runs outside Colab"
    assert "hide-input" in colab_cell(name).metadata.get("tags", [])


@pytest.mark.parametrize("name", CHAPTERS)
def test_colab_cell_installs_this_repository_with_the_book_extra(name: str) -> None:
    requirement = colab_requirement(name)
    assert re.fullmatch(rf"pcsm\[book\] @ git\+{re.escape(REPOSITORY)}(@main)?", requirement), requirement


@pytest.mark.slow
def test_colab_requirement_resolves_to_pcsm(tmp_path: Path) -> None:
    """pip resolves the cell's requirement, with this checkout in place of the git URL: it would install
    pcsm, and the book extra's packages are satisfiable (here by the venv)."""
    requirement = colab_requirement(CHAPTERS[0]).replace(f"git+{REPOSITORY}", REPO_ROOT.as_uri())
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
                    requirement], check=True, capture_output=True, text=True, cwd=tmp_path)
    install = json.loads(report.read_text())["install"]
    assert [item["metadata"]["name"] for item in install if item["requested"]] == ["pcsm"]
    assert "book" in install[0]["requested_extras"]


def test_binder_installs_every_pin_and_then_pcsm() -> None:
    """repo2docker reads the root's environment.yml and postBuild (a binder/ folder would hide them);
    environment.yml has no install of the checkout (it is built before the repository is copied in), so
    postBuild, executable, must install it."""
    assert not (REPO_ROOT / "binder").exists()
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "torch==2.14.1" in pip and not any(line.startswith(("-e", ".")) for line in pip)
    post_build = REPO_ROOT / "postBuild"
    assert os.access(post_build, os.X_OK), "postBuild must be executable"
    installs = [shlex.split(line) for line in post_build.read_text().splitlines() if "pip install" in line]
    assert any(words[-1] == "." and "-e" in words for words in installs), "postBuild does not install pcsm"
