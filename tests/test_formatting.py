"""The one number formatter: every table, sentence and README row prints numbers through it."""

from __future__ import annotations

import numpy as np
import pytest

from pcsm.experiments.formatting import MISSING, mean_std_text, number_text


def test_mean_std_text_rounds_and_signs():
    assert mean_std_text(90.137, 0.4295) == "90.14 ± 0.43"
    assert mean_std_text(2.6752, 0.7511, signed=True) == "+2.68 ± 0.75"
    assert mean_std_text(-1.0, float("nan"), signed=True) == "-1.00"
    assert mean_std_text(float("nan"), 0.5) == MISSING


@pytest.mark.parametrize("value, digits, signed, expected", [
    (1.23456, 3, False, "1.235"), (1.23456, 3, True, "+1.235"), (-1.2, 2, True, "-1.20"),
    (-0.004, 2, False, "0.00"), (-0.004, 2, True, "0.00"), (0.004, 2, True, "0.00"), (0.0, 3, True, "0.000"),
    (np.float32(-0.0001), 3, True, "0.000"), (np.float32(0.25), 1, True, "+0.2"), (12, 0, False, "12"),
])
def test_numbers_round_sign_and_never_read_minus_zero(value, digits, signed, expected):
    assert number_text(value, digits, signed) == expected


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, np.float32("nan")])
def test_missing_values_read_a_dash(missing):
    assert number_text(missing) == number_text(missing, 3, signed=True) == MISSING
