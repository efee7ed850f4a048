"""Where notebooks write their result tables, atomically, where data sets live, and the one reader of
the files the command line and the chapters read.

The runner points ``PCSM_RESULTS_DIR`` at a staging folder and publishes its contents only when the
whole notebook succeeded; run by hand, a notebook writes to the repository's ``results/`` folder.
When it publishes, the runner records each table's row count and sha256 in the notebook's provenance
record (:data:`TABLES_KEY`); :func:`read_table` checks a table against that record before returning
it, so a table truncated or changed since it was published is refused by name, not read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_ENV = "PCSM_RESULTS_DIR"
PUBLISHED_ENV = "PCSM_PUBLISHED_RESULTS"
DATA_ENV = "PCSM_DATA"
PROVENANCE_SUFFIX = ".provenance.json"  # <notebook>.provenance.json, written by the runner
# in a provenance record: {file name: {"rows": n, "sha256": hex}} of each table the run published
TABLES_KEY = "tables"


def data_root() -> Path:
    """Where data sets are downloaded, generated and cached: ``$PCSM_DATA`` or ``<repo>/data``; a
    root that is (or lies inside) a file raises ``ValueError`` naming ``PCSM_DATA``."""
    root = Path(os.environ.get(DATA_ENV) or REPO_ROOT / "data")
    existing = next(path for path in (root, *root.parents) if path.exists())
    if not existing.is_dir():
        raise ValueError(f"{DATA_ENV}: {root} cannot be a folder ({existing} is a file); "
                         f"point {DATA_ENV} at a folder for the data sets")
    return root


def results_dir() -> Path:
    """The folder result tables go to: ``$PCSM_RESULTS_DIR`` or ``<repo>/results``."""
    return Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / "results")


def published_results_dir() -> Path:
    """Where the committed (published) result tables are read from: ``$PCSM_PUBLISHED_RESULTS`` (the
    runner sets it to its results target) or ``<repo>/results``. A notebook that collects other
    notebooks' results reads here, while it writes its own through ``save_table``."""
    return Path(os.environ.get(PUBLISHED_ENV) or REPO_ROOT / "results")


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write`` on a binary handle of a temporary file in ``path``'s folder, then rename it to
    ``path``: readers see the old file or the complete new one, never a half-written one, and a failed
    ``write`` leaves nothing behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_write`."""
    atomic_write(path, lambda handle: handle.write(data))


def save_table(table: pd.DataFrame, name: str) -> None:
    """Write ``table`` as ``<results_dir>/<name>.csv`` (floats with 6 significant digits).

    Returns nothing, so a notebook cell ending in it shows no (temporary) path.
    """
    atomic_write_text(results_dir() / f"{name}.csv", table.to_csv(index=False, float_format="%.6g"))


def check_file(path: Path | str, what: str = "file", missing_ok: bool = False) -> Path:
    """``path`` as a Path when it is a readable file (or, with ``missing_ok``, absent); otherwise a
    ``ValueError`` naming it: missing, a folder, not a regular file, or not readable."""
    path = Path(path)
    if missing_ok and not path.exists() and not path.is_symlink():
        return path
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {what}; move it away or name the {what}")
    if not path.exists():
        raise ValueError(f"{path}: no such {what}")
    if not path.is_file():
        raise ValueError(f"{path}: is not a regular file, so not a {what}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{path}: the {what} is not readable (permissions)")
    return path


def check_folder(folder: Path | str, what: str) -> Path:
    """``folder`` as a Path when it is, or can be created as, a folder this process can write to (checked
    before any work whose result goes there); otherwise a ``ValueError`` naming ``what`` and the path:
    a file, a path inside a file, or read-only."""
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        where = "is a file" if existing == folder else f"lies inside the file {existing}"
        raise ValueError(f"{what}: {folder} {where}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: {folder} cannot be written ({existing} is read-only)")
    return folder


def read_json(path: Path | str, what: str, keys: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON object in ``path``; a ``ValueError`` naming the file (and ``what`` it should be) when it
    is missing, a folder, not JSON, not an object or lacks one of ``keys``."""
    path = check_file(path, what)
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a {what} (not JSON: {error}); it may be truncated") from None
    missing = [key for key in keys if not isinstance(record, dict) or key not in record]
    if not isinstance(record, dict) or missing:
        lacking = f"no {', '.join(repr(k) for k in missing)}" if isinstance(record, dict) else "not an object"
        raise ValueError(f"{path}: not a {what} ({lacking})")
    return record


def table_entry(data: bytes) -> dict[str, Any]:
    """What a provenance record keeps of a published table: its data rows and the sha256 of its bytes."""
    return {"rows": max(data.count(b"\n") - 1, 0), "sha256": hashlib.sha256(data).hexdigest()}


def published_entry(path: Path) -> tuple[Path, dict[str, Any]] | None:
    """The provenance record beside ``path`` that lists it among its tables, and its entry there; None
    when no record does (a table not published by the runner). Unreadable records are skipped (the
    reader of a record names it)."""
    for record_path in sorted(path.parent.glob(f"*{PROVENANCE_SUFFIX}")):
        try:
            tables = json.loads(record_path.read_text(encoding="utf-8")).get(TABLES_KEY)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(tables, dict) and isinstance(tables.get(path.name), dict):
            return record_path, tables[path.name]
    return None


def check_published(path: Path, data: bytes) -> None:
    """Refuse (``ValueError`` naming the file and the record) a table whose bytes are not those its
    notebook published: truncated, or changed since."""
    found = published_entry(path)
    if found is None:
        return
    record_path, entry = found
    actual = table_entry(data)
    if actual["sha256"] != entry.get("sha256"):
        notebook = record_path.name.removesuffix(PROVENANCE_SUFFIX)
        raise ValueError(f"{path}: not the table {notebook} published ({actual['rows']} rows where "
                         f"{record_path.name} records {entry.get('rows')}, and another sha256): truncated "
                         f"or changed since; restore it (git checkout) or re-run `pcsm run {notebook}`")


def _text(path: Path, data: bytes) -> str:
    """A table's bytes as text; ``ValueError`` naming the file when it is not UTF-8, empty or cut off."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a CSV table (not UTF-8 at byte {error.start})") from None
    if not text.strip():
        raise ValueError(f"{path}: empty (no header, no rows); re-run the notebook that writes it")
    if not text.endswith("\n"):
        raise ValueError(f"{path}: truncated (its last line has no line end); re-run the notebook that "
                         "writes it")
    return text


def _check_fields(path: Path, text: str) -> None:
    """``ValueError`` naming the file and row when a row has not as many fields as the header."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    for row in reader:
        if row and len(row) != len(header):
            raise ValueError(f"{path}, row {reader.line_num}: {len(row)} fields where the header has "
                             f"{len(header)} (truncated or damaged)")


def _check_numbers(path: Path, table: pd.DataFrame, numeric: Iterable[str]) -> pd.DataFrame:
    """The table with the ``numeric`` columns as numbers (those pandas read as text become floats);
    ``ValueError`` naming file, row and column of the first value that is not a number (an empty cell
    is NaN, not an error)."""
    table = table.copy()
    for column in (c for c in numeric if not pd.api.types.is_numeric_dtype(table[c])):
        numbers = pd.to_numeric(table[column], errors="coerce")
        bad = table[column][numbers.isna() & table[column].notna()]
        if len(bad):
            raise ValueError(f"{path}, row {bad.index[0] + 2}, column {column!r}: {bad.iloc[0]!r} "
                             "is not a number")
        table[column] = numbers.astype(float)
    return table


def read_table(path: Path | str, columns: Iterable[str] = (), numeric: Iterable[str] = (),
               min_rows: int = 1) -> pd.DataFrame:
    """A result table, checked before anything reads it: a file (not missing, not a folder), the bytes
    its notebook published when a provenance record beside it lists it (:func:`check_published`),
    UTF-8, ending in a line end, every row as wide as the header, holding ``columns`` (and
    ``numeric``, whose values must be numbers; rows are numbered as lines of the file) and at least
    ``min_rows`` rows. Any failure is a ``ValueError`` naming the file (and the row)."""
    path = check_file(path, "result table")
    data = path.read_bytes()
    check_published(path, data)
    text = _text(path, data)
    _check_fields(path, text)
    try:
        table = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{path}: not a CSV table ({error})") from None
    numeric = list(numeric)
    missing = [c for c in dict.fromkeys([*columns, *numeric]) if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: lacks the column(s) {', '.join(missing)}; has {', '.join(table.columns)}")
    if len(table) < min_rows:
        raise ValueError(f"{path}: {len(table)} rows, expected at least {min_rows}"
                         + ("" if len(table) else " (the table has no rows)"))
    return _check_numbers(path, table, numeric)
