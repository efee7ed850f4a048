"""estimate_mi on inputs a new user passes: shifted or scaled x, arbitrary label values, tiny splits,
numpy scalars and pandas objects, and results outside what I(X;Y) allows."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import torch

import pcsm.core.mi as mi_module
from pcsm.core.gaussian import paper_mixture
from pcsm.core.mi import MIEstimate, check_bounds, estimate_mi

FAST = {"epochs": 2, "repeats": 1, "hidden": (8,)}


@pytest.fixture(scope="module")
def task():
    return paper_mixture(1, balanced=False).sample(600, seed=0)


@pytest.fixture(scope="module")
def reference(task):
    x, y = task
    return estimate_mi(x, y, seed=0, **FAST)


@pytest.fixture
def no_training(monkeypatch):
    """Make any training fail loudly: a refusal must come before work starts."""
    def fail(*args, **kwargs):
        raise AssertionError("training started before the bad argument was refused")

    monkeypatch.setattr(mi_module, "train_classifier", fail)


@pytest.mark.parametrize("transform", [lambda x: x + 1e8, lambda x: x - 1e9, lambda x: x * 1e-300,
                                       lambda x: x * 1e39, lambda x: 7.5 * x - 3.0],
                         ids=["plus 1e8", "minus 1e9", "times 1e-300", "times 1e39", "affine"])
def test_the_estimate_does_not_depend_on_an_offset_or_scale_of_x(task, reference, transform):
    x, y = task
    fit = estimate_mi(transform(x), y, seed=0, **FAST)
    assert fit.value == pytest.approx(reference.value, abs=1e-4)


def test_labels_are_the_classes_present_whatever_their_values(task, reference):
    x, y = task
    relabelled = np.array([3, 7, 10, 12, 40])[y]
    fit = estimate_mi(x, relabelled, seed=0, **FAST)
    assert fit.value == pytest.approx(reference.value, abs=1e-12)
    assert fit.classes.tolist() == [3, 7, 10, 12, 40]
    np.testing.assert_allclose(fit.prior, reference.prior)


@pytest.mark.filterwarnings("ignore:estimate_mi")
def test_the_balanced_formula_on_two_classes_labelled_3_and_7_stays_below_log_2(task):
    x, y = task
    binary = np.where(y < 3, 3, 7)
    fit = estimate_mi(x, binary, "softmax", seed=0, **FAST)
    assert fit.upper_bound == pytest.approx(math.log(2))
    assert fit.value <= math.log(2)


def test_a_prior_over_labels_0_to_max_is_aligned_with_the_classes_present(task):
    x, y = task
    binary = np.where(y < 3, 3, 7)
    share = float(np.mean(binary == 3))
    prior = np.zeros(8)
    prior[[3, 7]] = [share, 1 - share]
    fit = estimate_mi(x, binary, prior=prior, seed=0, **FAST)
    np.testing.assert_allclose(fit.prior, [share, 1 - share])
    assert fit.upper_bound == pytest.approx(-(share * math.log(share) + (1 - share) * math.log(1 - share)))


@pytest.mark.filterwarnings("ignore:estimate_mi")
def test_one_huge_label_costs_memory_proportional_to_the_data(task):
    """Against the same fit with labels 0 and 1 (so one-off costs such as first imports cancel): a table
    indexed by label value (8 GB for 10**9) would exceed the allowance 400 times over."""
    x, y = task

    def peak_bytes(labels):
        tracemalloc.start()
        fit = estimate_mi(x, labels, seed=0, epochs=1, repeats=1, hidden=(4,))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return fit, peak

    peak_bytes(np.where(y < 3, 0, 1))  # warm: first-call allocations are not the labels' cost
    _, small = peak_bytes(np.where(y < 3, 0, 1))
    fit, huge = peak_bytes(np.where(y < 3, 0, 10**9))
    assert fit.classes.tolist() == [0, 10**9]
    assert huge < small + 20e6
    big_float = np.where(y < 3, 0.0, 2.0**24 + 2).astype(np.float32)
    assert estimate_mi(x, big_float, seed=0, epochs=1, repeats=1, hidden=(4,)).classes.tolist() == [0, 2**24 + 2]


def test_an_estimate_far_outside_the_range_is_flagged_whatever_its_standard_error():
    def result(value, stderr):
        return MIEstimate(value=value, stderr=stderr, ci=(0.0, 0.0), level=0.95, method="pc-softmax",
                          accuracy=0.5, prior=np.array([0.5, 0.5]), upper_bound=math.log(2), in_bounds=True,
                          cross_fit=True, calibrate=True, device="cpu")

    for value, stderr in [(-1.2e11, 1e12), (math.log(2) + 0.5, 10.0), (-0.3, 5.0), (float("nan"), 1.0)]:
        with pytest.warns(RuntimeWarning, match="outside"):
            assert not check_bounds(result(value, stderr)).in_bounds
    assert check_bounds(result(-0.01, 0.01)).in_bounds
    assert check_bounds(result(math.log(2) + 0.01, 0.01)).in_bounds


def test_numpy_scalars_ints_as_one_layer_and_detached_inputs_are_accepted(task, reference):
    x, y = task
    same = [
        estimate_mi(x, y, seed=np.int64(0), **FAST),
        estimate_mi(torch.tensor(x, requires_grad=True), torch.tensor(y), seed=0, **FAST),
        estimate_mi(pd.DataFrame(x), pd.Series(y), seed=0, **FAST),
        estimate_mi(x, y, seed=0, level=np.float32(0.95), **FAST),
        estimate_mi(x, y, seed=0, cross_fit=np.bool_(True), **FAST),
        estimate_mi(x, y, seed=0, **{**FAST, "hidden": 8}),
    ]
    for fit in same:
        assert fit.value == pytest.approx(reference.value, abs=1e-4)
    assert same[3].level == pytest.approx(0.95)


BAD = [
    ("val_fraction:", lambda x, y: ({"val_fraction": 0.001}, x, y)),
    ("val_fraction:", lambda x, y: ({"val_fraction": 0.999}, x, y)),
    ("val_fraction:", lambda x, y: ({}, np.random.default_rng(0).normal(size=(2000, 2)), np.repeat(np.arange(500), 4))),
    ("y:", lambda x, y: ({}, x[:4], np.array([0, 1, 0, 1]) * 0)),
    ("y:", lambda x, y: ({}, x, np.where(y == 0, np.inf, y))),
    ("y:", lambda x, y: ({}, x, np.where(y == 0, 1e20, y))),
    ("y:", lambda x, y: ({}, x, y + 0.5)),
    ("x:.*missing", lambda x, y: ({}, pd.DataFrame({"a": pd.array([1.0, pd.NA] * 300, dtype="Float64")}), y)),
    ("y:.*finite", lambda x, y: ({}, x, np.where(y == 0, np.nan, y))),
    ("seed:", lambda x, y: ({"seed": 2**64}, x, y)),
    ("seed:", lambda x, y: ({"seed": 1.5}, x, y)),
    ("hidden:", lambda x, y: ({"hidden": "50"}, x, y)),
    ("hidden:", lambda x, y: ({"hidden": (50, 0)}, x, y)),
    ("device:", lambda x, y: ({"device": "tpu"}, x, y)),
    ("level:", lambda x, y: ({"level": np.float32(1.5)}, x, y)),
]


@pytest.mark.parametrize(("name", "make"), BAD, ids=[f"{i}-{n}" for i, (n, _) in enumerate(BAD)])
def test_bad_input_is_refused_by_name_before_training(task, no_training, name, make):
    kwargs, x, y = make(*task)
    with pytest.raises(ValueError, match=f"^{name}") as error:
        estimate_mi(x, y, seed=kwargs.pop("seed", 0), **kwargs)
    assert "9223372036854775808" not in str(error.value)


def test_a_tiny_n_leaves_no_validation_split_and_is_refused(no_training):
    with pytest.raises(ValueError, match="^val_fraction:.*no validation"):
        estimate_mi(np.arange(8.0), np.array([0, 1] * 4))


@pytest.mark.parametrize("name", ["calibrate", "cross_fit", "progress"])
@pytest.mark.parametrize("value", ["False", "no", 0, None])
def test_text_or_numbers_where_a_bool_belongs_are_a_type_error(task, no_training, name, value):
    x, y = task
    with pytest.raises(TypeError, match=f"^{name}: expected True or False"):
        estimate_mi(x, y, **{name: value})


def test_cuda_without_a_gpu_is_refused_naming_device(task, no_training):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    x, y = task
    with pytest.raises(ValueError, match="^device: 'cuda' requested"):
        estimate_mi(x, y, device="cuda")


def test_a_huge_learning_rate_is_flagged_or_refused_naming_lr():
    x, y = paper_mixture(2, balanced=False).sample(1000, seed=0)
    with pytest.warns(RuntimeWarning, match="outside"):
        fit = estimate_mi(x, y, seed=0, lr=1e6, epochs=10, repeats=1, transform="standardise")
    assert not fit.in_bounds and fit.value < -1
    with pytest.raises(ValueError, match="^lr: the network's outputs became NaN or infinite"):
        estimate_mi(x, y, seed=0, lr=1e12, epochs=10, repeats=1)


@pytest.mark.parametrize(("given", "calls"), [(False, 1), (True, 2)])
def test_the_prior_is_checked_at_the_door_not_again_inside(task, monkeypatch, given, calls):
    """Parsed once into a Prior (twice for a given prior: as given, then restricted to the classes
    present); training, calibration and scoring trust it."""
    import pcsm.core._checks as checks

    x, y = task
    seen = []
    original = checks.check_prior
    monkeypatch.setattr(checks, "check_prior", lambda *a, **k: seen.append(a) or original(*a, **k))
    prior = np.bincount(y) / len(y) if given else None
    estimate_mi(x, y, prior=prior, seed=0, **FAST)
    assert len(seen) == calls
