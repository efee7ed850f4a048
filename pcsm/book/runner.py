"""Execute the book's notebooks with papermill, one profile at a time, skipping what is up to date.

The notebooks and their parameters per profile are declared in ``notebooks/profiles.toml``
(``pcsm.book.plan``); without a profile each notebook runs on its ``published`` one. Before executing,
the profile is checked against the notebook's parameters cell and the notebook's own parameter check,
and the output folders are checked. A notebook is re-executed when its cells, its parameters, its
declared inputs or the ``pcsm`` modules it imports (transitively) changed since the executed copy was
written (a hash kept in the notebook's metadata). The executed notebook, its result tables and its
provenance are published together or not at all (``pcsm.book.publish``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from pcsm.book import provenance
from pcsm.book.dependencies import GENERATED_TAGS, PROVENANCE_TAG, dependency_files, source_digest
from pcsm.book.plan import (
    PLAN_FILE,
    PROFILES,
    NotebookSpec,
    check_parameters,
    load_plan,
    notebook_defaults,
    run_check,
)
from pcsm.book.publish import check_destinations, publish
from pcsm.experiments.results import PUBLISHED_ENV, REPO_ROOT, RESULTS_ENV, results_dir

__all__ = ["PROFILES", "PLAN_FILE", "NotebookSpec", "load_plan", "run", "execute", "cache_key",
           "source_digest", "GENERATED_TAGS"]

KERNEL = "python3"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
HIDDEN_TAG = "hide-cell"  # Jupyter Book shows such a cell behind a toggle
HIDDEN_CELLS = {"parameters", "injected-parameters"}


def files_digest(root: Path, patterns: tuple[str, ...]) -> str:
    """Hash of the files under ``root`` matching the glob ``patterns`` (content and relative path)."""
    return paths_digest(root, sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()}))


def paths_digest(root: Path, paths: list[Path]) -> str:
    """Hash of the given files' relative paths and contents."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_digest(spec: NotebookSpec, notebook: nbformat.NotebookNode) -> str:
    """What a notebook's outputs depend on besides its own cells: the pcsm modules it imports
    (transitively) and the files named in its ``inputs``."""
    modules = paths_digest(REPO_ROOT, dependency_files(notebook, REPO_ROOT))
    if not spec.inputs:
        return modules
    return hashlib.sha256((modules + files_digest(REPO_ROOT, spec.inputs)).encode()).hexdigest()


def cache_key(spec: NotebookSpec, notebook: nbformat.NotebookNode, profile: str) -> str:
    """What an executed notebook depends on: its source, profile, parameters, pcsm code and inputs."""
    code = code_digest(spec, notebook)
    return cache_key_for(source_digest(notebook), profile, spec.parameters[profile], code)


def cache_key_for(source: str, profile: str, parameters: dict[str, Any], code: str) -> str:
    """Hash of the digests a cache key combines."""
    payload = json.dumps([source, profile, parameters, code], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def stored_key(path: Path) -> str | None:
    """The cache key kept in an executed notebook's metadata, if any."""
    if not path.is_file():
        return None
    return nbformat.read(path, as_version=4).metadata.get("pcsm", {}).get("cache_key")


def tidy_streams(notebook: nbformat.NotebookNode) -> None:
    """Merge consecutive stream outputs of a cell and apply carriage returns, as a terminal would.

    A progress bar then leaves its final state as one line in the saved notebook, not every update.
    """
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged: list = []
        for output in cell.outputs:
            if output.output_type == "stream" and merged and merged[-1].output_type == "stream" \
                    and merged[-1].name == output.name:
                merged[-1].text += output.text
            else:
                merged.append(output)
        for output in merged:
            if output.output_type == "stream":
                output.text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1]
                                        for line in output.text.split("\n"))
        cell.outputs = merged


def hide_parameter_cells(notebook: nbformat.NotebookNode) -> None:
    """Tag the parameters cell and papermill's injected cell ``hide-cell`` (shown behind a toggle)."""
    for cell in notebook.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if HIDDEN_CELLS & set(tags) and HIDDEN_TAG not in tags:
            tags.append(HIDDEN_TAG)


def check_outputs(spec: NotebookSpec, output_dir: Path, results_target: Path) -> None:
    """Refuse output folders that are files, and destinations that are folders, before executing."""
    for folder, what in ((output_dir, "--output-dir"), (results_target, "--results-dir")):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{what} {folder}: is not a folder")
    check_destinations([output_dir / spec.path.name, results_target / f"{spec.name}.provenance.json",
                        *(results_target / f"{table}.csv" for table in spec.results)])


def prepare(spec: NotebookSpec, profile: str, overrides: dict[str, Any] | None = None,
            plan_file: Path = PLAN_FILE) -> dict[str, Any]:
    """The parameters to inject (profile, then ``overrides``), checked against the notebook's
    parameters cell and its declared check; ValueError names the parameter and the plan."""
    source = nbformat.read(spec.path, as_version=4)
    defaults = notebook_defaults(source, spec.path)
    check_parameters(spec, profile, spec.parameters[profile], defaults, plan_file)
    parameters = dict(spec.parameters[profile])
    if overrides:
        check_parameters(spec, "validate", overrides, defaults, plan_file)
        parameters.update(overrides)
    run_check(spec, {**defaults, **parameters})
    return parameters


