"""Helpers the book's pages share: numbers glued into the prose and one plotting style."""

from __future__ import annotations

from typing import Any

import numpy as np

#: seaborn settings every chapter's figures use (one look across the book).
BOOK_STYLE: dict[str, Any] = {"style": "whitegrid", "context": "notebook", "palette": "colorblind",
                              "rc": {"figure.dpi": 100, "figure.figsize": (7.0, 4.0)}}


def glue_value(name: str, value: Any) -> None:
    """Glue a number (or string) for ``{glue:text}`` roles in the page's prose, without displaying it.

    numpy scalars are turned into Python numbers first: MyST-NB formats ``{glue:text}`name:.3f``` by
    parsing the stored repr, which fails for ``np.float64(...)``.
    """
    from myst_nb import glue

    if isinstance(value, np.generic):
        value = value.item()
    glue(name, value, display=False)


def use_book_style() -> None:
    """Apply the book's plotting style (:data:`BOOK_STYLE`) to matplotlib through seaborn."""
    import seaborn as sns

    sns.set_theme(**BOOK_STYLE)
