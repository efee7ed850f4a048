"""Compare a fresh execution's result tables with the committed ones, metric by metric.

Tolerances are absolute and declared per notebook in ``notebooks/profiles.toml``
(``tolerance = { "column glob" = value }``); a value of -1 skips a column (wall times). Columns no
pattern matches must agree to 1e-9: text and integers exactly.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path

import pandas as pd

EXACT = 1e-9
SKIP = -1


def tolerance_for(column: str, tolerances: dict[str, float]) -> float:
    """The absolute tolerance of the first glob in ``tolerances`` matching ``column``."""
    for pattern, value in tolerances.items():
        if fnmatch.fnmatch(column, pattern):
            return float(value)
    return EXACT


def _row_label(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys) or f"row {row.name}"


def compare_tables(fresh: pd.DataFrame, committed: pd.DataFrame, tolerances: dict[str, float]) -> list[str]:
    """Differences between two result tables, one readable line each (empty when they agree).

    Rows are matched in order; each message names the row by its text and integer columns.
    """
    if list(fresh.columns) != list(committed.columns):
        return [f"columns differ: fresh {list(fresh.columns)} vs committed {list(committed.columns)}"]
    if len(fresh) != len(committed):
        return [f"row count differs: fresh {len(fresh)} vs committed {len(committed)}"]
    keys = [c for c in committed.columns if not pd.api.types.is_float_dtype(committed[c])]
    problems = []
    for (_, new), (_, old) in zip(fresh.iterrows(), committed.iterrows()):
        for column in committed.columns:
            tol = tolerance_for(column, tolerances)
            if tol == SKIP:
                continue
            a, b = new[column], old[column]
            if isinstance(b, float) or isinstance(a, float):
                a, b = float(a), float(b)
                same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol + EXACT
            else:
                same = a == b
            if not same:
                tolerance = f" (tolerance {tol:g})" if tol != EXACT else ""
                problems.append(f"{_row_label(old, keys)}: {column} fresh {a!r} vs committed {b!r}{tolerance}")
    return problems


def compare_result_files(fresh_dir: Path, committed_dir: Path, names: list[str],
                         tolerances: dict[str, float]) -> list[str]:
    """Compare ``<name>.csv`` of both folders for every name; missing files are reported too."""
    problems = []
    for name in names:
        fresh, committed = fresh_dir / f"{name}.csv", committed_dir / f"{name}.csv"
        if not committed.exists():
            problems.append(f"{name}.csv: not committed under {committed_dir}")
        elif not fresh.exists():
            problems.append(f"{name}.csv: the fresh execution did not write it")
        else:
            diffs = compare_tables(pd.read_csv(fresh), pd.read_csv(committed), tolerances)
            problems += [f"{name}.csv, {d}" for d in diffs]
    return problems
