"""Execute the book's notebooks with papermill, one profile at a time, skipping what is up to date.

The notebooks and their parameters per profile are declared in ``notebooks/profiles.toml``. A notebook
is re-executed when its code cells, its parameters or any file of the ``pcsm`` package changed since
the executed copy was written (a hash kept in the notebook's metadata). Outputs are published only on
success: the executed notebook by an atomic rename, the result tables from a staging folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from pcsm.book import provenance
from pcsm.experiments.results import PUBLISHED_ENV, REPO_ROOT, RESULTS_ENV, atomic_write_text, results_dir

PROFILES = ("smoke", "default", "paper")
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
PLAN_FILE = NOTEBOOK_DIR / "profiles.toml"
PACKAGE_DIR = REPO_ROOT / "pcsm"
KERNEL = "python3"
PROVENANCE_TAG = "pcsm-provenance"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
GENERATED_TAGS = {"injected-parameters", PROVENANCE_TAG}


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of the book: its file, its per-cell timeout, its parameters per profile, the result
    tables it writes and the tolerances a re-execution must meet (see ``pcsm.book.validate``)."""

    name: str
    path: Path
    timeout: int
    parameters: dict[str, dict[str, Any]]
    results: tuple[str, ...] = ()
    tolerance: dict[str, float] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()


def load_plan(plan_file: Path = PLAN_FILE) -> dict[str, NotebookSpec]:
    """Read the notebooks and their profile parameters from the TOML plan, in file order."""
    with open(plan_file, "rb") as handle:
        raw = tomllib.load(handle)
    plan = {}
    for name, entry in raw["notebooks"].items():
        missing = [p for p in PROFILES if p not in entry]
        if missing:
            raise ValueError(f"{plan_file}: notebook {name!r} lacks profile(s) {', '.join(missing)}")
        plan[name] = NotebookSpec(
            name=name,
            path=plan_file.parent / f"{name}.ipynb",
            timeout=int(entry["timeout"]),
            parameters={p: dict(entry[p]) for p in PROFILES},
            results=tuple(entry.get("results", ())),
            tolerance=dict(entry.get("tolerance", {})),
            inputs=tuple(entry.get("inputs", ())),
        )
    return plan


def files_digest(root: Path, patterns: tuple[str, ...]) -> str:
    """Hash of the files under ``root`` matching the glob ``patterns`` (content and relative path)."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()}):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def package_digest() -> str:
    """Hash of every Python file of the pcsm package."""
    return files_digest(PACKAGE_DIR, ("**/*.py",))


def code_digest(spec: NotebookSpec) -> str:
    """What a notebook's outputs depend on besides its own cells: the pcsm code and, for a notebook
    that collects other notebooks' results, the files named in its ``inputs``."""
    if not spec.inputs:
        return package_digest()
    return hashlib.sha256((package_digest() + files_digest(REPO_ROOT, spec.inputs)).encode()).hexdigest()


def source_digest(notebook: nbformat.NotebookNode) -> str:
    """Hash of the notebook's cells (type and source), ignoring the cells papermill and the runner add."""
    cells = [
        [cell.cell_type, cell.source]
        for cell in notebook.cells
        if not GENERATED_TAGS & set(cell.get("metadata", {}).get("tags", []))
    ]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def cache_key(spec: NotebookSpec, notebook: nbformat.NotebookNode, profile: str) -> str:
    """What an executed notebook depends on: its source, profile, parameters, the pcsm code and inputs."""
    return cache_key_for(source_digest(notebook), profile, spec.parameters[profile], code_digest(spec))


