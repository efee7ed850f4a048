"""The book's plan: its chapters, read from the table of contents (``_toc.yml``) and the declarations
of their experiment modules.

A notebook of the table of contents is a chapter: its metadata names the module that declares it
(``"pcsm": {"chapter": "pcsm.experiments.bound"}``), whose ``CHAPTER`` (:class:`~pcsm.experiments.config.Chapter`)
holds its parameter record, the tables it writes, the files it reads, its timeout, published profile
and validation. A new chapter therefore touches its notebook, its experiment module, its test and the
table of contents. The plan runs the chapters in the table's order, except that a chapter runs after
every chapter that writes a file it reads (its declared inputs), so a summary listed first runs last.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from pcsm.experiments.config import CHAPTER_NAME, PROFILES, Chapter, ChapterConfig, Metric
from pcsm.experiments.results import REPO_ROOT, check_file

TOC_FILE = REPO_ROOT / "_toc.yml"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
METADATA_KEY = "pcsm"  # the notebook metadata table that names its chapter module ("chapter")
PAGE_SUFFIXES = (".md", ".rst")  # pages of the table of contents that are not chapters

__all__ = ["PROFILES", "TOC_FILE", "NOTEBOOK_DIR", "Metric", "NotebookSpec", "chapter_modules", "load_plan",
           "notebook_folder"]


@dataclass(frozen=True)
class NotebookSpec:
    """One chapter of the book: its notebook's name and file, the module that declares it and that
    declaration (:class:`~pcsm.experiments.config.Chapter`)."""

    name: str
    path: Path
    module: str
    chapter: Chapter

    @property
    def config(self) -> type[ChapterConfig]:
        return self.chapter.config

    @property
    def timeout(self) -> int:
        return self.chapter.timeout

    @property
    def results(self) -> tuple[str, ...]:
        return self.chapter.results

    @property
    def published(self) -> str:
        return self.chapter.published

    @property
    def validate(self) -> dict[str, Any]:
        return dict(self.chapter.validate)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return self.chapter.metrics

    @property
    def declared(self) -> str:
        """Where the declaration lives, for messages: ``module.CHAPTER``."""
        return f"{self.module}.{CHAPTER_NAME}"

    def input_patterns(self) -> tuple[str, ...]:
        """The globs (relative to the repository) of the files the notebook reads besides its code."""
        try:
            return self.chapter.input_patterns()
        except ValueError as error:
            raise ValueError(f"{self.declared}: {error}") from None

    def record(self, profile: str, overrides: dict[str, Any] | None = None) -> ChapterConfig:
        """The checked parameter record of a run on ``profile`` with ``overrides``; a ``ValueError``
        names the chapter and the parameter."""
        try:
            return self.config.for_profile(profile, **(overrides or {}))
        except (ValueError, TypeError) as error:
            raise ValueError(f"{self.name} ({self.config.__name__}): {error}") from None


def _toc_files(toc_file: Path) -> list[str]:
    """The ``file`` entries of a Jupyter Book table of contents, in reading order."""
    try:
        toc = yaml.safe_load(toc_file.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{toc_file}: cannot read the table of contents: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{toc_file}: not valid YAML: {error}") from None
    if not isinstance(toc, dict):
        raise ValueError(f"{toc_file}: expected a table of contents (root, chapters or parts)")
    files: list[str] = []

    def walk(entry: Any) -> None:
        if isinstance(entry, dict):
            if isinstance(entry.get("file"), str):
                files.append(entry["file"])
            for key in ("chapters", "parts", "sections"):
                for child in entry.get(key) or []:
                    walk(child)

    if isinstance(toc.get("root"), str):
        files.append(toc["root"])
    walk({key: toc.get(key) for key in ("chapters", "parts")})
    return files


def chapter_modules(toc_file: Path = TOC_FILE) -> dict[str, tuple[Path, str]]:
    """``{notebook name: (its file, the module that declares it)}`` for every notebook of the table of
    contents, in reading order, read from each notebook's metadata alone (nothing is imported). An entry
    without a page of another kind (``.md``) is a notebook; a ValueError names one that is missing,
    unreadable or declares no module."""
    found = {}
    for entry in _toc_files(toc_file):
        base = toc_file.parent / entry
        if any(base.with_suffix(suffix).is_file() for suffix in PAGE_SUFFIXES):
            continue
        path = base.with_suffix(".ipynb")
        module = read_notebook(path).metadata.get(METADATA_KEY, {}).get("chapter")
        if not isinstance(module, str) or not module:
            raise ValueError(f"{path}: its metadata names no chapter module "
                             f'("{METADATA_KEY}": {{"chapter": "package.module"}}, the module whose '
                             f"{CHAPTER_NAME} declares it)")
        found[path.stem] = (path, module)
    if not found:
        raise ValueError(f"{toc_file}: lists no notebook")
    return found


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``; a ValueError naming the file when it is missing, a folder, or not a
    notebook (e.g. JSON cut off by a truncated copy)."""
    check_file(path, "notebook")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises NotJSONError, ValidationError, KeyError, UnicodeDecodeError
        detail = str(error).splitlines()[0][:120] if str(error) else ""
        raise ValueError(f"{path}: not a readable notebook ({type(error).__name__}: {detail}); it may be "
                         "truncated: restore it (git checkout) or re-create it") from None


