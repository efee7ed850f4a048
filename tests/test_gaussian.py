import math
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pcsm.core.gaussian import GaussianMixture, paper_mixture


def quadrature_mi(mixture: GaussianMixture) -> float:
    """I(X;Y) of a 1-D mixture by adaptive quadrature of sum_y p(x,y) log(p(x|y)/p(x))."""
    means = mixture.means[:, 0]
    sds = np.sqrt(mixture.covariances[:, 0, 0])

    def integrand(x: float) -> float:
        lik = stats.norm.pdf(x, means, sds)
        px = (mixture.priors * lik).sum()
        if px == 0:
            return 0.0
        return float(sum(p * l * np.log(l / px) for p, l in zip(mixture.priors, lik) if l > 0))

    lo, hi = means.min() - 12 * sds.max(), means.max() + 12 * sds.max()
    value, _ = integrate.quad(integrand, lo, hi, limit=400, points=list(means))
    return value


@pytest.mark.parametrize("balanced", [True, False])
def test_mutual_information_matches_quadrature_in_1d(balanced):
    mixture = paper_mixture(1, balanced=balanced)
    mi, se = mixture.mutual_information(400_000, seed=3, method="monte-carlo")
    assert se < 0.002
    assert abs(mi - quadrature_mi(mixture)) < 4 * se


def test_unequal_covariances_match_quadrature():
    mixture = GaussianMixture([[0.0], [1.5], [-2.0]], [[[1.0]], [[0.25]], [[4.0]]], [0.5, 0.3, 0.2])
    mi, se = mixture.mutual_information(400_000, seed=4, method="monte-carlo")
    assert abs(mi - quadrature_mi(mixture)) < 4 * se


def test_paper_mixture_layout():
    mixture = paper_mixture(3, balanced=False)
    np.testing.assert_allclose(mixture.means, np.outer([0, 2, -2, 4, -4], np.ones(3)))
    np.testing.assert_allclose(mixture.priors, np.array([1, 2, 3, 4, 5]) / 15)
    np.testing.assert_allclose(mixture.covariances, np.broadcast_to(np.eye(3), (5, 3, 3)))
    np.testing.assert_allclose(paper_mixture(2, balanced=True).priors, np.full(5, 0.2))


def test_log_likelihoods_match_scipy():
    mixture = GaussianMixture([[0.0, 1.0], [2.0, -1.0]], [[[2.0, 0.5], [0.5, 1.0]], np.eye(2)])
    x = np.random.default_rng(0).normal(size=(20, 2))
    expected = np.stack(
        [stats.multivariate_normal(m, c).logpdf(x) for m, c in zip(mixture.means, mixture.covariances)], 1
    )
    np.testing.assert_allclose(mixture.log_likelihoods(x), expected, rtol=1e-10)


def test_posteriors_normalise():
    mixture = paper_mixture(2, balanced=False)
    x, _ = mixture.sample(100, seed=0)
    np.testing.assert_allclose(np.exp(mixture.log_posteriors(x)).sum(1), 1.0)


def test_sampling_is_seeded_and_follows_the_prior():
    mixture = paper_mixture(2, balanced=False)
    x1, y1 = mixture.sample(50_000, seed=7)
    x2, y2 = mixture.sample(50_000, seed=7)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(np.bincount(y1) / 50_000, mixture.priors, atol=0.01)
    np.testing.assert_allclose(x1[y1 == 3].mean(0), [4.0, 4.0], atol=0.05)
    assert not np.array_equal(mixture.sample(10, seed=8)[0], x1[:10])


def test_sample_per_class_gives_exact_counts():
    mixture = paper_mixture(1, balanced=False)
    _, y = mixture.sample_per_class([5, 10, 15, 20, 25], seed=0)
    np.testing.assert_array_equal(np.bincount(y), [5, 10, 15, 20, 25])


