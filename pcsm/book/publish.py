"""Publish a set of files all-or-nothing: every file is first copied beside its destination under a
name unique to this run (``.NAME.XXXX.pcsm-incoming``), then each destination is swapped in by a
rename, the previous file kept as ``.NAME.XXXX.pcsm-previous`` until all succeeded. On any failure the
swaps done so far are undone, so the previous set stays complete, and the temporary files are removed.
Both suffixes are ignored by git. The runner holds a lock per notebook around this (a ``.pcsm-lock``
file beside each destination), so two runs never interleave their swaps."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

INCOMING = ".pcsm-incoming"
READABLE = 0o666  # published files get the usual permissions (less the umask), not a temporary file's 0600
PREVIOUS = ".pcsm-previous"


def _beside(path: Path, suffix: str) -> Path:
    """A new, empty file in ``path``'s folder whose name is unique to this call."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_destinations(destinations: list[Path]) -> None:
    """Refuse destinations that exist but are not files, or whose folder is not a folder."""
    for dest in destinations:
        if dest.exists() and not dest.is_file():
            raise ValueError(f"{dest}: exists and is not a file; move it away before publishing")
        for parent in dest.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ValueError(f"{parent}: is not a folder; cannot publish {dest.name} under it")
                break


def publish(files: dict[Path, Path]) -> None:
    """Move each staged file (key) to its destination (value), all or none."""
    check_destinations(list(files.values()))
    incoming: list[Path] = []
    swapped: list[tuple[Path, Path | None]] = []
    try:
        for source, dest in files.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            incoming.append(_beside(dest, INCOMING))
            shutil.copyfile(source, incoming[-1])
            os.chmod(incoming[-1], READABLE & ~_umask())
        for tmp, dest in zip(incoming, files.values()):
            previous = None
            if dest.exists():
                previous = _beside(dest, PREVIOUS)
                try:
                    os.replace(dest, previous)
                except BaseException:
                    previous.unlink()
                    raise
            swapped.append((dest, previous))
            os.replace(tmp, dest)
    except BaseException:
        for dest, previous in reversed(swapped):
            if previous is not None and previous.exists():
                os.replace(previous, dest)
            elif previous is None:
                dest.unlink(missing_ok=True)
        for tmp in incoming:
            tmp.unlink(missing_ok=True)
        raise
    for _, previous in swapped:
        if previous is not None:
            previous.unlink(missing_ok=True)
