"""Shared fixtures. Tests run torch on one thread: on a busy 2-core machine that is the fast setting."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)
