"""Execute the book's notebooks with papermill, one profile at a time, skipping what is up to date.

The chapters are those of the table of contents, each declared by its experiment module
(``pcsm.book.plan``); without a profile each runs on its ``published`` one. Before executing, the
chapter's parameter record is built for the profile (which checks every value once) and the output
folders are checked; the kernel gets the profile and any overrides. A notebook is re-executed when its cells, its parameters, its
declared inputs or the ``pcsm`` modules it imports (transitively) changed since the executed copy was
written (a hash kept in the notebook's metadata), or when a table it published is no longer the one
it published (the row count and sha256 of each are kept in its provenance record). The executed
notebook, its result tables and its provenance are published together or not at all
(``pcsm.book.publish``), under a lock file beside each destination, so two runs publishing the same
notebook to the same place cannot overlap, whatever their temporary folders or machines.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

import nbformat

from pcsm.book import provenance
from pcsm.book.dependencies import GENERATED_TAGS, PROVENANCE_TAG, module_digests, source_digest
from pcsm.book.plan import PROFILES, TOC_FILE, NotebookSpec, load_plan, notebook_folder, read_notebook
from pcsm.book.publish import check_destinations, publish
from pcsm.experiments.results import (
    PUBLISHED_ENV,
    REPO_ROOT,
    RESULTS_ENV,
    TABLES_KEY,
    check_file,
    results_dir,
    table_entry,
)

__all__ = ["PROFILES", "TOC_FILE", "NotebookSpec", "NotebookFailed", "load_plan", "run", "execute",
           "cache_key", "source_digest", "GENERATED_TAGS"]

KERNEL = "python3"
# The kernel's own log (not the notebook's output) stays off the terminal: its warning that it runs over
# TCP, and the traceback of a busy kernel shut down after Ctrl-C or SIGTERM.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
HIDDEN_TAG = "hide-cell"  # Jupyter Book shows such a cell behind a toggle
REMOVED_TAG = "remove-cell"  # Jupyter Book leaves such a cell out of the page
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"  # tqdm.auto's progress bar in Jupyter
LOCK_SUFFIX = ".pcsm-lock"  # .NAME.pcsm-lock beside each destination while a run publishes it
LOCK_ATTEMPTS = 3  # tries to lock a lock file that its previous holder removed meanwhile


class NotebookFailed(Exception):
    """A notebook's run failed; the message names the notebook, the cell and the cause, and says that
    nothing was published."""


def file_digests(spec: NotebookSpec, notebook: nbformat.NotebookNode) -> dict[str, str]:
    """What a notebook's outputs depend on besides its own cells, one hash per file (keyed by its path
    relative to the repository): the code of the pcsm modules it imports, transitively (comments and
    docstrings do not count), and the bytes of the files named in its ``inputs``."""
    inputs = sorted({p for pattern in spec.input_patterns() for p in REPO_ROOT.glob(pattern) if p.is_file()})
    data = {str(p.relative_to(REPO_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs}
    return {**module_digests(notebook, REPO_ROOT), **data}


def code_digest(files: dict[str, str]) -> str:
    """One hash of the per-file hashes of :func:`file_digests`."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def cache_key(spec: NotebookSpec, notebook: nbformat.NotebookNode, profile: str) -> str:
    """What an executed notebook depends on: its source, profile, parameters, pcsm code and inputs."""
    code = code_digest(file_digests(spec, notebook))
    return cache_key_for(source_digest(notebook), profile, spec.record(profile).parameters(), code)


