"""Tests of pcsm.core.mi: calibration, folds and the classifier-based MI estimate."""

import math

import numpy as np
import pytest
import torch

from pcsm.core.gaussian import paper_mixture
from pcsm.core.losses import pc_log_softmax
from pcsm.core.mi import calibrate_logits, estimate_mi, log_posterior_scores, stratified_folds


@pytest.fixture(scope="module")
def easy_task():
    g = paper_mixture(1, balanced=False)
    x, y = g.sample_per_class(np.array([200, 400, 600, 800, 1000]), seed=3)
    return g, x, y


def test_stratified_folds_split_every_class_evenly_and_reproducibly():
    labels = np.repeat([0, 1, 2], [10, 21, 4])
    folds = stratified_folds(labels, 2, seed=0)
    for k, n in [(0, 10), (1, 21), (2, 4)]:
        assert sorted(np.bincount(folds[labels == k], minlength=2)) == [n // 2, n - n // 2]
    assert np.array_equal(folds, stratified_folds(labels, 2, seed=0))
    assert not np.array_equal(folds, stratified_folds(labels, 2, seed=1))


def test_log_posterior_scores_match_their_formulas():
    f = torch.randn(7, 4, dtype=torch.float64)
    prior = [0.1, 0.2, 0.3, 0.4]
    assert torch.allclose(log_posterior_scores(f, "softmax", prior), torch.log_softmax(f, 1) + math.log(4))
    assert torch.allclose(log_posterior_scores(f, "pc-softmax", prior), pc_log_softmax(f, prior))


@pytest.mark.parametrize("method", ["pc-softmax", "softmax"])
def test_calibration_undoes_a_temperature(easy_task, method):
    g, x, y = easy_task
    true = torch.as_tensor(g.log_likelihoods(x))
    if method == "softmax":
        true = torch.as_tensor(g.log_posteriors(x))
    temperature, bias = calibrate_logits(2.5 * true, torch.as_tensor(y), method, g.priors)
    assert temperature == pytest.approx(2.5, rel=0.1)
    assert bias.shape == (5,)


def test_calibration_rejects_unknown_method():
    with pytest.raises(ValueError, match="^method"):
        calibrate_logits(torch.zeros(3, 2), torch.tensor([0, 1, 0]), "mine", [0.5, 0.5])


def test_estimate_mi_is_close_to_ground_truth_on_an_easy_task(easy_task):
    g, x, y = easy_task
    fit = estimate_mi(x, y, prior=g.priors, seed=0, epochs=30)
    gt, _ = g.mutual_information(200_000, seed=0)
    assert abs(fit.value - gt) < 0.06
    assert fit.accuracy > g.bayes_accuracy(200_000, seed=0) - 0.03
    assert len(fit.fold_values) == 2 and len(fit.histories) == 2
    assert len(fit.training_curve) >= 1


def test_estimate_mi_is_reproducible(easy_task):
    g, x, y = easy_task
    a = estimate_mi(x[:1000], y[:1000], seed=4, epochs=3)
    b = estimate_mi(x[:1000], y[:1000], seed=4, epochs=3)
    assert a.value == b.value


def test_softmax_formula_overestimates_by_log_m_minus_label_entropy(easy_task):
    g, x, y = easy_task
    pc = estimate_mi(x, y, "pc-softmax", prior=g.priors, epochs=15)
    soft = estimate_mi(x, y, "softmax", prior=g.priors, epochs=15)
    bias = math.log(5) - g.label_entropy()
    assert soft.value - pc.value == pytest.approx(bias, abs=0.03)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"method": "mine"}, "method"),
        ({"n_folds": 1}, "n_folds"),
        ({"prior": [0.5, 0.6]}, "prior"),
        ({"seed": -1}, "seed"),
    ],
)
def test_estimate_mi_rejects_bad_arguments(kwargs, name):
    x, y = np.zeros((10, 1)), np.array([0, 1] * 5)
    with pytest.raises(ValueError, match=f"^{name}"):
        estimate_mi(x, y, **kwargs)


def test_estimate_mi_rejects_bad_data():
    with pytest.raises(ValueError, match="^y"):
        estimate_mi(np.zeros((10, 1)), np.array([0, 1] * 4))
    with pytest.raises(ValueError, match="^x"):
        estimate_mi(np.full((10, 1), np.nan), np.array([0, 1] * 5))
    with pytest.raises(ValueError, match="^y"):
        estimate_mi(np.zeros((10, 1)), np.array([0] * 9 + [1]))
