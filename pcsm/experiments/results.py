"""Where notebooks write their result tables, atomically, and where data sets live.

The runner points ``PCSM_RESULTS_DIR`` at a staging folder and publishes its contents only when the
whole notebook succeeded; run by hand, a notebook writes to the repository's ``results/`` folder.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_ENV = "PCSM_RESULTS_DIR"
PUBLISHED_ENV = "PCSM_PUBLISHED_RESULTS"
DATA_ENV = "PCSM_DATA"


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