def declared_chapter(path: Path, module: str) -> Chapter:
    """The ``CHAPTER`` of ``module``, which notebook ``path`` names; a ValueError names the notebook or
    the declaration when the module cannot be imported, has none, or refuses its own fields."""
    try:
        chapter = getattr(importlib.import_module(module), CHAPTER_NAME)
    except ImportError as error:
        raise ValueError(f"{path}: cannot import its chapter module {module!r}: {error}") from None
    except ValueError as error:  # a declaration that refuses itself (an unknown parameter, a bad timeout)
        raise ValueError(f"{module}.{CHAPTER_NAME}: {error}") from None
    except AttributeError:
        raise ValueError(f"{path}: its chapter module {module!r} has no {CHAPTER_NAME}") from None
    if not isinstance(chapter, Chapter):
        raise ValueError(f"{path}: {module}.{CHAPTER_NAME} is not a Chapter")
    return chapter


def writes(spec: NotebookSpec) -> set[str]:
    """The files a run of ``spec`` publishes, relative to the repository."""
    return {f"results/{table}.csv" for table in spec.results} | {f"results/{spec.name}.provenance.json"}


def _run_order(specs: list[NotebookSpec], source: Path) -> list[NotebookSpec]:
    """``specs`` in their order, except that each comes after every spec that writes a file it reads."""
    reads = {s.name: s.input_patterns() for s in specs}
    after = {s.name: {o.name for o in specs if o is not s
                      and any(fnmatch.filter(writes(o), pattern) for pattern in reads[s.name])} for s in specs}
    ordered: list[NotebookSpec] = []
    pending = list(specs)
    while pending:
        ready = next((s for s in pending if after[s.name] <= {o.name for o in ordered}), None)
        if ready is None:
            cycle = ", ".join(s.name for s in pending)
            raise ValueError(f"{source}: the chapters {cycle} read each other's results (a cycle)")
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def load_plan(toc_file: Path = TOC_FILE) -> dict[str, NotebookSpec]:
    """Every chapter of the table of contents, checked, in run order; a ValueError names the file."""
    specs = [NotebookSpec(name, path, module, declared_chapter(path, module))
             for name, (path, module) in chapter_modules(toc_file).items()]
    return {spec.name: spec for spec in _run_order(specs, toc_file)}


def notebook_folder(plan: dict[str, NotebookSpec]) -> Path:
    """The folder of the plan's notebooks (where ``pcsm run`` writes executed notebooks by default);
    a ValueError when they lie in more than one."""
    folders = sorted({spec.path.parent for spec in plan.values()})
    if len(folders) != 1:
        raise ValueError(f"the chapters' notebooks lie in {len(folders)} folders ({', '.join(map(str, folders))}); "
                         "keep them in one")
    return folders[0]