def test_bayes_accuracy_and_label_entropy():
    mixture = paper_mixture(1, balanced=True)
    # 1-D, unit variances, means 2 apart: the inner classes are right with prob 1 - 2 Phi(-1), the two
    # outer ones with prob 1 - Phi(-1)
    phi = stats.norm.cdf(-1.0)
    expected = (3 * (1 - 2 * phi) + 2 * (1 - phi)) / 5
    assert mixture.bayes_accuracy(400_000, seed=0) == pytest.approx(expected, abs=0.003)
    assert mixture.label_entropy() == pytest.approx(math.log(5))


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="dim: must be >= 1"):
        paper_mixture(0, balanced=True)
    with pytest.raises(ValueError, match="dim: must be >= 1"):
        paper_mixture(-3, balanced=True)
    with pytest.raises(ValueError, match="means: expected shape"):
        GaussianMixture([0.0, 1.0])
    with pytest.raises(ValueError, match="priors: must sum to 1"):
        GaussianMixture([[0.0], [1.0]], priors=[0.5, 0.6])
    with pytest.raises(ValueError, match="priors: entries must be finite and non-negative"):
        GaussianMixture([[0.0], [1.0]], priors=[1.5, -0.5])
    with pytest.raises(ValueError, match="covariances: expected shape"):
        GaussianMixture([[0.0], [1.0]], covariances=np.eye(2))
    with pytest.raises(ValueError, match="covariances: every matrix must be symmetric positive definite"):
        GaussianMixture([[0.0], [1.0]], covariances=[[[1.0]], [[-1.0]]])
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 2\)"):
        paper_mixture(2, balanced=True).log_likelihoods(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n: must be >= 1"):
        paper_mixture(2, balanced=True).sample(0, seed=0)
    with pytest.raises(ValueError, match="counts: expected 5 non-negative integers"):
        paper_mixture(2, balanced=True).sample_per_class([1, 2], seed=0)


def test_core_quadrature_matches_the_reference_quadrature():
    for balanced in (True, False):
        mixture = paper_mixture(1, balanced=balanced)
        assert mixture.quadrature_mutual_information() == pytest.approx(quadrature_mi(mixture), abs=1e-7)


def test_quadrature_refuses_more_than_one_dimension():
    with pytest.raises(ValueError, match="^dim"):
        paper_mixture(2, balanced=True).quadrature_mutual_information()


def test_a_class_of_prior_zero_adds_nothing():
    """Dropping a zero-prior class leaves I(X;Y), H(Y) and the samples' law unchanged (no NaN)."""
    with_zero = GaussianMixture([[0.0], [1.0], [2.0]], priors=[0.5, 0.0, 0.5])
    without = GaussianMixture([[0.0], [2.0]], priors=[0.5, 0.5])
    assert with_zero.mutual_information(20_000, 0)[0] == pytest.approx(without.mutual_information(20_000, 0)[0])
    assert with_zero.quadrature_mutual_information() == pytest.approx(without.quadrature_mutual_information())
    assert with_zero.label_entropy() == pytest.approx(math.log(2))
    assert 1 not in with_zero.sample(1000, seed=0)[1]
    assert GaussianMixture([[0.0], [1.0]], priors=[1.0, 0.0]).mutual_information(1000, 0) == (0.0, 0.0)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_means_and_covariances_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="^means"):
        GaussianMixture([[0.0], [bad]])
    with pytest.raises(ValueError, match="^covariances"):
        GaussianMixture([[0.0], [1.0]], [[[1.0]], [[bad]]])


@pytest.mark.parametrize("priors", [[0.5, 0.5], [0.3, 0.7]])
def test_quadrature_of_fully_separated_components_is_the_label_entropy(priors):
    """Components 1e6 sd apart: y is a function of x, so I(X;Y) = H(Y)."""
    mixture = GaussianMixture([[0.0], [1e6]], priors=priors)
    assert mixture.quadrature_mutual_information() == pytest.approx(mixture.label_entropy(), abs=1e-9)