def cache_key_for(source: str, profile: str, parameters: dict[str, Any], code: str) -> str:
    """Hash of the digests a cache key combines."""
    payload = json.dumps([source, profile, parameters, code], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def stored_key(path: Path) -> str | None:
    """The cache key kept in an executed notebook's metadata; None when there is none, or when the file
    is missing or unreadable (a run then replaces it)."""
    try:
        return read_notebook(path).metadata.get("pcsm", {}).get("cache_key")
    except ValueError:
        return None


def published_tables(staging: Path) -> dict[str, dict[str, Any]]:
    """The provenance record's entry of a run's tables: row count and sha256 of each staged CSV."""
    return {p.name: table_entry(p.read_bytes()) for p in sorted(staging.glob("*.csv")) if p.is_file()}


def table_problems(record: dict[str, Any], results_target: Path, declared: Iterable[str]) -> list[str]:
    """Why the tables beside a provenance ``record`` are not all the ones its run published: a record
    that lists none (written before tables were recorded), or each table it lists, or ``declared``,
    that is missing from ``results_target`` or whose bytes differ from its recorded sha256 (truncated
    or edited). Empty when all are intact."""
    tables = record.get(TABLES_KEY)
    if not isinstance(tables, dict):
        return [f"its provenance record lists no tables ({TABLES_KEY}: row counts and sha256)"]
    problems = []
    for name in sorted({*tables, *(f"{table}.csv" for table in declared)}):
        path, entry = results_target / name, tables.get(name)
        if not isinstance(entry, dict) or not path.is_file():
            problems.append(f"{name} is not among the tables its run published" if path.is_file()
                            else f"{name} is missing")
        elif table_entry(path.read_bytes())["sha256"] != entry.get("sha256"):
            problems.append(f"{name} changed since it was published (truncated or edited)")
    return problems


def up_to_date(spec: NotebookSpec, output: Path, results_target: Path, key: str) -> bool:
    """Whether the executed notebook, its provenance and its declared tables are all from one run
    with cache key ``key`` (a notebook beside another run's tables is not up to date), and every table
    is still the one that run published (checked against the row counts and sha256 it recorded)."""
    path = results_target / f"{spec.name}.provenance.json"
    if stored_key(output) != key or not path.is_file():
        return False
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("cache_key") == key and \
        not table_problems(record, results_target, spec.results)


def tidy_streams(notebook: nbformat.NotebookNode) -> None:
    """Merge consecutive stream outputs of a cell and apply carriage returns, as a terminal would.

    A progress line rewritten in place then leaves its final state as one line, not every update.
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


def is_progress(output: nbformat.NotebookNode) -> bool:
    """Whether an output is live progress rather than a result: text on stderr (tqdm's bars, logging)
    or a Jupyter progress widget."""
    if output.output_type == "stream":
        return output.name == "stderr"
    return WIDGET_MIME in output.get("data", {})


def clean_outputs(notebook: nbformat.NotebookNode) -> None:
    """What the published page shows: no progress (stderr, widgets), stream updates collapsed, and the
    parameters once: papermill's injected cell (every parameter the run used, behind a toggle) while
    the notebook's own defaults cell keeps its ``parameters`` tag but is left out of the page."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_progress(o)]
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        for marker, tag in (("parameters", REMOVED_TAG), ("injected-parameters", HIDDEN_TAG)):
            if marker in tags:
                tags[:] = [t for t in tags if t not in (HIDDEN_TAG, REMOVED_TAG)] + [tag]
    tidy_streams(notebook)


def writable_folder(folder: Path, what: str) -> None:
    """Refuse a folder (or, when missing, the nearest existing folder above it) that is a file or that
    this process cannot write; ValueError names the option and the folder."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {folder}: is not a folder")
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {folder}: {existing} is read-only; the run could not publish there")


def check_outputs(spec: NotebookSpec, output_dir: Path, results_target: Path) -> None:
    """Refuse output folders that are files or read-only, and destinations that are folders, before
    executing."""
    for folder, what in ((output_dir, "--output-dir"), (results_target, "--results-dir")):
        writable_folder(folder, what)
    check_destinations([output_dir / spec.path.name, results_target / f"{spec.name}.provenance.json",
                        *(results_target / f"{table}.csv" for table in spec.results)])


def check_environment() -> None:
    """Refuse a bad ``PCSM_JOBS`` or ``PCSM_THREADS`` before executing (the notebook reads them)."""
    from pcsm.core.training import set_threads
    from pcsm.experiments.parallel import jobs_from_env

    jobs_from_env()
    set_threads()  # reads PCSM_THREADS and refuses a bad value by that name


@contextmanager
def publishing_lock(spec: NotebookSpec, destinations: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock per destination of one notebook for the whole run: ``fcntl.flock`` on
    ``.NAME.pcsm-lock`` beside the destination (in the folder published to, so runs with different
    temporary folders, or on machines sharing the folder, see the same lock); a second run publishing
    the same notebook to the same place is refused at once, naming the notebook. The lock files, and
    folders created only to hold them, are removed when the run ends."""
    with ExitStack() as stack:
        for dest in sorted({d.resolve() for d in destinations}):
            stack.enter_context(lock_beside(spec, dest))
        yield


@contextmanager
def lock_beside(spec: NotebookSpec, dest: Path) -> Iterator[None]:
    """The lock of one destination (see :func:`publishing_lock`)."""
    created = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = dest.parent / f".{dest.name}{LOCK_SUFFIX}"
    try:
        with acquired(path) as held:
            if not held:
                raise ValueError(f"{spec.name} is being published by another run (to {dest}; lock {path}); "
                                 f"wait for it to finish")
            yield
    finally:
        for folder in created:  # deepest first; one holding anything else stays
            try:
                folder.rmdir()
            except OSError:
                break


@contextmanager
def acquired(path: Path) -> Iterator[bool]:
    """Try once to lock the file ``path`` (created when missing); yield whether this process holds it,
    and remove it before releasing. A file its previous holder removed between our open and our lock
    is not the lock any more: open the new one (up to ``LOCK_ATTEMPTS`` times)."""
    for _ in range(LOCK_ATTEMPTS):
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                break
            if not same_file(path, handle.fileno()):
                continue
            try:
                yield True
            finally:
                path.unlink(missing_ok=True)  # while still held, so no one locks the removed file
            return
    yield False


def same_file(path: Path, descriptor: int) -> bool:
    """Whether ``path`` still names the file open as ``descriptor``."""
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def failing_cell(path: Path) -> str:
    """The cell papermill was executing when the run stopped (the last one it started), numbered as in
    the source notebook, with its first line."""
    try:
        cells = read_notebook(path).cells
    except ValueError:
        return "an unknown cell"
    cells = [c for c in cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    started = [i for i, c in enumerate(cells, 1) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not started:
        return "an unknown cell"
    first = next((line for line in cells[started[-1] - 1].source.splitlines() if line.strip()), "")
    return f"cell {started[-1]} ({first[:60]!r})"


def run_papermill(spec: NotebookSpec, executed_path: Path, parameters: dict[str, Any], staging: Path,
                  published_dir: Path) -> None:
    """Execute ``spec`` into ``executed_path`` with its tables going to ``staging``; every failure
    (a cell's exception, a cell timeout, a dead kernel) becomes :class:`NotebookFailed`."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    environment = {RESULTS_ENV: str(staging), PUBLISHED_ENV: str(published_dir)}
    try:
        with patched_environ(environment):
            papermill.execute_notebook(str(spec.path), str(executed_path), parameters=parameters,
                                       kernel_name=KERNEL, cwd=str(spec.path.parent),
                                       execution_timeout=spec.timeout, progress_bar=False, log_output=False,
                                       extra_arguments=KERNEL_ARGUMENTS)
    except PapermillExecutionError as error:
        trace = ANSI_ESCAPE.sub("", "\n".join(error.traceback[-3:])) if error.traceback else ""
        raise NotebookFailed(f"{spec.name}: {failing_cell(executed_path)} raised {error.ename}: {error.evalue}"
                             f"\n{trace}") from None
    except CellTimeoutError:
        raise NotebookFailed(f"{spec.name}: {failing_cell(executed_path)} ran longer than the timeout of "
                             f"{spec.timeout} s (timeout of {spec.declared})") from None
    except DeadKernelError:
        raise NotebookFailed(f"{spec.name}: the kernel died while running {failing_cell(executed_path)} "
                             f"(out of memory, or the process exited)") from None


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables inside the block; restore the previous values after it."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_tables(spec: NotebookSpec, staging: Path) -> None:
    """Refuse a run that did not write every table it declares (``results`` of its ``CHAPTER``)."""
    missing = [f"{table}.csv" for table in spec.results if not (staging / f"{table}.csv").is_file()]
    if missing:
        raise NotebookFailed(f"{spec.name}: ran to the end but did not write {', '.join(missing)}, declared "
                             f"as the results of {spec.declared}")


def prepare(spec: NotebookSpec, profile: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a run's parameters at the door, before a kernel starts: the chapter's record of
    ``profile`` with ``overrides`` is built, which checks every value once. Returns the overrides to
    inject; a ValueError names the chapter and the parameter."""
    spec.record(profile, overrides)
    return dict(overrides or {})


def execute(
    spec: NotebookSpec,
    profile: str,
    output_dir: Path,
    results_target: Path,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
    published_dir: Path | None = None,
    subset: bool = False,
) -> str:
    """Execute one notebook unless up to date; return "executed" or "up to date".

    ``overrides``: of the profile's parameters (checked by ``prepare``), injected with the profile into
    the notebook's ``parameters`` cell; the provenance records every value of the resulting record, so
    the page shows each value the run used; ``published_dir``: where a collecting
    notebook reads the other notebooks' tables (default: ``results_target``); ``subset``: a
    validation subset, which need not write every declared table. Raises :class:`NotebookFailed`
    naming the notebook and the cell; the previous executed notebook, tables and provenance are then
    left untouched, and no temporary file remains.
    """
    overrides = dict(overrides or {})
    parameters = spec.record(profile, overrides).parameters()
    check_outputs(spec, output_dir, results_target)
    output = output_dir / spec.path.name
    with publishing_lock(spec, [output, results_target / f"{spec.name}.provenance.json"]):
        changes = provenance.code_changes()
        source = read_notebook(spec.path)
        dependencies = file_digests(spec, source)
        code = code_digest(dependencies)
        key = cache_key_for(source_digest(source), profile, parameters, code)
        if not force and up_to_date(spec, output, results_target, key):
            return "up to date"
        injected = {"profile": profile, "overrides": overrides}
        with tempfile.TemporaryDirectory(prefix=f"pcsm-{spec.name}-") as scratch:
            staging = Path(scratch) / "results"
            staging.mkdir()
            executed_path = Path(scratch) / output.name
            started = time.perf_counter()
            run_papermill(spec, executed_path, injected, staging, published_dir or results_target)
            if not subset:
                check_tables(spec, staging)
            record = provenance.collect(spec.name, profile, parameters, time.perf_counter() - started, code,
                                        changes)
            record["cache_key"] = key
            record[TABLES_KEY] = published_tables(staging)
            digests = {"source": source_digest(source), "dependencies": dependencies}
            finish_notebook(executed_path, record, digests)
            (staging / f"{spec.name}.provenance.json").write_text(json.dumps(record, indent=1) + "\n")
            files = {p: results_target / p.relative_to(staging) for p in sorted(staging.rglob("*"))
                     if p.is_file()}
            publish({**files, executed_path: output})
    return "executed"


def finish_notebook(path: Path, record: dict[str, Any], digests: dict[str, Any]) -> None:
    """Clean the executed notebook's outputs, append its provenance section and record its cache key
    and ``digests`` (of the notebook's source and of each file it depends on; ``pcsm status`` names the
    ones that changed since)."""
    executed = read_notebook(path)
    clean_outputs(executed)
    executed.cells = [
        c for c in executed.cells if PROVENANCE_TAG not in c.get("metadata", {}).get("tags", [])
    ]
    executed.cells.append(
        nbformat.v4.new_markdown_cell(provenance.as_markdown(record), metadata={"tags": [PROVENANCE_TAG]})
    )
    chapter = executed.metadata.get("pcsm", {}).get("chapter")
    executed.metadata["pcsm"] = {"chapter": chapter, "cache_key": record["cache_key"], "profile": record["profile"],
                                 "parameters": record["parameters"], **digests}
    nbformat.write(executed, path)


def select(plan: dict[str, NotebookSpec], names: list[str]) -> list[NotebookSpec]:
    """The named notebooks (file names, or paths of the declared files), all when ``names`` is empty;
    a ValueError names an unknown notebook, or a path that is not the declared notebook's file (the
    runner executes the declared file, never another one of the same name)."""
    stems = [n.removesuffix(".ipynb").split("/")[-1] for n in names]
    unknown = [n for n, stem in zip(names, stems) if stem not in plan]
    if unknown:
        raise ValueError(f"notebook: unknown {', '.join(unknown)}; known: {', '.join(plan)}")
    for name, stem in zip(names, stems):
        declared = plan[stem].path
        if "/" in name and Path(name).absolute().resolve() != declared.absolute().resolve():
            raise ValueError(f"notebook {name}: not the declared notebook {declared}; pcsm run executes "
                             f"only the notebooks of {declared.parent} (copy it there, or name it {stem})")
    return [plan[stem] for stem in stems] or list(plan.values())


def report_failure(spec: NotebookSpec, error: NotebookFailed, started: float) -> None:
    """Print a failed run: how long it ran, what failed where, and that nothing was published."""
    print(f"FAILED after {time.perf_counter() - started:.1f}s", flush=True)
    print(f"\n{error}\nPrevious outputs of {spec.name} were left untouched.", file=sys.stderr)


def output_folders(output_dir: Path | None, results_target: Path | None,
                   notebooks: Path) -> tuple[Path, Path]:
    """Where executed notebooks and tables go: both given, or neither (the notebooks' folder and
    ``results_dir()``), since a notebook is published together with its tables; never the
    repository's root."""
    if results_target is None and os.environ.get(RESULTS_ENV):
        results_target = results_dir()
    if (output_dir is None) != (results_target is None):
        given = "--output-dir" if results_target is None else f"--results-dir (or {RESULTS_ENV})"
        raise ValueError(f"{given} alone: an executed notebook is published together with its tables, "
                         f"so give both --output-dir and --results-dir (or neither)")
    output_dir, results_target = output_dir or notebooks, results_target or results_dir()
    for folder, what in ((output_dir, "--output-dir"), (results_target, "--results-dir")):
        if folder.resolve() == REPO_ROOT:
            raise ValueError(f"{what} {str(folder)!r}: is the repository's root ({REPO_ROOT}); name a folder "
                             f"of its own (e.g. /tmp/pcsm-run/{'notebooks' if 'output' in what else 'results'})")
    return output_dir, results_target


def run(
    names: list[str],
    profile: str | None = None,
    output_dir: Path | None = None,
    results_target: Path | None = None,
    force: bool = False,
    plan_file: Path = TOC_FILE,
) -> int:
    """Execute the named notebooks (all when empty) on ``profile`` (None: each notebook's published
    one); print one line each; return 0, or 1 when a notebook failed. Every selected notebook's
    parameters, the output folders and the environment are checked before the first is executed."""
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile: unknown value {profile!r}; choose one of {', '.join(PROFILES)}")
    plan = load_plan(plan_file)
    selected = select(plan, names)
    in_place = output_dir is None and results_target is None and not os.environ.get(RESULTS_ENV)
    output_dir, results_target = output_folders(output_dir, results_target, notebook_folder(plan))
    check_environment()
    jobs = []
    for spec in selected:
        chosen = profile or spec.published
        jobs.append((spec, chosen, prepare(spec, chosen)))
        check_outputs(spec, output_dir, results_target)
    for i, (spec, chosen, parameters) in enumerate(jobs, 1):
        if in_place and chosen != spec.published:
            print(f"note: {spec.name} runs on '{chosen}', not its published profile '{spec.published}': "
                  f"{output_dir / spec.path.name} and {results_target} will hold the {chosen} run",
                  flush=True)
        start = time.perf_counter()
        print(f"[{i}/{len(jobs)}] {spec.name} ({chosen}) ...", end=" ", flush=True)
        try:
            status = execute(spec, chosen, output_dir, results_target, force, parameters)
        except NotebookFailed as error:
            report_failure(spec, error, start)
            return 1
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM as the command line turns it: end the line, go on up
            print(f"interrupted after {time.perf_counter() - start:.1f}s", flush=True)
            raise
        print(f"{status} in {time.perf_counter() - start:.1f}s", flush=True)
    return 0
