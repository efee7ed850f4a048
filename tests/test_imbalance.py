"""Class counts of the imbalance profiles, their determinism and their errors."""

import numpy as np
import pytest

from pcsm.experiments.imbalance import (cap_per_class, long_tail_indices, long_tail_sizes, protocol_indices,
                                        step_caps)

LABELS = np.tile(np.arange(10), 500)  # 500 examples of each of 10 classes, interleaved


def test_step_caps_match_the_paper():
    assert step_caps(3000, 10) == (300, 3000) * 5
    assert step_caps(3000, 1) == (3000,) * 10
    assert step_caps(3000, 100) == (30, 3000) * 5


def test_cap_per_class_keeps_the_first_examples_in_index_order():
    kept = cap_per_class(LABELS, step_caps(400, 10))
    counts = np.bincount(LABELS[kept], minlength=10)
    assert counts.tolist() == [40, 400] * 5
    assert np.all(np.diff(kept) > 0)
    first_zeros = np.flatnonzero(LABELS == 0)[:40]
    assert set(first_zeros) <= set(kept) and not set(np.flatnonzero(LABELS == 0)[40:]) & set(kept)


def test_cap_larger_than_class_keeps_the_whole_class():
    counts = np.bincount(LABELS[cap_per_class(LABELS, [1000] * 10)], minlength=10)
    assert counts.tolist() == [500] * 10


def test_long_tail_sizes_decay_exponentially():
    sizes = long_tail_sizes(400, 100, 10)
    assert sizes[0] == 400 and sizes[-1] == 4
    expected = np.round(400 * 100.0 ** (-np.arange(10) / 9)).astype(int)
    assert sizes.tolist() == expected.tolist()
    assert np.all(np.diff(sizes) <= 0)
    assert long_tail_sizes(400, 1, 10).tolist() == [400] * 10


def test_long_tail_indices_have_the_profile_counts_and_depend_on_the_seed():
    a = long_tail_indices(LABELS, 400, 10, 10, seed=0)
    assert np.bincount(LABELS[a], minlength=10).tolist() == long_tail_sizes(400, 10, 10).tolist()
    assert np.array_equal(a, long_tail_indices(LABELS, 400, 10, 10, seed=0))
    assert not np.array_equal(a, long_tail_indices(LABELS, 400, 10, 10, seed=1))


def test_protocol_indices_dispatches():
    step = protocol_indices(LABELS, "step", ratio=10, n_max=100)
    assert np.bincount(LABELS[step]).tolist() == [10, 100] * 5
    tail = protocol_indices(LABELS, "long-tail", ratio=10, n_max=100, seed=3)
    assert np.bincount(LABELS[tail]).tolist() == long_tail_sizes(100, 10).tolist()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: step_caps(3000, 0.5), "ratio"),
        (lambda: long_tail_sizes(100, 0.9, 10), "ratio"),
        (lambda: long_tail_sizes(100, "10", 10), "ratio"),
        (lambda: step_caps(5, 100), "ratio"),
        (lambda: step_caps(0, 10), "n_max"),
        (lambda: cap_per_class(LABELS, [10, 10, 10]), "caps"),
        (lambda: cap_per_class(LABELS, [10]), "caps"),
        (lambda: cap_per_class(LABELS, [10] * 9 + [-1]), "caps"),
        (lambda: protocol_indices(LABELS, "zipf", ratio=10, n_max=100), "protocol"),
        (lambda: long_tail_indices(LABELS, 600, 10, 10, seed=0), "n_max"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
