"""Tests of pcsm.experiments.gaussian_mi and of the benchmark's target checks."""

import math

import numpy as np
import pandas as pd
import pytest

from pcsm.experiments import gaussian_mi as gx
from pcsm.experiments.bench import target_checks


GOOD = {"dims": [1, 2], "settings": ["imbalanced"], "estimators": ["bayes", "knn"], "seeds": [0],
        "imbalanced_prior": gx.PAPER_PRIOR}


def test_check_config_accepts_good_parameters():
    gx.check_config(**GOOD, sample_sizes=[100], epochs=3, batch_size=10)


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
        ({"sample_sizes": [10]}, "sample_sizes"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_check_config_names_the_bad_parameter(change, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        gx.check_config(**{**GOOD, **change})


def test_mixtures_have_the_requested_priors():
    assert np.allclose(gx.mixture("balanced", 3).priors, 0.2)
    g = gx.mixture("imbalanced", 3)
    assert np.allclose(g.priors, np.arange(1, 6) / 15)
    assert g.means.shape == (5, 3)
    with pytest.raises(ValueError, match="^setting"):
        gx.mixture("other", 1)


def test_class_counts_follow_the_prior():
    counts = gx.class_counts(np.arange(1, 6) / 15, 90_000)
    assert counts.tolist() == [6000, 12000, 18000, 24000, 30000]
    assert gx.class_counts(np.array([0.999, 0.001]), 10).tolist() == [10, 2]


def test_ground_truth_matches_the_paper_at_d1():
    truth = gx.ground_truth("imbalanced", 1, gx.PAPER_PRIOR, 100_000)
    assert truth["gt"] == pytest.approx(1.022, abs=4 * truth["gt_se"] + 0.002)
    assert truth["label_entropy"] == pytest.approx(-sum(p * math.log(p) for p in gx.PAPER_PRIOR))


def test_run_task_gives_one_row_per_estimator_on_the_same_samples():
    training = {"epochs": 2, "batch_size": 50}
    rows = gx.run_task("imbalanced", 1, 300, 0, gx.ESTIMATORS, training=training, mine={"epochs": 2})
    assert [r["estimator"] for r in rows] == list(gx.ESTIMATORS)
    assert {r["n_samples"] for r in rows} == {300}
    assert all(np.isfinite(r["mi"]) for r in rows)
    acc = {r["estimator"]: r["accuracy"] for r in rows}
    assert 0 < acc["bayes"] <= 1 and np.isnan(acc["knn"]) and np.isnan(acc["mine"])
    again = gx.run_task("imbalanced", 1, 300, 0, ["bayes", "knn"])
    assert [r["mi"] for r in again] == [rows[0]["mi"], rows[-1]["mi"]]


def test_summarize_averages_seeds_and_subtracts_the_truth():
    rows = pd.DataFrame({"setting": "balanced", "dim": 1, "n_samples": 10, "estimator": "knn",
                         "seed": [0, 1], "mi": [1.0, 1.2], "accuracy": np.nan, "seconds": [1.0, 3.0]})
    truth = pd.DataFrame([{"setting": "balanced", "dim": 1, "gt": 1.05, "gt_se": 0.0}])
    out = gx.summarize(rows, truth).iloc[0]
    assert out["mi_mean"] == pytest.approx(1.1)
    assert out["mi_std"] == pytest.approx(np.std([1.0, 1.2], ddof=1))
    assert out["error"] == pytest.approx(0.05)
    assert out["seconds"] == pytest.approx(2.0) and out["n_seeds"] == 2


def fake_summary(pc_error=0.01, mine_error=0.1, knn_error=0.05, pc_accuracy=0.79):
    records = []
    for dim, gt in [(1, 1.0), (10, 1.5)]:
        for est, err, acc in [("pc-softmax", pc_error, pc_accuracy), ("softmax", 0.12, 0.79),
                              ("mine", mine_error, np.nan), ("knn", knn_error, np.nan)]:
            records.append({"setting": "imbalanced", "dim": dim, "n_samples": 10, "estimator": est,
                            "mi_mean": gt + err, "accuracy_mean": acc, "gt": gt, "error": err,
                            "abs_error": abs(err), "bayes_accuracy": 0.792})
    return pd.DataFrame(records)


def test_compare_with_paper_subtracts_the_paper_values():
    table = gx.compare_with_paper(fake_summary()).set_index(["dim", "quantity"])
    assert table.loc[(1, "gt"), "paper"] == 1.02
    assert table.loc[(1, "gt"), "difference"] == pytest.approx(1.0 - 1.02)
    assert table.loc[(10, "mine"), "ours"] == pytest.approx(1.6)
    assert table.loc[(10, "acc_pc-softmax"), "ours"] == pytest.approx(79.0)
    assert set(table.index.get_level_values("dim")) == {1, 10}


def test_paper_table_is_complete():
    assert gx.PAPER_TABLE_1["dim"].tolist() == [1, 2, 5, 10]
    assert not gx.PAPER_TABLE_1.isna().any().any()


def test_target_checks_pass_and_fail():
    assert all(target_checks(fake_summary()).values())
    failed = target_checks(fake_summary(pc_error=0.03, knn_error=0.001, pc_accuracy=0.70))
    assert failed == {"pc_within_0.02": False, "pc_accuracy_within_0.5pt_of_bayes": False,
                      "pc_beats_mine": True, "pc_no_worse_than_knn_at_max_dim": False}
