"""Core library: bad input is refused by pcsm with the parameter named (one table per module)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pcsm.core._checks import as_label_tensor, check_positive_float, check_prior_covers
from pcsm.core.losses import (
    logit_adjusted_cross_entropy,
    pc_log_softmax,
    pc_softmax_cross_entropy,
)
from pcsm.core.models import mlp
from pcsm.core.training import seed_everything, train_classifier

PRIOR = [0.2, 0.3, 0.5]


def test_integer_and_numpy_logits_give_finite_pc_log_softmax():
    expected = pc_log_softmax(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), PRIOR)
    for logits in (torch.tensor([[1, 2, 3]]), np.array([[1, 2, 3]]), np.array([[1.0, 2.0, 3.0]]), [[1, 2, 3]]):
        out = pc_log_softmax(logits, PRIOR)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, expected)


def test_float32_logits_keep_their_dtype_and_values():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    out = pc_log_softmax(logits, PRIOR)
    assert out.dtype == torch.float32
    # the row-max shift (for stability at huge logits) changes float32 rounding only
    torch.testing.assert_close(out, logits - torch.logsumexp(logits + torch.tensor(PRIOR).log(), 1, keepdim=True))


def _train(**kwargs):
    x, y = torch.randn(20, 2), torch.randint(0, 2, (20,))
    train_classifier(mlp(2, 2, (4,)), **{"x": x, "y": y, "epochs": 1, **kwargs})


BAD_INPUTS = [
    ("reduction", lambda: pc_softmax_cross_entropy(torch.zeros(2, 3), [0, 1], PRIOR, reduction="bogus")),
    ("reduction", lambda: logit_adjusted_cross_entropy(torch.zeros(2, 3), [0, 1], PRIOR, reduction="bogus")),
    ("logits", lambda: pc_log_softmax([["a", "b"]], [0.5, 0.5])),
    ("labels", lambda: pc_softmax_cross_entropy(torch.zeros(2, 3), ["a", "b"], PRIOR)),
    ("labels", lambda: logit_adjusted_cross_entropy(torch.zeros(2, 3), [0, 1, 2], PRIOR)),
    ("y", lambda: as_label_tensor(np.array(["cat", "dog"]), "y", 2)),
    ("y", lambda: as_label_tensor(np.array([0, None]), "y", 2)),
    ("batch_size", lambda: _train(batch_size=0)),
    ("patience", lambda: _train(patience=0, validation=(torch.randn(4, 2), torch.zeros(4, dtype=torch.long)))),
    ("patience", lambda: _train(patience=-2, validation=(torch.randn(4, 2), torch.zeros(4, dtype=torch.long)))),
    ("seed", lambda: _train(seed=-1)),
    ("seed", lambda: seed_everything(-1)),
    ("lr", lambda: check_positive_float(-1.0, "lr")),
    ("lr", lambda: check_positive_float(float("nan"), "lr")),
    ("lr", lambda: check_positive_float(0, "lr")),
    ("lr", lambda: check_positive_float("fast", "lr")),
    ("prior", lambda: check_prior_covers(np.array([1.0, 0.0]), torch.tensor([0, 1]))),
]


@pytest.mark.parametrize("name, call", BAD_INPUTS, ids=[f"{i}-{n}" for i, (n, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_refused_by_name(name, call):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


# --- inputs one step from the refused ones: silent wrong results, library tracebacks ---------


def test_complex_x_is_refused_not_reduced_to_its_real_part():
    from pcsm.core.mi import estimate_mi

    x = np.random.default_rng(0).normal(size=(40, 1)) + 1j
    for value in (x, torch.from_numpy(x), x.tolist()):
        with pytest.raises(ValueError, match="^x: must be real"):
            estimate_mi(value, np.arange(40) % 2)


def test_a_prior_series_is_read_by_label_not_by_position():
    import pandas as pd

    from pcsm.core.mi import resolve_prior

    logits = torch.tensor([[1.0, 2.0], [0.5, -1.0]], dtype=torch.float64)
    by_label = pc_log_softmax(logits, pd.Series([0.7, 0.3], index=[1, 0]))
    torch.testing.assert_close(by_label, pc_log_softmax(logits, [0.3, 0.7]), rtol=0, atol=0)
    labels, classes = torch.tensor([0, 1] * 5), np.array([3, 7])
    prior = resolve_prior(pd.Series([0.4, 0.6], index=[7, 3]), labels, classes)
    np.testing.assert_allclose(prior.p, [0.6, 0.4])
    with pytest.raises(ValueError, match="^prior: indexed by label, the labels must be integers"):
        pc_log_softmax(logits, pd.Series([0.7, 0.3], index=["b", "a"]))


def test_huge_logits_keep_the_prior_share():
    from pcsm.core.estimators import mi_from_logits

    logits = torch.tensor([[1e30, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    assert pc_log_softmax(logits, [0.2] * 5)[0, 0].item() == pytest.approx(-np.log(0.2), abs=1e-12)
    separated = torch.tensor([[1e30, 0.0], [0.0, 1e30]], dtype=torch.float64)
    assert mi_from_logits(separated, [0, 1], prior=[0.4, 0.6]) == pytest.approx(
        -0.5 * (np.log(0.4) + np.log(0.6)), abs=1e-12)


def test_the_stable_formula_agrees_with_the_plain_one_on_ordinary_logits():
    logits = 5 * torch.randn(200, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    plain = logits - torch.logsumexp(logits + prior.log(), 1, keepdim=True)
    torch.testing.assert_close(pc_log_softmax(logits, prior), plain, rtol=0, atol=1e-12)


def test_no_rows_are_refused_for_a_mean_and_well_defined_otherwise():
    with pytest.raises(ValueError, match="^logits: no rows"):
        pc_softmax_cross_entropy(torch.zeros(0, 3), [], PRIOR)
    assert pc_softmax_cross_entropy(torch.zeros(0, 3), [], PRIOR, reduction="sum").item() == 0.0
    assert pc_softmax_cross_entropy(torch.zeros(0, 3), [], PRIOR, reduction="none").shape == (0,)


def test_a_zero_prior_for_a_class_that_occurs_is_refused_naming_prior_and_class():
    from pcsm.core.baselines import bayes_plugin_mi
    from pcsm.core.estimators import mi_from_logits
    from pcsm.core.gaussian import GaussianMixture

    with pytest.raises(ValueError, match=r"^prior: zero probability for class\(es\) \[1\]"):
        mi_from_logits(torch.zeros(2, 2), [0, 1], prior=[1.0, 0.0])
    mixture = GaussianMixture([[0.0], [3.0]], priors=[1.0, 0.0])
    with pytest.raises(ValueError, match=r"^mixture.priors: zero probability for class\(es\) \[1\]"):
        bayes_plugin_mi(mixture, np.zeros((2, 1)), [0, 1])
    with pytest.raises(ValueError, match=r"^prior: zero probability for class\(es\) \[1\]"):
        _train(loss="pc-softmax", prior=[1.0, 0.0])


def test_a_label_beyond_n_classes_is_refused_not_dropped():
    from pcsm.core.metrics import per_class_accuracy

    with pytest.raises(ValueError, match=r"^y_true: labels must lie in \[0, 2\)"):
        per_class_accuracy(np.array([0, 1, 2]), np.array([0, 1, 1]), n_classes=2)


def test_fewer_than_two_folds_are_refused():
    from pcsm.core.training import stratified_folds

    for n_folds in (0, 1, -3):
        with pytest.raises(ValueError, match="^n_folds: must be >= 2"):
            stratified_folds(np.array([0, 1, 0, 1]), n_folds, 0)


def test_text_where_a_number_belongs_is_refused_naming_it():
    with pytest.raises(ValueError, match="^tau: expected a number"):
        logit_adjusted_cross_entropy(torch.zeros(2, 3), [0, 1], PRIOR, tau="1")


def test_nan_x_in_log_likelihoods_is_refused_naming_x():
    from pcsm.core.gaussian import paper_mixture

    with pytest.raises(ValueError, match="^x: contains NaN"):
        paper_mixture(1, balanced=True).log_likelihoods(np.array([[np.nan]]))


def test_train_classifier_refuses_numpy_inputs_labels_beyond_the_outputs_and_nan_x_by_name():
    x, y = torch.randn(20, 2), torch.randint(0, 2, (20,))
    with pytest.raises(TypeError, match="^x: expected a torch.Tensor"):
        _train(x=x.numpy())
    with pytest.raises(TypeError, match="^y: expected a torch.Tensor"):
        _train(y=y.numpy())
    with pytest.raises(ValueError, match=r"^y: labels must lie in \[0, 2\)"):
        _train(y=y + 2)
    with pytest.raises(ValueError, match="^x: contains NaN"):
        _train(x=torch.where(torch.arange(20)[:, None] == 3, torch.nan, x))
    with pytest.raises(ValueError, match=r"^x: the model does not take rows of shape \(3,\)"):
        _train(x=torch.randn(20, 3))


def test_x_without_columns_and_absurd_repeats_are_refused_naming_them():
    from pcsm.core.mi import estimate_mi

    with pytest.raises(ValueError, match=r"^x: has no columns \(shape \(240, 0\)\)"):
        estimate_mi(np.zeros((240, 0)), np.arange(240) % 2)
    with pytest.raises(ValueError, match="^repeats: must be <= 1000"):
        estimate_mi(np.zeros((240, 1)), np.arange(240) % 2, repeats=10**14)
