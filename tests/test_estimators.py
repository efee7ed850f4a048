import math

import numpy as np
import pytest
import torch

from pcsm.core.estimators import label_frequencies, mi_from_logits
from pcsm.core.gaussian import paper_mixture


def test_uniform_prior_softmax_and_pc_softmax_agree():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 4))
    labels = rng.integers(0, 4, 500)
    assert mi_from_logits(logits, labels, prior=np.full(4, 0.25)) == pytest.approx(
        mi_from_logits(logits, labels, method="softmax"), abs=1e-12
    )


def test_default_prior_is_label_frequencies():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(300, 3))
    labels = rng.choice(3, size=300, p=[0.6, 0.3, 0.1])
    assert mi_from_logits(logits, labels) == pytest.approx(
        mi_from_logits(logits, labels, prior=label_frequencies(labels, 3)), abs=1e-12
    )


def test_accepts_numpy_and_torch_equally():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(100, 5))
    labels = rng.integers(0, 5, 100)
    assert mi_from_logits(torch.from_numpy(logits).float(), torch.from_numpy(labels)) == pytest.approx(
        mi_from_logits(logits, labels), abs=1e-5
    )


def test_constant_logits_give_zero_information():
    labels = np.array([0, 1, 1, 2, 2, 2])
    assert mi_from_logits(np.zeros((6, 3)), labels) == pytest.approx(0.0, abs=1e-12)


def test_perfect_confident_classifier_approaches_label_entropy():
    labels = np.repeat([0, 1, 2, 3], [10, 20, 30, 40])
    logits = 50.0 * np.eye(4)[labels]
    prior = label_frequencies(labels, 4)
    entropy = -(prior * np.log(prior)).sum()
    assert mi_from_logits(logits, labels) == pytest.approx(entropy, abs=1e-6)
    # the balanced formula reports log M instead: the bias is log M - H(Y)
    assert mi_from_logits(logits, labels, method="softmax") == pytest.approx(math.log(4), abs=1e-6)


def test_bayes_logits_recover_ground_truth():
    mixture = paper_mixture(2, balanced=False)
    gt, gt_se = mixture.mutual_information(200_000, seed=0)
    x, y = mixture.sample(200_000, seed=1)
    estimate = mi_from_logits(mixture.log_likelihoods(x), y, prior=mixture.priors)
    assert abs(estimate - gt) < 4 * math.hypot(gt_se, 0.0015)


def test_bad_inputs_are_refused_by_name():
    logits = np.zeros((4, 3))
    with pytest.raises(ValueError, match="method: unknown value 'mine'"):
        mi_from_logits(logits, [0, 1, 2, 0], method="mine")
    with pytest.raises(ValueError, match="labels: expected 4 labels"):
        mi_from_logits(logits, [0, 1])
    with pytest.raises(ValueError, match=r"labels: labels must lie in \[0, 3\)"):
        mi_from_logits(logits, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="prior: must sum to 1"):
        mi_from_logits(logits, [0, 1, 2, 0], prior=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="logits: expected shape"):
        mi_from_logits(np.zeros(4), [0, 1, 2, 0])
    with pytest.raises(ValueError, match="logits: contains NaN"):
        mi_from_logits(np.full((4, 3), np.nan), [0, 1, 2, 0])
