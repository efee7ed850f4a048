"""Shared fixtures. Tests run torch on one thread: on a busy 2-core machine that is the fast setting."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


def _write_tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def write_tree() -> Callable[[Path, Mapping[str, str]], Path]:
    """``write_tree(root, {relative path: text})``: the files written under ``root`` (folders made as
    needed); returns ``root``."""
    return _write_tree
