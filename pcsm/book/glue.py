"""Helpers the book's pages share: numbers glued into the prose and one plotting style."""

from __future__ import annotations

from typing import Any

import numpy as np

#: One colour per method across the book (seaborn's colour-blind palette; the Bayes plug-in, the
#: reference every estimator is measured against, in dark grey; post-hoc correction, PC-softmax's
#: prior correction applied after training, in a lighter blue). Its order is every legend's order.
PALETTE: dict[str, str] = {"bayes": "#4d4d4d", "pc-softmax": "#0173b2", "softmax": "#de8f05",
                           "post-hoc": "#56b4e9", "mine": "#029e73", "knn": "#cc78bc"}
#: How each method is named in legends and table headers.
METHOD_NAMES: dict[str, str] = {"bayes": "Bayes plug-in", "pc-softmax": "PC-softmax", "softmax": "softmax",
                                "post-hoc": "post-hoc correction", "mine": "MINE", "knn": "kNN (Ross 2014)"}

#: seaborn settings every chapter's figures use (one look across the book).
BOOK_STYLE: dict[str, Any] = {
    "style": "whitegrid", "context": "notebook", "palette": list(PALETTE.values()),
    "rc": {"figure.dpi": 100, "figure.figsize": (7.0, 4.0), "legend.frameon": False},
}


def glue_value(name: str, value: Any) -> None:
    """Glue a number (or string) for ``{glue:text}`` roles in the page's prose, without displaying it.

    numpy scalars are turned into Python numbers first: MyST-NB formats ``{glue:text}`name:.3f``` by
    parsing the stored repr, which fails for ``np.float64(...)``.
    """
    from myst_nb import glue

    if isinstance(value, np.generic):
        value = value.item()
    glue(name, value, display=False)


def glue_figure(name: str, figure: Any) -> None:
    """Glue a matplotlib figure under ``name`` without displaying it here, and close it.

    On its own page a ``{glue:figure}`` directive pastes it. Another page pastes it with the
    ``{glue:any}`` directive and the ``:doc:`` option (myst-nb 1.4)::

        ```{glue:any} name
        :doc: ../notebooks/NOTEBOOK.ipynb
        ```

    and the source page must also display the figure itself (e.g. through ``{glue:figure}``), or Sphinx
    does not copy the image into the build and the other page's paste has no file to show.
    """
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, figure, display=False)
    plt.close(figure)


def use_book_style() -> None:
    """Apply the book's plotting style (:data:`BOOK_STYLE`, colours in :data:`PALETTE`) through seaborn."""
    import seaborn as sns

    sns.set_theme(**BOOK_STYLE)
