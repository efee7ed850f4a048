"""Tests of pcsm.experiments.bound: the derivation chapter's identities, checked statistically."""

import numpy as np
import pandas as pd
import pytest

from pcsm.core.metrics import average_per_class_accuracy

from pcsm.experiments import bound as b
from pcsm.experiments import gaussian_mi as gx


@pytest.fixture(scope="module")
def sample():
    g = gx.mixture("imbalanced", 2)
    x, y = g.sample(40_000, seed=0)
    return g, x, y, g.mutual_information()[0]


@pytest.mark.parametrize("pi", [None, "true", "reversed"])
def test_prior_mismatch_identity_holds_for_an_imperfect_classifier(sample, pi):
    g, x, y, mi = sample
    prior = {None: np.full(5, 0.2), "true": g.priors, "reversed": g.priors[::-1]}[pi]
    logits = b.noisy_logits(g, x, 1.5, seed=1)
    r = b.prior_mismatch(g, x, y, logits, prior, mi)
    assert r["expected_kl"] > 0.05
    assert r["lhs"] == pytest.approx(r["rhs"], abs=4 * np.hypot(r["lhs_se"], r["rhs_se"]))
    assert r["prior_kl"] == pytest.approx(np.sum(g.priors * np.log(g.priors / prior)))


def test_noisy_classifier_reaches_the_target_accuracy_and_flips_the_sign(sample):
    g, x, y, mi = sample
    sigma = b.sigma_for_accuracy(g, x, y, 0.80, seed=2)
    assert b.accuracy(b.noisy_logits(g, x, sigma, seed=2), y) == pytest.approx(0.80, abs=0.002)
    assert b.balanced_formula(g.log_posteriors(x), y) > mi  # exact posterior: above by log M - H(Y)
    assert b.balanced_formula(b.noisy_logits(g, x, sigma, seed=2), y) < mi  # poor classifier: below
    with pytest.raises(ValueError, match="^target"):
        b.sigma_for_accuracy(g, x, y, 1.5, seed=0)


def test_pc_softmax_bound_is_at_least_donsker_varadhan_for_the_same_critic(sample):
    g, x, y, mi = sample
    for logits in (g.log_likelihoods(x), b.noisy_logits(g, x, 2.0, seed=3)):
        assert b.pc_softmax_bound(logits, y, g.priors) >= b.donsker_varadhan(logits, y, g.priors)


def test_likelihood_rule_maximises_average_per_class_accuracy(sample):
    g, x, y, _ = sample
    taus = np.linspace(-1, 2, 13)
    scores = b.per_class_accuracy_vs_tau(g, x, y, taus)
    assert abs(taus[scores.argmax()]) <= 0.25
    assert scores[taus == 0][0] > scores[taus == 1][0] + 0.01


def test_average_per_class_accuracy_weights_classes_equally():
    y = np.array([0, 0, 0, 1])
    assert average_per_class_accuracy(y, np.array([0, 0, 0, 0])) == pytest.approx(0.5)


def test_zipf_sweep_bias_tracks_log_m_minus_h_for_the_exact_posterior():
    rows = b.zipf_sweep([0.0, 1.0, 2.0], dim=1, n_samples=20_000, seed=0)
    assert rows[0]["log_m_minus_h"] == pytest.approx(0.0, abs=1e-12)
    for row in rows:
        assert row["bayes_error"] == pytest.approx(row["log_m_minus_h"], abs=0.03)
        assert row["noisy_error"] < row["bayes_error"]


@pytest.mark.parametrize("n_samples, seed, named", [(999, 0, "n_samples"), (10_000, -1, "seed"),
                                                    (10_000.0, 0, "n_samples"), (10_000, "0", "seed")])
def test_page_parameters_are_refused_by_name(n_samples, seed, named):
    with pytest.raises(ValueError, match=named):
        b.BoundConfig(n_samples, seed)


def test_bayes_plug_in_attains_the_truth_and_a_critic_loses_its_expected_kl(sample):
    g, x, y, mi = sample
    r = b.bayes_plug_in(g, x, y, mi)
    assert abs(r["z"]) < 4 and r["plug_in_se"] > 0
    gaps = {name: b.kl_gap(g, x, y, f, mi) for name, f in b.degraded_critics(g, x, seed=4).items()}
    assert set(gaps) == {"temperature 0.5", "temperature 2", "noise sd 1"}
    for r in gaps.values():
        assert r["expected_kl"] > 0.01 and r["bound"] < mi
        assert abs(r["z"]) < 4


def test_uniform_prior_pc_softmax_is_softmax_plus_log_m():
    logits = np.random.default_rng(0).normal(size=(500, 7)) * 5
    assert b.softmax_shift_error(logits) < 1e-12


