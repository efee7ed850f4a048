"""Bad or unusual input to the baselines: a correct result, or an error that names the parameter before
any training starts."""

import numpy as np
import pytest
import torch

from pcsm.core import baselines
from pcsm.core.baselines import StatisticsNetwork, bayes_plugin_mi, dv_estimate, knn_mi, mine_mi, train_mine
from pcsm.core.gaussian import paper_mixture

QUICK = {"epochs": 2, "batch_size": 100, "device": "cpu"}


@pytest.fixture(scope="module")
def task_2d():
    g = paper_mixture(2, balanced=False)
    x, y = g.sample(600, seed=5)
    return g, x, y


def test_knn_of_a_constant_x_is_exactly_zero():
    y = np.random.default_rng(0).integers(0, 3, 300)
    assert knn_mi(np.full((300, 2), 7.5), y) == 0.0
    assert knn_mi(np.zeros(300), y, standardize=False) == 0.0


@pytest.mark.parametrize("scale", [1e200, 1e-300, 3.0])
@pytest.mark.parametrize("standardize", [True, False])
def test_knn_does_not_depend_on_the_scale_of_x(task_2d, scale, standardize):
    _, x, y = task_2d
    reference = knn_mi(x, y, standardize=standardize)
    assert reference > 0.5
    assert knn_mi(x * scale, y, standardize=standardize) == pytest.approx(reference, abs=1e-9)


def test_knn_refuses_repeated_samples_by_name():
    x = np.repeat(np.arange(50.0), 8)[:, None]
    with pytest.raises(ValueError, match="^x: repeated samples"):
        knn_mi(x, np.tile([0, 1], 200))


def test_tensors_with_gradients_are_accepted(task_2d):
    g, x, y = task_2d
    xt = torch.tensor(x, requires_grad=True)
    assert knn_mi(xt, y) == knn_mi(x, y)
    assert bayes_plugin_mi(g, xt, torch.as_tensor(y)) == bayes_plugin_mi(g, x, y)
    assert mine_mi(xt, y, **QUICK).value == mine_mi(x, y, **QUICK).value


def test_labels_are_used_only_as_categories(task_2d):
    """Labels {3, 7} or a label of 10**9 are codes, not a count of classes (no 10**9-output network)."""
    _, x, y = task_2d
    relabelled = np.array([3, 7, 11, 12, 10**9])[y]  # order kept, so the codes are 0..4
    assert knn_mi(x, relabelled) == knn_mi(x, y)
    assert mine_mi(x, relabelled, **QUICK).value == mine_mi(x, y, **QUICK).value


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_labels_and_x_are_refused_by_name(task_2d, bad):
    g, x, y = task_2d
    labels = y.astype(float)
    labels[3] = bad
    with pytest.raises(ValueError, match="^y"):
        knn_mi(x, labels)
    with pytest.raises(ValueError, match="^y"):
        mine_mi(x, labels, **QUICK)
    x_bad = x.copy()
    x_bad[0, 1] = bad
    with pytest.raises(ValueError, match="^x"):
        bayes_plugin_mi(g, x_bad, y)
    with pytest.raises(ValueError, match="^y: expected 600 labels"):
        bayes_plugin_mi(g, x, y[:-1])


def test_mine_seeds_accept_numpy_integers_and_refuse_2_to_the_64(task_2d):
    _, x, y = task_2d
    assert mine_mi(x, y, seed=np.int64(3), **QUICK).value == mine_mi(x, y, seed=3, **QUICK).value
    for bad in (2**64, 1.0, "3"):
        with pytest.raises(ValueError, match="^seed"):
            mine_mi(x, y, seed=bad, **QUICK)


EMPTY_SPLITS = [(120, 5, 0.999), (2, 2, 0.001), (4, 500, 0.001)]  # per class, classes, val_fraction


@pytest.mark.parametrize(("n_per_class", "n_classes", "val_fraction"), EMPTY_SPLITS)
def test_mine_refuses_an_empty_split_before_training(monkeypatch, n_per_class, n_classes, val_fraction):
    monkeypatch.setattr(baselines, "train_mine", lambda *a, **k: pytest.fail("training started"))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = np.random.default_rng(0).standard_normal((y.shape[0], 2))
    with pytest.raises(ValueError, match="^val_fraction"):
        mine_mi(x, y, val_fraction=val_fraction, device="cpu")


def test_mine_hidden_is_an_int_or_a_sequence_of_ints(task_2d):
    _, x, y = task_2d
    assert len(mine_mi(x, y, hidden=8, **QUICK).fold_values) == 2
    for bad in ("50", 0, (8, -1)):
        with pytest.raises(ValueError, match="^hidden"):
            mine_mi(x, y, hidden=bad, **QUICK)


def test_bool_flags_must_be_bools(task_2d):
    _, x, y = task_2d
    with pytest.raises(TypeError, match="^standardize"):
        knn_mi(x, y, standardize="no")


def test_train_mine_keeps_the_weights_of_its_best_validation_epoch(task_2d):
    g, x, y = task_2d
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    torch.manual_seed(0)
    net = StatisticsNetwork(2, 5, (16,))
    curve = train_mine(net, xt[:400], yt[:400], (xt[400:], yt[400:]), g.priors,
                       epochs=40, batch_size=50, lr=3e-2, ema=0.01, patience=3, seed=0)
    assert len(curve) < 40 and int(np.argmax(curve)) == len(curve) - 4  # stopped 3 epochs after the best
    assert dv_estimate(net, xt[400:], yt[400:], g.priors) == pytest.approx(max(curve), abs=1e-12)
