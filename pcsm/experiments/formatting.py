"""Numbers as the book prints them: the one formatter behind every table, sentence and README row.

A value rounded to ``digits`` decimals, with "+" on positive numbers where it is a signed quantity (a
difference, a gain), reads "0.00" (never "-0.00" or "+0.00") when it rounds to zero, and "—" when it is
missing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

MISSING = "—"  # what a missing (None or NaN) value reads


def number_text(value: Any, digits: int = 2, signed: bool = False) -> str:
    """``value`` rounded to ``digits`` decimals ("+" on positive numbers when ``signed``); a value that
    rounds to zero reads "0.00", never "-0.00"; missing values (None, NaN) read "—"."""
    if pd.isna(value):
        return MISSING
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        return text.lstrip("-")
    return f"{value:+.{digits}f}" if signed else text


def mean_std_text(mean: Any, std: Any, digits: int = 2, signed: bool = False) -> str:
    """``"mean ± std"`` through :func:`number_text` (the mean with its sign when ``signed``); a missing
    std, e.g. from one seed, is left out."""
    text = number_text(mean, digits, signed)
    return text if pd.isna(std) or text == MISSING else f"{text} ± {number_text(std, digits)}"