@pytest.mark.parametrize("setting", ["balanced", "imbalanced"])
def test_balanced_formula_is_off_by_log_m_minus_h_and_pc_softmax_is_not(setting):
    g = gx.mixture(setting, 2)
    x, y = g.sample(40_000, seed=5)
    r = b.formulas_against_truth(g, x, y, g.mutual_information()[0])
    assert abs(r["balanced_z"]) < 4 and abs(r["pc_softmax_z"]) < 4
    assert r["balanced_error"] == pytest.approx(r["log_m_minus_h"], abs=0.03)
    assert (r["log_m_minus_h"] > 0.05) == (setting == "imbalanced")


def test_per_class_accuracy_difference_and_its_standard_error():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 30_000)
    a = np.where(rng.random(30_000) < 0.8, y, (y + 1) % 3)
    c = np.where(rng.random(30_000) < 0.7, y, (y + 1) % 3)
    difference, se = b.per_class_accuracy_difference(a, c, y, 3)
    assert difference == pytest.approx(average_per_class_accuracy(y, a)
                                       - average_per_class_accuracy(y, c))
    assert difference == pytest.approx(0.1, abs=4 * se) and 0.002 < se < 0.01
    assert b.per_class_accuracy_difference(a, a, y, 3) == (0.0, 0.0)


def test_verdicts_are_sentences_computed_from_the_numbers():
    assert "every d" in b.sign_verdict([1, 2], [0.1, -0.2], [0.3, -0.1])
    assert "at d = 2:" in b.sign_verdict([1, 2], [0.1, -0.2], [0.3, 0.1])
    assert "noise." in b.noise_verdict(1e-5, 1e-4)
    assert "more than" in b.noise_verdict(1e-3, 1e-4)
    assert b.noise_verdict(0.0, 0.0) == "That difference is zero."
    with pytest.raises(ValueError, match="^se"):
        b.noise_verdict(1e-3, 0.0)


def test_best_tau_on_a_grid_is_the_likelihood_rule_within_noise(sample):
    g, x, y, _ = sample
    r = b.best_tau_against_zero(g, x, y, np.linspace(-1, 2, 25))
    assert abs(r["best_tau"]) <= 0.25 and r["gain_over_tau0"] >= 0
    assert r["gain_over_tau0"] <= 3 * r["gain_se"] or r["best_tau"] == 0


def test_pc_softmax_and_logit_adjusted_losses_differ_by_log_prior():
    constant_error, gradient_error = b.logit_adjustment_errors(2_000, [0.1, 0.2, 0.7], seed=0)
    assert constant_error < 1e-12 and gradient_error < 1e-12


def test_readable_table_rounds_labels_and_never_shows_minus_zero():
    table = pd.DataFrame({"d": [1, 2], "error": [-0.0004, 0.1234], "extra": [0, 0]})
    shown = b.readable(table, {"d": ("d", None), "error": ("error (nats)", 3)})
    assert list(shown.columns) == ["d", "error (nats)"]
    assert list(shown["error (nats)"]) == ["0.000", "0.123"]
    with pytest.raises(ValueError, match="^columns"):
        b.readable(table, {"missing": ("m", 2)})


@pytest.fixture(scope="module")
def truth():
    return b.ground_truths("imbalanced", (1, 2), 20_000)


def test_ground_truths_are_the_mixtures_mutual_information(truth):
    assert list(truth) == [1, 2]
    for d, mi in truth.items():
        assert mi == pytest.approx(gx.mixture("imbalanced", d).mutual_information()[0])
    balanced = b.ground_truths("balanced", (1,), 20_000)[1]
    assert balanced > truth[1]  # uniform labels carry more information (log 5 > H(Y))


def test_check_tables_have_one_row_per_dimension_and_pass_their_checks(truth):
    check1 = b.bayes_plug_in_table(truth, 40_000, seed=0)
    assert list(check1.d) == [1, 2] and list(check1.ground_truth) == list(truth.values())
    assert (check1.z.abs() < 4).all()
    check4 = b.formulas_table("imbalanced", truth, 40_000, seed=0)
    assert ((check4.balanced_error - check4.log_m_minus_h).abs() < 0.03).all()
    assert (check4.log_m_minus_h > 0.05).all() and (check4.pc_softmax_error.abs() < 0.03).all()
    check3 = b.formulas_table("balanced", b.ground_truths("balanced", (1, 2), 20_000), 40_000, seed=0)
    assert (check3.log_m_minus_h.abs() < 1e-12).all()
    assert (check3[["balanced_z", "pc_softmax_z"]].abs() < 4).all().all()
    critics = b.critics_table(truth, 20_000, seed=0)
    assert (critics.pc_softmax >= critics.donsker_varadhan).all()
    assert (critics.pc_softmax < critics.ground_truth).all()


def test_prior_mismatch_table_degrades_to_the_papers_accuracy_and_the_identity_holds(truth):
    table = b.prior_mismatch_table(truth, 40_000, seed=0)
    quoted = b.paper.TABLE_1.set_index("dim").loc[[1, 2]]
    assert np.allclose(table.accuracy, quoted["acc_softmax"], atol=0.3)
    assert np.allclose(table.paper_error, quoted["softmax"] - quoted["gt"])
    assert (table.z.abs() < 4).all() and (table.expected_kl > 0).all()
    assert np.allclose(table.ours_error, table.lhs - np.array(list(truth.values())))
    # the paper's accuracies are whole percent: a classifier 0.5 points worse loses more KL, one better less
    assert (table.ours_error_low <= table.ours_error).all()
    assert (table.ours_error <= table.ours_error_high).all()


