"""Tests of pcsm.core.baselines: the Bayes plug-in, the joint kNN estimator and MINE."""

import numpy as np
import pytest
import torch
from sklearn.feature_selection import mutual_info_classif

from pcsm.core.baselines import StatisticsNetwork, bayes_plugin_mi, donsker_varadhan, knn_mi, mine_mi
from pcsm.core.gaussian import paper_mixture


@pytest.fixture(scope="module")
def task_1d():
    g = paper_mixture(1, balanced=False)
    x, y = g.sample_per_class(np.array([100, 200, 300, 400, 500]), seed=1)
    return g, x, y


def test_bayes_plugin_is_the_mean_log_posterior_ratio(task_1d):
    g, x, y = task_1d
    expected = np.mean(g.log_posteriors(x)[np.arange(len(y)), y] - np.log(g.priors[y]))
    assert bayes_plugin_mi(g, x, y) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_knn_equals_sklearn_in_one_dimension(task_1d, k):
    _, x, y = task_1d
    ours = knn_mi(x, y, n_neighbors=k)
    theirs = mutual_info_classif(x, y, n_neighbors=k, random_state=0)[0]
    assert ours > 0.5
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_knn_is_near_zero_when_x_ignores_y():
    rng = np.random.default_rng(0)
    assert abs(knn_mi(rng.standard_normal((2000, 3)), rng.integers(0, 4, 2000))) < 0.03


def test_knn_is_near_ground_truth_in_the_joint_space():
    g = paper_mixture(2, balanced=True)
    x, y = g.sample(4000, seed=2)
    assert knn_mi(x, y) == pytest.approx(g.mutual_information(200_000)[0], abs=0.05)


def test_knn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="^n_neighbors"):
        knn_mi(np.zeros((5, 1)), np.zeros(5, int), n_neighbors=0)
    with pytest.raises(ValueError, match="^y"):
        knn_mi(np.zeros((5, 1)), np.zeros(4, int))
    with pytest.raises(ValueError, match="^x"):
        knn_mi(np.full((5, 1), np.inf), np.zeros(5, int))


def test_donsker_varadhan_of_a_constant_statistic_is_zero():
    net = StatisticsNetwork(2, 3, (4,))
    torch.nn.init.zeros_(net.net[-1].weight)
    x, y = torch.randn(50, 2), torch.randint(0, 3, (50,))
    assert donsker_varadhan(net, x, y, np.full(3, 1 / 3)) == pytest.approx(0.0, abs=1e-9)


def test_mine_gives_a_sane_lower_estimate_on_an_easy_task(task_1d):
    g, x, y = task_1d
    fit = mine_mi(x, y, seed=0, epochs=40, batch_size=250)
    gt, _ = g.mutual_information(200_000)
    assert 0.6 < fit.value < gt + 0.08
    assert len(fit.fold_values) == 2 and all(len(c) >= 1 for c in fit.val_curves)


def test_mine_rejects_bad_arguments(task_1d):
    _, x, y = task_1d
    with pytest.raises(ValueError, match="^ema"):
        mine_mi(x, y, ema=0.0)
    with pytest.raises(ValueError, match="^n_folds"):
        mine_mi(x, y, n_folds=1)
