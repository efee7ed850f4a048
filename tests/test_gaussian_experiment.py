"""Tests of pcsm.experiments.gaussian_mi."""

import math

import nbformat
import numpy as np
import pandas as pd
import pytest

from pcsm.core.baselines import bayes_plugin_mi, knn_mi
from pcsm.experiments import gaussian_mi as gx
from pcsm.experiments import paper
from pcsm.experiments.imbalance import long_tail_prior
from pcsm.experiments.results import REPO_ROOT

GOOD = {"dims": [1, 2], "settings": ["imbalanced"], "estimators": ["bayes", "knn"], "seeds": [0],
        "imbalanced_prior": paper.PRIOR_TABLE_1}


def test_the_record_accepts_good_parameters():
    config = gx.GaussianMIConfig.for_profile(**GOOD, vs_n_sizes=[100], epochs=3, batch_size=10)
    assert config.dims == (1, 2) and config.vs_n_sizes == (100,)
    assert config.run_options()["training"] == {"hidden": (100, 100, 100), "batch_size": 10, "patience": 10,
                                                "epochs": 3, "repeats": 1, "lr": 1e-3,
                                                "optimism": False}


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"dims": []}, "dims"),
        ({"dims": [0]}, "dims"),
        ({"dims": [1.5]}, "dims"),
        ({"settings": ["skewed"]}, "settings"),
        ({"estimators": ["mine", "ksg"]}, "estimators"),
        ({"estimators": "knn"}, "estimators"),
        ({"seeds": [-1]}, "seeds"),
        ({"imbalanced_prior": [0.1, 0.2, 0.3, 0.4, 0.5]}, "imbalanced_prior"),
        ({"imbalanced_prior": [0.5, 0.5]}, "imbalanced_prior"),
        ({"vs_n_sizes": [10]}, "vs_n_sizes"),
        ({"wins_sizes": [3]}, "wins_sizes"),
        ({"n_samples_imbalanced": 5}, "n_samples_imbalanced"),
        ({"vs_n_estimators": ["nope"]}, "vs_n_estimators"),
        ({"wins_seeds": "0"}, "wins_seeds"),
        ({"hidden": [100, 0]}, "hidden"),
        ({"n_jobs": -1}, "n_jobs"),
        ({"sample_sizes": [100]}, "sample_sizes"),
        ({"epochs": 0}, "epochs"),
        ({"patience": -3}, "patience"),
        ({"mine_epochs": 0}, "mine_epochs"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"repeats": 0}, "repeats"),
        ({"gt_samples": 1}, "gt_samples"),
        ({"lr": 0}, "lr"),
        ({"lr": float("nan")}, "lr"),
    ],
)
def test_the_record_names_the_bad_parameter(change, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        gx.GaussianMIConfig.for_profile(**{**GOOD, **change})


def test_the_record_refuses_an_optimism_that_is_not_a_bool():
    with pytest.raises((TypeError, ValueError), match="^optimism"):
        gx.GaussianMIConfig.for_profile(**{**GOOD, "optimism": "no"})


def test_mixtures_have_the_requested_priors():
    assert np.allclose(gx.mixture("balanced", 3).priors, 0.2)
    g = gx.mixture("imbalanced", 3)
    assert np.allclose(g.priors, np.arange(1, 6) / 15)
    assert g.means.shape == (5, 3)
    with pytest.raises(ValueError, match="^setting"):
        gx.mixture("other", 1)
    assert np.allclose(gx.Task("imbalanced", 2, prior=(0.6, 0.1, 0.1, 0.1, 0.1)).mixture().priors[0], 0.6)


@pytest.mark.parametrize(("fields", "name"), [
    ({"setting": "suite", "dim": 2}, "n_classes, ratio, covariance"),
    ({"setting": "balanced", "dim": 2, "n_classes": 3}, "n_classes, ratio, covariance"),
    ({"setting": "balanced", "dim": 2, "prior": (0.2,) * 5}, "prior"),
    ({"setting": "imbalanced", "dim": 2, "prior": (0.5, 0.5)}, "prior"),
    ({"setting": "suite", "dim": 2, "n_classes": 3, "ratio": 0.5, "covariance": "shared"}, "ratio"),
    ({"setting": "suite", "dim": 2, "n_classes": 3, "ratio": 2, "covariance": "full"}, "covariance"),
    ({"setting": "balanced", "dim": 0}, "dim"),
    ({"setting": "balanced", "dim": 2, "warp": "square"}, "warp"),
])
def test_task_refuses_fields_that_do_not_describe_a_mixture(fields, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        gx.Task(**fields)


def test_runs_refuse_bad_fields_by_name():
    task = gx.Task("balanced", 1)
    for fields, name in (((-1, 100, "knn"), "seed"), ((0, 10, "knn"), "n_samples"), ((0, 100, "ksg"), "estimator")):
        with pytest.raises(ValueError, match=f"^{name}"):
            gx.Run(task, *fields)


def test_class_counts_follow_the_prior():
    counts = gx.class_counts(np.arange(1, 6) / 15, 90_000)
    assert counts.tolist() == [6000, 12000, 18000, 24000, 30000]
    assert gx.class_counts(np.array([0.999, 0.001]), 10).tolist() == [10, 2]


def test_ground_truth_matches_the_paper_at_d1():
    truth = gx.Task("imbalanced", 1).ground_truth(100_000)
    assert truth["gt"] == pytest.approx(1.022, abs=4 * truth["gt_se"] + 0.002)
    assert truth["label_entropy"] == pytest.approx(-sum(p * math.log(p) for p in paper.PRIOR_TABLE_1))


def test_run_gives_one_row_per_estimator_on_the_same_samples():
    options = {"training": {"epochs": 2, "batch_size": 50}, "mine": {"epochs": 2}}
    task = gx.Task("imbalanced", 1)
    rows = [gx.run(gx.Run(task, 0, 300, name), **options) for name in gx.ESTIMATORS]
    assert {r["n_samples"] for r in rows} == {300} and {r["n_drawn"] for r in rows} == {300}
    assert all(np.isfinite(r["mi"]) for r in rows)
    acc = {r["estimator"]: r["accuracy"] for r in rows}
    assert 0 < acc["bayes"] <= 1 and np.isnan(acc["knn"]) and np.isnan(acc["mine"])
    again = [gx.run(gx.Run(task, 0, 300, name)) for name in ("bayes", "knn")]
    assert [r["mi"] for r in again] == [rows[0]["mi"], rows[gx.ESTIMATORS.index("knn")]["mi"]]


def test_summarise_averages_seeds_and_subtracts_the_truth_and_keeps_wall_time_out():
    rows = pd.DataFrame({"setting": "balanced", "dim": 1, "n_samples": 10, "estimator": "knn",
                         "seed": [0, 1], "mi": [1.0, 1.2], "accuracy": np.nan, "seconds": [1.0, 3.0]})
    truth = pd.DataFrame([{"setting": "balanced", "dim": 1, "gt": 1.05, "gt_se": 0.0}])
    out = gx.summarise(rows, truth).iloc[0]
    assert out["mi_mean"] == pytest.approx(1.1)
    assert out["mi_std"] == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert out["error"] == pytest.approx(0.05)
    assert out["n_seeds"] == 2 and "seconds" not in out  # a result table holds results, not wall time


def fake_summary(pc_error=0.01, mine_error=0.1, knn_error=0.05, pc_accuracy=0.79):
    records = []
    for dim, gt in [(1, 1.0), (10, 1.5)]:
        for est, err, acc in [("pc-softmax", pc_error, pc_accuracy), ("softmax", 0.12, 0.79),
                              ("mine", mine_error, np.nan), ("knn", knn_error, np.nan)]:
            records.append({"setting": "imbalanced", "dim": dim, "n_samples": 10, "estimator": est,
                            "mi_mean": gt + err, "accuracy_mean": acc, "gt": gt, "error": err,
                            "abs_error": abs(err), "bayes_accuracy": 0.792})
    return pd.DataFrame(records)


def test_worst_error_is_the_largest_absolute_error_with_its_standard_error():
    summary = fake_summary().assign(mi_std=0.02, n_seeds=4, gt_se=0.0)
    worst = (summary.estimator == "knn") & (summary.dim == 10)
    summary.loc[worst, ["error", "mi_std", "gt_se"]] = [-0.3, 0.04, 0.03]
    value, se = gx.worst_error(summary, "knn")
    assert value == pytest.approx(0.3) and se == pytest.approx(math.hypot(0.04 / 2, 0.03))
    assert gx.worst_error(summary, "pc-softmax") == pytest.approx((0.01, 0.01))
    assert all(math.isnan(v) for v in gx.worst_error(summary, "bayes"))


def test_error_by_variant_aggregates_over_seeds():
    variants = pd.DataFrame({"cross_fit": [True, True, False, False], "calibrate": [True] * 4,
                             "mi": [1.1, 1.3, 1.0, 1.0], "mi_se": [0.1, 0.3, 0.2, 0.2]})
    table = gx.error_by_variant(variants, truth=1.0).set_index(["cross_fit", "calibrate"])
    assert table.loc[(True, True), "error_mean"] == pytest.approx(0.2)
    assert table.loc[(True, True), "error_sd"] == pytest.approx(math.sqrt(0.02))
    assert table.loc[(False, True), "stderr"] == pytest.approx(0.2)


def test_table1_against_paper_subtracts_the_paper_values():
    table = gx.table1_against_paper(fake_summary()).set_index(["dim", "quantity"])
    assert table.loc[(1, "gt"), "paper"] == 1.02
    assert table.loc[(1, "gt"), "difference"] == pytest.approx(1.0 - 1.02)
    assert table.loc[(10, "mine"), "ours"] == pytest.approx(1.6)
    assert table.loc[(10, "acc_pc-softmax"), "ours"] == pytest.approx(79.0)
    assert set(table.index.get_level_values("dim")) == {1, 10}


def test_paper_table_is_complete():
    assert paper.TABLE_1["dim"].tolist() == [1, 2, 5, 10]
    assert not paper.TABLE_1.isna().any().any()


def test_parallel_run_equals_serial_run_in_task_order(capsys):
    tasks = gx.make_runs(gx.chapter_tasks(["imbalanced"], [1, 2]), [0], ["pc-softmax", "knn", "bayes"], 200)
    options = {"training": {"epochs": 2, "batch_size": 50}}
    serial = gx.run_tasks(tasks, n_jobs=1, progress=False, **options)
    parallel = gx.run_tasks(tasks, n_jobs=2, **options)
    assert list(zip(parallel.dim, parallel.estimator)) == [(t.task.dim, t.estimator) for t in tasks]
    pd.testing.assert_series_equal(parallel["mi"], serial["mi"])
    captured = capsys.readouterr()
    assert captured.out == "" and f"{len(tasks)}/{len(tasks)}" in captured.err  # progress bar on stderr


def test_tasks_of_one_draw_see_the_same_samples():
    """Estimators of one (task, seed, n) see the same pairs; the x they see is the task's warp of x."""
    rows = gx.run_tasks(gx.make_runs([gx.Task("balanced", 1)], [3], ["bayes", "knn"], 300), n_jobs=1,
                        progress=False)
    g = gx.mixture("balanced", 1)
    x, y = g.sample_per_class(gx.class_counts(g.priors, 300), seed=3)
    assert rows["mi"].tolist() == [bayes_plugin_mi(g, x, y), knn_mi(x, y, n_neighbors=3)]
    cubed = gx.run(gx.Run(gx.Task("balanced", 1, warp="cube"), 3, 300, "knn"))
    assert cubed["mi"] != rows["mi"].iloc[1] and cubed["group"] == "invariance"


def test_jobs_come_from_the_environment(monkeypatch):
    tasks = gx.make_runs([gx.Task("balanced", 1)], [0], ["bayes"], 100)
    monkeypatch.setenv("PCSM_JOBS", "two")
    with pytest.raises(ValueError, match="^PCSM_JOBS"):
        gx.run_tasks(tasks)
    with pytest.raises(ValueError, match="^n_jobs"):
        gx.run_tasks(tasks, n_jobs=-1)


@pytest.mark.parametrize("setting", ["imbalanced", "balanced"])
def test_line_quadrature_agrees_with_monte_carlo_in_every_dimension(setting):
    g = gx.mixture(setting, 7)
    assert g.line_reduction() is not None
    mi, _ = g.mutual_information()
    accuracy = g.bayes_accuracy()
    mc, se = g.mutual_information(200_000, seed=5, method="monte-carlo")
    assert mi == pytest.approx(mc, abs=4 * se)
    assert accuracy == pytest.approx(g.bayes_accuracy(200_000, seed=5, method="monte-carlo"), abs=0.004)
    assert gx.Task(setting, 7).ground_truth(10)["gt_method"] == "quadrature"


def test_long_tail_mixture_needs_monte_carlo_and_has_the_declared_ratio():
    g = gx.mixture("long-tail", 20)
    assert g.line_reduction() is None
    assert g.priors.max() / g.priors.min() == pytest.approx(gx.LONG_TAIL_RATIO)
    assert np.allclose(g.priors, long_tail_prior(5, gx.LONG_TAIL_RATIO))
    truth = gx.Task("long-tail", 20).ground_truth(20_000)
    assert truth["gt_method"] == "monte carlo" and truth["gt_se"] > 0


def test_paired_with_bayes_cancels_the_shared_draw():
    rows = pd.DataFrame({"setting": "imbalanced", "dim": 1, "n_samples": 100,
                         "seed": [0, 0, 1, 1], "estimator": ["bayes", "knn"] * 2,
                         "mi": [1.00, 1.02, 1.10, 1.14]})
    out = gx.paired_with_bayes(rows).iloc[0]
    assert out["estimator"] == "knn" and out["n_seeds"] == 2
    assert out["mean_difference"] == pytest.approx(0.03)
    assert out["se_difference"] == pytest.approx(np.std([0.02, 0.04], ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError, match="^rows"):
        gx.paired_with_bayes(rows[rows.estimator == "knn"])


def test_truth_table_has_one_row_per_task_with_the_mixture_s_truth():
    tasks = gx.chapter_tasks(["imbalanced", "balanced"], [1, 2], paper.PRIOR_TABLE_1)
    table = gx.truth_table(tasks, 2000)
    assert list(zip(table.setting, table.dim)) == [("imbalanced", 1), ("imbalanced", 2), ("balanced", 1),
                                                    ("balanced", 2)]
    assert table.loc[0, "gt"] == pytest.approx(gx.mixture("imbalanced", 1).mutual_information()[0])
    assert set(gx.TRUTH_COLUMNS) <= set(table) and (table["gt_method"] == "quadrature").all()


def test_table1_headline_quotes_the_worst_errors_and_the_paper():
    summary = fake_summary().assign(mi_std=0.02, n_seeds=4, gt_se=0.0, label_entropy=1.5)
    numbers = gx.table1_headline(summary)
    assert numbers["pc_max_abs_error"] == pytest.approx(0.01) and numbers["mine_max_abs_error"] == pytest.approx(0.1)
    assert numbers["knn_max_abs_error_se"] == pytest.approx(0.01)
    assert numbers["softmax_bias_predicted"] == pytest.approx(math.log(5) - 1.5)
    paper_worst = (paper.TABLE_1["pc-softmax"] - paper.TABLE_1["gt"]).abs().max()
    assert numbers["paper_pc_max_abs_error"] == pytest.approx(paper_worst)


def test_run_variants_switches_cross_fitting_and_calibration_on_the_same_draws(monkeypatch):
    seen = []

    def fake_run_tasks(runs, n_jobs, **options):
        seen.append((runs, options["training"]))
        value = 1.0 + 0.1 * options["training"]["cross_fit"] + 0.01 * options["training"]["calibrate"]
        return pd.DataFrame({"seed": [r.seed for r in runs], "mi": value, "mi_se": 0.05})

    monkeypatch.setattr(gx, "run_tasks", fake_run_tasks)
    config = gx.GaussianMIConfig(variants_dim=1, variants_n=200, variants_seeds=(0, 1), gt_samples=1000)
    table = gx.run_variants(config)
    assert len(table) == 4 and all(runs == seen[0][0] for runs, _ in seen)
    assert {(t["cross_fit"], t["calibrate"]) for _, t in seen} == set(gx.VARIANTS)
    truth = gx.Task("imbalanced", 1, prior=config.imbalanced_prior).ground_truth(1000)["gt"]
    assert gx.variant_error(table, cross_fit=True, calibrate=False) == pytest.approx(1.1 - truth)
    assert gx.variant_error(table, cross_fit=False, calibrate=True) == pytest.approx(1.01 - truth)


def test_wins_headline_reads_the_largest_d_and_n():
    rows = []
    for dim in (20, 50):
        for n in (2000, 8000):
            for name, error in (("pc-softmax", -0.01), ("knn", -0.2), ("bayes", 0.001)):
                rows.append({"dim": dim, "n_samples": n, "estimator": name, "mi_std": 0.003, "n_seeds": 2,
                             "error": error * (2 if n == 2000 else 1) * dim / 50})
    numbers = gx.wins_headline(pd.DataFrame(rows))
    assert numbers["wins_max_dim"] == 50 and (numbers["wins_min_n"], numbers["wins_max_n"]) == (2000, 8000)
    assert numbers["wins_pc_error"] == pytest.approx(-0.01) and numbers["wins_knn_error"] == pytest.approx(-0.2)
    assert math.isnan(numbers["wins_mine_error"])
    assert numbers["wins_pc_error_sd"] == pytest.approx(0.003) and numbers["wins_seeds"] == 2
    assert numbers["wins_pc_errors_by_n"] == "-0.020 ± 0.003 at n = 2 000, -0.010 ± 0.003 at n = 8 000"
    assert numbers["wins_rarest"] == gx.class_counts(gx.mixture("long-tail", 50).priors, 2000).min()


@pytest.mark.parametrize("off, verdict", [(0.010, "beyond 2 SE: with both on the estimate lies closer to"),
                                          (0.002, "within 2 SE")])
def test_variants_sentence_weighs_the_difference_against_its_standard_error(off, verdict):
    table = pd.DataFrame({"cross_fit": [True, True, False, False], "calibrate": [True, False, True, False],
                          "error_mean": [0.001, 0.0, 0.0, off], "error_sd": [0.002] * 4, "stderr": [0.01] * 4})
    sentence = gx.variants_sentence(table, n_seeds=4)
    assert verdict in sentence and f"{0.001 - off:+.4f} ± 0.0014" in sentence