def execute(
    spec: NotebookSpec,
    profile: str,
    output_dir: Path,
    results_target: Path,
    force: bool = False,
    parameters: dict[str, Any] | None = None,
    published_dir: Path | None = None,
) -> str:
    """Execute one notebook unless up to date; return "executed" or "up to date".

    ``parameters`` replaces the profile's (already checked by ``prepare``); ``published_dir`` is where
    a collecting notebook reads the other notebooks' tables (default: ``results_target``). Raises
    papermill's ``PapermillExecutionError`` (naming the failing cell) when a cell fails; the previous
    executed notebook, tables and provenance are then left untouched, and no temporary file remains.
    """
    import papermill

    parameters = spec.parameters[profile] if parameters is None else parameters
    check_outputs(spec, output_dir, results_target)
    changes = provenance.code_changes()
    source = nbformat.read(spec.path, as_version=4)
    code = code_digest(spec, source)
    key = cache_key_for(source_digest(source), profile, parameters, code)
    output = output_dir / spec.path.name
    if not force and stored_key(output) == key:
        return "up to date"
    with tempfile.TemporaryDirectory(prefix=f"pcsm-{spec.name}-") as scratch:
        staging = Path(scratch) / "results"
        staging.mkdir()
        executed_path = Path(scratch) / output.name
        previous = {name: os.environ.get(name) for name in (RESULTS_ENV, PUBLISHED_ENV)}
        os.environ[RESULTS_ENV] = str(staging)
        os.environ[PUBLISHED_ENV] = str(published_dir or results_target)
        started = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(spec.path),
                str(executed_path),
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(spec.path.parent),
                execution_timeout=spec.timeout,
                progress_bar=False,
                log_output=False,
            )
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        record = provenance.collect(spec.name, profile, parameters, time.perf_counter() - started, code,
                                    changes)
        executed = nbformat.read(executed_path, as_version=4)
        tidy_streams(executed)
        hide_parameter_cells(executed)
        executed.cells = [
            c for c in executed.cells if PROVENANCE_TAG not in c.get("metadata", {}).get("tags", [])
        ]
        executed.cells.append(
            nbformat.v4.new_markdown_cell(provenance.as_markdown(record), metadata={"tags": [PROVENANCE_TAG]})
        )
        executed.metadata["pcsm"] = {"cache_key": key, "profile": profile, "parameters": parameters}
        (staging / f"{spec.name}.provenance.json").write_text(json.dumps(record, indent=1) + "\n")
        nbformat.write(executed, executed_path)
        staged = sorted(p for p in staging.rglob("*") if p.is_file())
        files = {p: results_target / p.relative_to(staging) for p in staged}
        publish({**files, executed_path: output})
    return "executed"


def select(plan: dict[str, NotebookSpec], names: list[str]) -> list[NotebookSpec]:
    """The named notebooks (file names or paths accepted), all when ``names`` is empty."""
    stems = [n.removesuffix(".ipynb").split("/")[-1] for n in names]
    unknown = [n for n, stem in zip(names, stems) if stem not in plan]
    if unknown:
        raise ValueError(f"notebook: unknown {', '.join(unknown)}; known: {', '.join(plan)}")
    return [plan[stem] for stem in stems] or list(plan.values())


def report_failure(spec: NotebookSpec, error: Exception, started: float) -> None:
    """Print papermill's failure: the cell, the exception and the end of its traceback."""
    print(f"FAILED after {time.perf_counter() - started:.1f}s", flush=True)
    traceback = getattr(error, "traceback", None)
    trace = ANSI_ESCAPE.sub("", "\n".join(traceback[-3:])) if traceback else ""
    print(
        f"\n{spec.name}: cell {getattr(error, 'exec_count', '?')} raised {getattr(error, 'ename', '')}: "
        f"{getattr(error, 'evalue', error)}\n{trace}\nPrevious outputs of {spec.name} were left untouched.",
        file=sys.stderr,
    )


def run(
    names: list[str],
    profile: str | None = None,
    output_dir: Path | None = None,
    results_target: Path | None = None,
    force: bool = False,
    plan_file: Path = PLAN_FILE,
) -> int:
    """Execute the named notebooks (all when empty) on ``profile`` (None: each notebook's published
    one); print one line each; return 0, or 1 when a notebook failed. Every selected notebook's
    parameters are checked before the first is executed."""
    from papermill.exceptions import PapermillExecutionError

    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile: unknown value {profile!r}; choose one of {', '.join(PROFILES)}")
    selected = select(load_plan(plan_file), names)
    output_dir = output_dir or plan_file.parent
    results_target = results_target or results_dir()
    jobs = []
    for spec in selected:
        chosen = profile or spec.published
        jobs.append((spec, chosen, prepare(spec, chosen, plan_file=plan_file)))
        check_outputs(spec, output_dir, results_target)
    for i, (spec, chosen, parameters) in enumerate(jobs, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(jobs)}] {spec.name} ({chosen}) ...", end=" ", flush=True)
        try:
            status = execute(spec, chosen, output_dir, results_target, force, parameters)
        except PapermillExecutionError as error:
            report_failure(spec, error, start)
            return 1
        print(f"{status} in {time.perf_counter() - start:.1f}s", flush=True)
    return 0
