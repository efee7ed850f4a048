"""``pcsm status``: whether each chapter's executed notebook is current on its published profile, that is,
whether ``pcsm run`` would skip it; for a stale one, what made it stale: the dependency files whose code
(or, for declared inputs, bytes) changed since it was executed, its source, its parameters, or its results
(a table or the provenance record missing, or from another run).

The comparison reads what the runner recorded in the executed notebook's metadata (``metadata.pcsm``:
the cache key, the profile, the parameters, the source digest and one digest per dependency file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from pcsm.book import runner
from pcsm.book.dependencies import source_digest
from pcsm.book.plan import TOC_FILE, NotebookSpec, load_plan, notebook_folder
from pcsm.experiments.results import REPO_ROOT

BEFORE_TRACKING = "no per-file record (executed before dependency tracking)"
ABSENT = object()  # a parameter one of two runs does not have
# what is left when the run is current and every table is there: the runner found a table changed since
CHANGED_TABLE = "a results table is not the one its run published"


@dataclass(frozen=True)
class ChapterStatus:
    """One chapter on its published ``profile``: current when ``reasons`` is empty, else stale for them."""

    name: str
    profile: str
    reasons: tuple[str, ...]

    @property
    def current(self) -> bool:
        """Whether ``pcsm run`` would skip the chapter."""
        return not self.reasons


def chapter_status(plan_file: Path = TOC_FILE, output_dir: Path | None = None,
                   results_target: Path | None = None) -> list[ChapterStatus]:
    """Every chapter of the plan, in its order, as ``pcsm run`` would find it on its published profile
    with the same output folders (default: the notebooks in place and ``results_dir()``)."""
    plan = load_plan(plan_file)
    output_dir, results_target = runner.output_folders(output_dir, results_target, notebook_folder(plan))
    return [_status(spec, output_dir / spec.path.name, results_target) for spec in plan.values()]


def format_status(rows: list[ChapterStatus]) -> str:
    """One line per chapter: its name, its profile and "current", or "stale: " and the reasons."""
    name_width = max((len(row.name) for row in rows), default=0)
    profile_width = max((len(row.profile) for row in rows), default=0)
    return "".join(f"{row.name:<{name_width}}  {row.profile:<{profile_width}}  "
                   f"{'current' if row.current else 'stale: ' + '; '.join(row.reasons)}\n" for row in rows)


def _status(spec: NotebookSpec, output: Path, results_target: Path) -> ChapterStatus:
    """The status of one chapter whose executed notebook is ``output``."""
    profile = spec.published
    if not output.is_file():
        return ChapterStatus(spec.name, profile, (f"not executed ({_shown(output)} is missing)",))
    source = nbformat.read(spec.path, as_version=4)
    key = runner.cache_key(spec, source, profile)
    if runner.up_to_date(spec, output, results_target, key):
        return ChapterStatus(spec.name, profile, ())
    meta = nbformat.read(output, as_version=4).metadata.get("pcsm", {})
    reasons = [] if meta.get("cache_key") == key else _run_reasons(spec, meta, source)
    reasons += _results_reasons(spec, results_target, meta.get("cache_key"))
    return ChapterStatus(spec.name, profile, tuple(reasons) or (CHANGED_TABLE,))


def _run_reasons(spec: NotebookSpec, meta: dict[str, Any], source: nbformat.NotebookNode) -> list[str]:
    """Why a run now would not have the recorded cache key: the profile, the files it depends on, the
    notebook's source or its parameters."""
    profile = spec.published
    if "cache_key" not in meta:
        return ["not executed by pcsm run (no cache key in its metadata)"]
    if meta.get("profile") != profile:
        return [f"executed on profile '{meta.get('profile')}', published on '{profile}'"]
    if "dependencies" not in meta:
        return [BEFORE_TRACKING]
    reasons = _file_reasons(meta["dependencies"], runner.file_digests(spec, source))
    if meta.get("source") != source_digest(source):
        reasons.append(f"notebook source changed ({_shown(spec.path)})")
    reasons += _parameter_reasons(spec, meta.get("parameters", {}))
    # the key combines only the source, the profile, its parameters and the files
    return reasons or [f"parameters of profile '{profile}' changed"]


def _file_reasons(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """The files whose digest differs from the recorded one, and those added to or dropped from the
    dependencies."""
    groups = (
        (sorted(p for p in recorded.keys() & now.keys() if recorded[p] != now[p]), "changed"),
        (sorted(now.keys() - recorded.keys()), "added to its dependencies"),
        (sorted(recorded.keys() - now.keys()), "no longer among its dependencies"),
    )
    return [f"{', '.join(paths)} {what}" for paths, what in groups if paths]


def _parameter_reasons(spec: NotebookSpec, recorded: dict[str, Any]) -> list[str]:
    """The parameters whose value a run now would differ from the recorded run's (the chapter's record
    of its published profile)."""
    now = json.loads(json.dumps(spec.record(spec.published).parameters()))
    changed = sorted(name for name in now.keys() | recorded.keys()
                     if now.get(name, ABSENT) != recorded.get(name, ABSENT))
    return [f"parameters changed: {', '.join(changed)}"] if changed else []


def _results_reasons(spec: NotebookSpec, results_target: Path, key: str | None) -> list[str]:
    """The declared tables that are missing, and a provenance record missing or from another run than
    the executed notebook (cache key ``key``)."""
    record = results_target / f"{spec.name}.provenance.json"
    reasons = []
    if not record.is_file():
        reasons.append(f"{_shown(record)} is missing")
    elif _recorded_key(record) != key:
        reasons.append(f"{_shown(record)} is from another run")
    tables = [results_target / f"{table}.csv" for table in spec.results]
    return reasons + [f"{_shown(table)} is missing" for table in tables if not table.is_file()]


def _recorded_key(record: Path) -> str | None:
    """The cache key in a provenance record, None when it cannot be read."""
    try:
        return json.loads(record.read_text()).get("cache_key")
    except (ValueError, AttributeError):
        return None


def _shown(path: Path) -> str:
    """A path as the status names it: relative to the repository when inside it."""
    path = path.absolute()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
