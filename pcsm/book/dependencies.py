"""Which files of the ``pcsm`` package a notebook depends on: the modules its code cells import and,
transitively, the modules those import (found with ``ast``, so nothing is executed); and each such file's
digest, taken of its code alone, so that an edit to a comment, a docstring or the layout changes none.

A package may export names lazily (PEP 562): its ``__init__`` holds a literal ``LAZY = {name: module}``
and imports the module only when the name is used. Such a module is a dependency of whoever uses the
name (``from pcsm import estimate_mi``, or ``pcsm.estimate_mi`` after ``import pcsm``), not of every
importer of the package."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

import nbformat

from pcsm.experiments.config import CHAPTER_NAME
from pcsm.experiments.results import REPO_ROOT

PACKAGE = "pcsm"
PROVENANCE_TAG = "pcsm-provenance"
LAZY_TABLE = "LAZY"  # a package's {exported name: defining module}, imported on first use
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)  # what may have a docstring
# cells papermill and the runner add; the source digest ignores them (and every cell's metadata,
# so the runner's `hide-cell` tag does not change it either)
GENERATED_TAGS = {"injected-parameters", PROVENANCE_TAG}


def source_digest(notebook: nbformat.NotebookNode) -> str:
    """Hash of the notebook's cells (type and source), ignoring the cells papermill and the runner add."""
    cells = [
        [cell.cell_type, cell.source]
        for cell in notebook.cells
        if not GENERATED_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def module_file(module: str, root: Path = REPO_ROOT) -> Path | None:
    """The source file of a ``pcsm`` module (``pkg/__init__.py`` for a package), or None."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(tree: ast.AST, current: str | None = None, is_package: bool = False) -> set[str]:
    """``pcsm`` modules named by the import statements of ``tree`` (anywhere, functions included).

    ``from a import b`` yields ``a.b`` too, since ``b`` may be a submodule; names that are not
    modules are dropped by the caller. ``current`` resolves relative imports.
    """
    found = set()
    aliases = {}  # a local name bound by ``import pcsm...`` -> the module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
            aliases |= {alias.asname or alias.name.split(".")[0]:
                        alias.name if alias.asname else alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and current:
                parts = current.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    found |= {f"{aliases[root]}.{rest}" for root, rest in _attribute_chains(tree) if root in aliases}
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def _attribute_chains(tree: ast.AST) -> set[tuple[str, str]]:
    """``(name, "a.b")`` for each outermost attribute chain ``name.a.b`` in ``tree`` (the lazy names of
    a package are used this way: ``pcsm.estimate_mi``)."""
    chains = set()
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            chains.add((node.id, ".".join(reversed(parts))))
    return chains


def lazy_module(name: str, root: Path = REPO_ROOT) -> str | None:
    """The module that defines ``name`` ("pkg.attr") when ``pkg``'s ``__init__`` exports it lazily
    (its literal ``LAZY`` table), else None."""
    package, _, attr = name.rpartition(".")
    init = module_file(package, root) if package else None
    if init is None or init.name != "__init__.py":
        return None
    return _lazy_table(init, init.stat().st_mtime_ns).get(attr)


@functools.lru_cache(maxsize=64)
def _lazy_table(init: Path, mtime_ns: int) -> dict[str, str]:
    """The literal ``LAZY`` table of a package's ``__init__`` (empty when it has none), parsed once per
    version of the file (``mtime_ns`` is part of the cache key)."""
    for node in ast.parse(init.read_text(encoding="utf-8"), filename=str(init)).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == LAZY_TABLE):
            return ast.literal_eval(node.value)
    return {}


def with_parents(module: str) -> set[str]:
    """A module and the packages whose ``__init__`` importing it executes."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def notebook_tree(notebook: nbformat.NotebookNode) -> ast.Module:
    """The notebook's code cells as one module (IPython magics and shell lines dropped)."""
    body = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            body += ast.parse("\n".join(lines)).body
        except SyntaxError:
            continue
    return ast.Module(body=body, type_ignores=[])


def dependency_files(notebook: nbformat.NotebookNode, root: Path = REPO_ROOT) -> list[Path]:
    """The ``pcsm`` source files the notebook imports, directly or through other ``pcsm`` modules."""
    pending = {p for m in imported_modules(notebook_tree(notebook)) for p in with_parents(m)}
    seen: set[str] = set()
    files: set[Path] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(module, root)
        if path is None:
            target = lazy_module(module, root)
            pending |= with_parents(target) - seen if target else set()
            continue
        files.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for found in imported_modules(tree, module, path.name == "__init__.py"):
            pending |= with_parents(found) - seen
    return sorted(files)


def _is_declaration(node: ast.stmt) -> bool:
    """A module-level ``CHAPTER = ...``: the chapter's declaration for the runner (its tables, timeout,
    validation), which no result depends on; the parameters it names are in the cache key already."""
    return (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and node.targets[0].id == CHAPTER_NAME)


def code_text(path: Path) -> str:
    """The module's code in a normal form: parsed and written back by ``ast.unparse``, so comments and
    layout are gone, with the docstrings of the module, its classes and functions left out (a body that
    held only a docstring becomes ``pass``), and without a chapter's ``CHAPTER`` declaration."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    tree.body = [node for node in tree.body if not _is_declaration(node)]
    for node in ast.walk(tree):
        if isinstance(node, DOCUMENTED) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def module_digests(notebook: nbformat.NotebookNode, root: Path = REPO_ROOT) -> dict[str, str]:
    """``{path relative to root: hash of its code_text}`` for every file of :func:`dependency_files`."""
    return {str(path.relative_to(root)): hashlib.sha256(code_text(path).encode()).hexdigest()
            for path in dependency_files(notebook, root)}