def test_kl_gap_table_has_one_row_per_critic_each_losing_its_expected_kl(truth):
    table = b.kl_gap_table(truth[2], 40_000, seed=0)
    assert list(table.critic) == ["temperature 0.5", "temperature 2", "noise sd 1"]
    assert (table.expected_kl > 0.01).all() and (table.z.abs() < 4).all()
    assert np.allclose(table.gap, truth[2] - table.bound)


def test_checks_table_keeps_every_checked_number_with_its_check(truth):
    tables = {"mismatch": pd.DataFrame({"d": [1], "z": [0.5]}),
              "sweep": pd.DataFrame({"exponent": [0.0, 1.0], "bayes_error": [0.1, 0.2]}),
              "check1": pd.DataFrame({"d": [1, 2], "z": [0.1, -0.2]}),
              "critics": pd.DataFrame({"d": [1], "pc_softmax": [0.9]}),
              "check2": pd.DataFrame({"critic": ["noise sd 1"], "gap": [0.3]}),
              "check3": pd.DataFrame({"d": [1], "balanced_z": [1.0]}),
              "check4": pd.DataFrame({"d": [1], "pc_softmax_z": [-1.0]})}
    checks = b.checks_table(tables, {"best_tau": 0.125})
    assert list(checks.columns) == ["check", "d", "quantity", "value"] and len(checks) == 10
    row = checks[checks.check == "critic gap vs expected KL, noise sd 1"].iloc[0]
    assert (row.d, row.quantity, row.value) == (2, "gap", 0.3)
    sweep = checks[checks.check == "zipf sweep (d is the exponent)"]
    assert list(sweep.d) == [0.0, 1.0] and list(sweep.value) == [0.1, 0.2]
    best = checks[checks.check == "best tau on the grid vs the likelihood rule"].iloc[0]
    assert (best.d, best.quantity, best.value) == (1, "best_tau", 0.125)


def test_zipf_prior_is_uniform_at_zero_and_refuses_negative_exponents():
    assert np.allclose(b.zipf_prior(4, 0.0), 0.25)
    p = b.zipf_prior(3, 1.0)
    assert p[0] / p[2] == pytest.approx(3.0)
    # P(y) proportional to y^-s over y = 1..M, as the page writes it: log M - H(Y) = 0.841 nats at s = 2.5
    p = b.zipf_prior(5, 2.5)
    assert np.allclose(p, np.arange(1, 6) ** -2.5 / np.sum(np.arange(1, 6) ** -2.5))
    assert np.log(5) + np.sum(p * np.log(p)) == pytest.approx(0.841, abs=5e-4)
    with pytest.raises(ValueError, match="^exponent"):
        b.zipf_prior(3, -1.0)


def _mismatch(ours, low, high, paper, se=0.001):
    n = len(ours)
    return pd.DataFrame({"d": [1, 2, 5, 10][:n], "ours_error": ours, "ours_error_low": low,
                         "ours_error_high": high, "paper_error": paper, "lhs_se": [se] * n})


def test_identity_sizes_compare_intervals_with_the_papers_rounding():
    table = b.identity_sizes(_mismatch([0.10, 0.05, -0.06], [0.09, 0.04, -0.08], [0.11, 0.06, -0.04],
                                       [0.09, 0.08, -0.03]))
    assert list(table.same_sign) == [True, True, True]
    assert list(table.same_size) == [True, False, True]  # 0.062 < 0.08 - 0.01; -0.042 >= -0.04
    assert table.ours_low[0] == pytest.approx(0.088) and table.paper_high[1] == pytest.approx(0.09)


def test_identity_verdict_says_signs_and_names_the_sizes_that_differ():
    text = b.identity_verdict(_mismatch([0.10, 0.05, -0.06], [0.09, 0.04, -0.08], [0.11, 0.06, -0.04],
                                        [0.09, 0.08, -0.03]))
    assert text.startswith("These errors have the signs of the paper's softmax errors at every d.")
    assert "agree with the paper's at d = 1 and 5 within the uncertainties, but not at d = 2" in text
    assert "+0.050 nats (+0.038 to +0.062) against the paper's +0.080" in text
    assert "predicts the sign" in text and "does not pin down their size" in text
    agree = b.identity_verdict(_mismatch([0.10], [0.09], [0.11], [0.09]))
    assert "agree with the paper's at every d" in agree and "pin down" not in agree
    wrong = b.identity_verdict(_mismatch([0.10, -0.05], [0.09, -0.06], [0.11, -0.04], [0.09, 0.08]))
    assert "except at d = 2" in wrong and "neither every sign nor every size" in wrong
    with pytest.raises(ValueError, match="^mismatch"):
        b.identity_verdict(_mismatch([], [], [], []))
