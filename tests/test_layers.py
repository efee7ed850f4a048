"""The package's three layers, as folders: core (the estimator library) < experiments < book.
A module may import from its own layer or a lower one, never a higher one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pcsm.experiments.results import REPO_ROOT

LAYERS = ("core", "experiments", "book")
PACKAGE = REPO_ROOT / "pcsm"


def pcsm_imports(path: Path) -> set[str]:
    """Dotted names of the pcsm modules ``path`` imports (module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pcsm"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("pcsm"))
    return names


def layer_of(dotted: str) -> int | None:
    parts = dotted.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_downward(layer: str) -> None:
    rank = LAYERS.index(layer)
    upward = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in sorted(pcsm_imports(path))
        if (layer_of(name) or 0) > rank
    ]
    assert not upward, f"pcsm.{layer} must not import a higher layer:\n" + "\n".join(upward)


def test_every_module_lives_in_a_layer() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"], f"modules outside the layers: {loose}"


def test_the_estimator_needs_no_book_stack() -> None:
    """``from pcsm import estimate_mi`` loads torch, numpy and scipy, not the book's tools."""
    book_stack = ["pandas", "papermill", "nbformat", "jupyter_core", "myst_nb", "IPython", "matplotlib",
                  "seaborn", "sklearn", "joblib", "pcsm.experiments", "pcsm.book"]
    code = ("import sys; from pcsm import estimate_mi; "
            f"print(' '.join(m for m in {book_stack!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not loaded, f"`from pcsm import estimate_mi` imported {loaded}"
