"""Helpers for the book's notebooks."""

from __future__ import annotations

from typing import Any

import numpy as np


def glue_value(name: str, value: Any) -> None:
    """Glue a number (or string) for ``{glue:text}`` roles in the page's prose, without displaying it.

    numpy scalars are turned into Python numbers first: MyST-NB formats ``{glue:text}`name:.3f``` by
    parsing the stored repr, which fails for ``np.float64(...)``.
    """
    from myst_nb import glue

    if isinstance(value, np.generic):
        value = value.item()
    glue(name, value, display=False)