@pytest.mark.parametrize("means", [[[0.0], [0.0]], [[0.0], [1.0]]])
def test_quadrature_of_a_very_narrow_component_matches_monte_carlo(means):
    mixture = GaussianMixture(means, [[[1e-12]], [[1.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = mixture.quadrature_mutual_information()
    mc, se = mixture.mutual_information(400_000, seed=1, method="monte-carlo")
    assert value == pytest.approx(mc, abs=4 * se + 1e-6)
    assert value == pytest.approx(math.log(2), abs=1e-4)


def test_quadrature_handles_500_components_and_mixed_widths():
    rng = np.random.default_rng(0)
    wide = GaussianMixture(np.arange(500.0)[:, None])
    # 500 unit Gaussians one sd apart: the inner ones are alike, so I lies well below H(Y) = log 500
    assert 0 < wide.quadrature_mutual_information() < math.log(500) - 1
    mixed = GaussianMixture(rng.normal(size=(30, 1)), (10.0 ** rng.uniform(-10, 0, 30))[:, None, None],
                            rng.dirichlet(np.ones(30)))
    mc, se = mixed.mutual_information(200_000, seed=2, method="monte-carlo")
    assert mixed.quadrature_mutual_information() == pytest.approx(mc, abs=4 * se)


def test_mutual_information_is_quadrature_in_one_dimension_and_monte_carlo_otherwise():
    line = paper_mixture(1, balanced=False)
    assert tuple(line.mutual_information()) == (line.quadrature_mutual_information(), 0.0)
    plane = GaussianMixture([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]], priors=[0.2, 0.3, 0.5])
    value, se = plane.mutual_information(50_000, seed=0)
    assert 0 < se < 0.01 and (value, se) == plane.mutual_information(50_000, seed=0, method="monte-carlo")
    with pytest.raises(ValueError, match="^method"):
        line.mutual_information(method="exact")
    with pytest.raises(ValueError, match="^method: quadrature needs"):
        plane.mutual_information(method="quadrature")


@pytest.mark.parametrize("dim", [2, 7])
def test_a_mixture_on_a_line_is_integrated_by_quadrature_and_agrees_with_monte_carlo(dim):
    """A shared (non-identity) covariance and collinear means reduce to one dimension."""
    rng = np.random.default_rng(dim)
    root = rng.normal(size=(dim, dim)) + 2 * np.eye(dim)
    direction = rng.normal(size=dim)
    means = np.outer([0.0, 1.0, -1.5, 3.0], direction)
    mixture = GaussianMixture(means, np.broadcast_to(root @ root.T, (4, dim, dim)), [0.1, 0.2, 0.3, 0.4])
    line = mixture.line_reduction()
    assert line is not None and line.dim == 1
    value, se = mixture.mutual_information()
    mc, mc_se = mixture.mutual_information(200_000, seed=1, method="monte-carlo")
    assert se == 0.0 and value == pytest.approx(mc, abs=4 * mc_se)
    tilted = GaussianMixture(means + np.eye(4, dim)[:, ::-1] * 0.5, mixture.covariances, mixture.priors)
    assert tilted.line_reduction() is None


def test_bayes_accuracy_is_exact_on_a_line_and_agrees_with_monte_carlo():
    assert GaussianMixture([[0.0], [1e6]]).bayes_accuracy() == 1.0
    assert GaussianMixture([[0.0], [0.0]], priors=[0.3, 0.7]).bayes_accuracy() == pytest.approx(0.7)
    # two unit Gaussians 2 apart, equal priors: the boundary is the midpoint
    assert GaussianMixture([[0.0, 0.0], [2.0, 0.0]]).bayes_accuracy() == pytest.approx(stats.norm.cdf(1.0))
    rng = np.random.default_rng(5)
    mixed = GaussianMixture(rng.normal(size=(30, 1)), (10.0 ** rng.uniform(-6, 0.5, 30))[:, None, None],
                            rng.dirichlet(np.ones(30)))
    exact = mixed.bayes_accuracy(method="auto")
    assert exact == pytest.approx(mixed.bayes_accuracy(400_000, seed=0, method="monte-carlo"), abs=0.003)
    with pytest.raises(ValueError, match="^method"):
        mixed.bayes_accuracy(method="quadrature")


def test_sample_memory_is_proportional_to_the_data():
    """d = 300, n = 20000 used to build one 300 x 300 matrix per sample (13.4 GiB)."""
    tracemalloc.start()
    x, _ = paper_mixture(300, balanced=True).sample(20_000, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert x.shape == (20_000, 300)
    assert peak < 5 * x.nbytes


def test_sample_applies_the_cholesky_factor_per_component():
    mixture = GaussianMixture([[0.0, 1.0], [2.0, -1.0]], [[[2.0, 0.5], [0.5, 1.0]], [[0.5, 0.0], [0.0, 3.0]]])
    x, y = mixture.sample(200_000, seed=3)
    for k in range(2):
        np.testing.assert_allclose(np.cov(x[y == k].T), mixture.covariances[k], atol=0.03)
        np.testing.assert_allclose(x[y == k].mean(0), mixture.means[k], atol=0.02)


def test_seeds_and_tensors_with_gradients_are_accepted_or_refused_by_name():
    mixture = paper_mixture(2, balanced=True)
    np.testing.assert_array_equal(mixture.sample(10, seed=np.int64(3))[0], mixture.sample(10, seed=3)[0])
    for bad in (2**64, -1, 1.5, "3"):
        with pytest.raises(ValueError, match="^seed"):
            mixture.sample(10, seed=bad)
    x = torch.randn(4, 2, requires_grad=True)
    np.testing.assert_allclose(mixture.log_likelihoods(x), mixture.log_likelihoods(x.detach().numpy()))
    assert GaussianMixture(torch.zeros(2, 1, requires_grad=True) + torch.tensor([[0.0], [1.0]])).dim == 1


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_paper_mixture_refuses_a_balanced_flag_that_is_not_a_bool(bad):
    with pytest.raises(TypeError, match="^balanced"):
        paper_mixture(1, balanced=bad)


def test_quadrature_warns_when_its_error_estimate_is_too_large(monkeypatch):
    from pcsm.core import gaussian

    monkeypatch.setattr(gaussian, "QUADRATURE_TOLERANCE", 0.0)
    with pytest.warns(RuntimeWarning, match="^quadrature_mutual_information: error estimate"):
        paper_mixture(1, balanced=True).quadrature_mutual_information()