def cache_key_for(source: str, profile: str, parameters: dict[str, Any], code: str) -> str:
    """Hash of the digests a cache key combines."""
    payload = json.dumps([source, profile, parameters, code], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def stored_key(path: Path) -> str | None:
    """The cache key kept in an executed notebook's metadata, if any."""
    if not path.exists():
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


def publish_results(staging: Path, target: Path) -> list[Path]:
    """Move every file of ``staging`` into ``target``, each by an atomic rename."""
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for source in sorted(p for p in staging.rglob("*") if p.is_file()):
        dest = target / source.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.incoming")
        shutil.copy2(source, tmp)
        os.replace(tmp, dest)
        moved.append(dest)
    return moved


def execute(
    spec: NotebookSpec,
    profile: str,
    output_dir: Path,
    results_target: Path,
    force: bool = False,
) -> str:
    """Execute one notebook unless up to date; return "executed" or "up to date".

    Raises papermill's ``PapermillExecutionError`` (naming the failing cell) when a cell fails; the
    previous executed notebook and results are then left untouched.
    """
    import papermill

    parameters = spec.parameters[profile]
    source = nbformat.read(spec.path, as_version=4)
    code = code_digest(spec)
    key = cache_key_for(source_digest(source), profile, parameters, code)
    output = output_dir / spec.path.name
    if not force and stored_key(output) == key:
        return "up to date"
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"pcsm-{spec.name}-") as scratch:
        staging = Path(scratch) / "results"
        staging.mkdir()
        executed_path = Path(scratch) / output.name
        previous = {name: os.environ.get(name) for name in (RESULTS_ENV, PUBLISHED_ENV)}
        os.environ[RESULTS_ENV] = str(staging)
        os.environ[PUBLISHED_ENV] = str(results_target)
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
        record = provenance.collect(spec.name, profile, parameters, time.perf_counter() - started, code)
        executed = nbformat.read(executed_path, as_version=4)
        tidy_streams(executed)
        executed.cells = [
            c for c in executed.cells if PROVENANCE_TAG not in c.get("metadata", {}).get("tags", [])
        ]
        executed.cells.append(
            nbformat.v4.new_markdown_cell(provenance.as_markdown(record), metadata={"tags": [PROVENANCE_TAG]})
        )
        executed.metadata["pcsm"] = {"cache_key": key, "profile": profile, "parameters": parameters}
        atomic_write_text(staging / f"{spec.name}.provenance.json", json.dumps(record, indent=1) + "\n")
        tmp = output.with_name(f".{output.name}.incoming")
        nbformat.write(executed, tmp)
        publish_results(staging, results_target)
        os.replace(tmp, output)
    return "executed"


def run(
    names: list[str],
    profile: str,
    output_dir: Path | None = None,
    results_target: Path | None = None,
    force: bool = False,
    plan_file: Path = PLAN_FILE,
) -> int:
    """Execute the named notebooks (all when empty) on ``profile``; print one line each; return 0/1."""
    from papermill.exceptions import PapermillExecutionError

    if profile not in PROFILES:
        raise ValueError(f"profile: unknown value {profile!r}; choose one of {', '.join(PROFILES)}")
    plan = load_plan(plan_file)
    unknown = [n for n in names if n.removesuffix(".ipynb").split("/")[-1] not in plan]
    if unknown:
        raise ValueError(f"notebook: unknown {', '.join(unknown)}; known: {', '.join(plan)}")
    selected = [plan[n.removesuffix(".ipynb").split("/")[-1]] for n in names] or list(plan.values())
    output_dir = output_dir or plan_file.parent
    results_target = results_target or results_dir()
    for i, spec in enumerate(selected, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(selected)}] {spec.name} ({profile}) ...", end=" ", flush=True)
        try:
            status = execute(spec, profile, output_dir, results_target, force)
        except PapermillExecutionError as error:
            print(f"FAILED after {time.perf_counter() - start:.1f}s", flush=True)
            trace = ANSI_ESCAPE.sub("", "\n".join(error.traceback[-3:])) if error.traceback else ""
            print(
                f"\n{spec.name}: cell {error.exec_count} raised {error.ename}: {error.evalue}\n{trace}\n"
                f"Previous outputs of {spec.name} were left untouched.",
                file=sys.stderr,
            )
            return 1
        print(f"{status} in {time.perf_counter() - start:.1f}s", flush=True)
    return 0
