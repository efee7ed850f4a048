"""The three-method experiment on a small synthetic problem, and its aggregation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from pcsm.core._checks import check_seeds
from pcsm.core.losses import posthoc_corrected_logits
from pcsm.core.models import mlp
from pcsm.core.training import predict_logits, resolve_device
from pcsm.experiments.classification import (
    average_accuracy,
    evaluate_run,
    gains,
    gains_display,
    is_uniform,
    join_paper_numbers,
    paper_gain,
    predictions,
    select_value,
    sgd_factory,
    summarise,
    table2_display,
    table2_glue_values,
    train_methods,
)
from pcsm.experiments.paper import TABLE_2_MNIST

CPU = torch.device("cpu")


def blobs(counts, seed):
    """Overlapping 2-D Gaussian blobs, ``counts[k]`` points of class k."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    y = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)])
    return centres[y] + torch.randn(len(y), 2, generator=g), y


TRAIN = blobs([40, 400, 400], seed=0)
TESTS = {"balanced": blobs([200, 200, 200], seed=1)}
FACTORY = lambda: mlp(2, 3, hidden=(16,))
KWARGS = dict(epochs=3, batch_size=32, device=CPU, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))


def test_evaluate_run_gives_tidy_rows_for_every_method_and_class():
    rows = evaluate_run(FACTORY, TRAIN, TESTS, n_classes=3, seed=0, **KWARGS)
    assert set(rows.method) == {"softmax", "pc-softmax", "post-hoc"}
    assert len(rows) == 3 * 3
    assert set(rows.columns) >= {"test_set", "method", "class", "n_test", "accuracy_pct", "seed", "n_train"}
    assert rows.n_train.eq(840).all() and rows.n_test.eq(200).all()
    assert rows.accuracy_pct.between(0, 100).all()


def test_same_seed_same_numbers():
    a = evaluate_run(FACTORY, TRAIN, TESTS, n_classes=3, seed=4, **KWARGS)
    b = evaluate_run(FACTORY, TRAIN, TESTS, n_classes=3, seed=4, **KWARGS)
    pd.testing.assert_frame_equal(a, b)


def test_post_hoc_is_the_prior_corrected_softmax_network():
    trained = train_methods(FACTORY, TRAIN, 3, seed=0, **KWARGS)
    x = TESTS["balanced"][0]
    expected = posthoc_corrected_logits(predict_logits(trained.softmax, x), trained.prior).argmax(1)
    assert np.array_equal(predictions(trained, x)["post-hoc"], expected.numpy())
    assert trained.pc_softmax is not trained.softmax
    assert np.allclose(trained.prior, [40 / 840, 400 / 840, 400 / 840])


def test_uniform_prior_trains_one_network_for_both_losses():
    trained = train_methods(FACTORY, blobs([50, 50, 50], seed=2), 3, seed=0, **KWARGS)
    assert is_uniform(trained.prior) and trained.pc_softmax is trained.softmax


def test_aggregation_over_classes_seeds_and_against_softmax():
    per_class = pd.DataFrame(
        [
            {"split": "imbalanced", "seed": seed, "test_set": "paper split", "method": method, "class": k,
             "accuracy_pct": acc + k}
            for seed, base in ((0, 90.0), (1, 92.0))
            for method, acc in (("softmax", base), ("pc-softmax", base + 1 + seed))
            for k in (0, 1)
        ]
    )
    runs = average_accuracy(per_class, ["split"])
    assert runs.set_index(["seed", "method"]).accuracy_pct[(0, "softmax")] == 90.5
    summary = summarise(runs, ["split"]).set_index("method")
    assert summary.mean_pct["softmax"] == 91.5
    assert math.isclose(summary.std_pct["softmax"], math.sqrt(2))
    assert summary.n_seeds["softmax"] == 2
    gain = gains(runs, ["split"]).set_index("method")
    assert gain.mean_pp["pc-softmax"] == 1.5
    assert gain.min_pp["pc-softmax"] == 1 and gain.max_pp["pc-softmax"] == 2
    assert "softmax" not in gain.index



def seed_runs(softmax, pc):
    """Average accuracies of softmax and PC-softmax, one pair per seed, on one imbalanced split."""
    return pd.DataFrame(
        [{"split": "imbalanced", "seed": seed, "test_set": "paper split", "method": method,
          "accuracy_pct": acc}
         for seed, pair in enumerate(zip(softmax, pc))
         for method, acc in zip(("softmax", "pc-softmax"), pair)]
    )


def test_gain_interval_is_the_student_t_interval_over_seeds():
    gain = gains(seed_runs([90.0] * 5, [91.0, 92.0, 93.0, 94.0, 95.0]), ["split"]).iloc[0]
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)  # t_{0.975, 4} from a printed table
    assert gain.mean_pp == 3.0 and gain.n_seeds == 5
    assert gain.ci95_low_pp == pytest.approx(3.0 - half, abs=1e-5)
    assert gain.ci95_high_pp == pytest.approx(3.0 + half, abs=1e-5)


def test_gains_are_paired_so_seed_noise_shared_by_both_methods_cancels():
    softmax = [85.0, 95.0, 88.0]
    gain = gains(seed_runs(softmax, [a + 1.0 for a in softmax]), ["split"]).iloc[0]
    assert gain.ci95_low_pp == pytest.approx(1.0) and gain.ci95_high_pp == pytest.approx(1.0)


def test_one_seed_has_no_interval():
    gain = gains(seed_runs([90.0], [92.0]), ["split"]).iloc[0]
    assert gain.mean_pp == 2.0 and np.isnan(gain.ci95_low_pp) and np.isnan(gain.ci95_high_pp)

def test_paper_numbers_sit_beside_the_paper_split_only():
    summary = pd.DataFrame(
        {"dataset": "mnist", "split": "imbalanced", "test_set": ["paper split", "official test"],
         "method": "pc-softmax", "mean_pct": [97.0, 98.0]}
    )
    table = join_paper_numbers(summary)
    assert table.paper_pct.iloc[0] == 96.30 and math.isclose(table.diff_pp.iloc[0], 0.70)
    assert np.isnan(table.paper_pct.iloc[1])
    assert set(TABLE_2_MNIST.paper_pct) == {97.95, 97.91, 95.05, 96.30}


def test_bad_parameters_name_themselves():
    with pytest.raises(ValueError, match="^device:"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="^seeds:"):
        check_seeds([])
    with pytest.raises(ValueError, match="^seeds:"):
        check_seeds([0, 0])
    with pytest.raises(ValueError, match="^seeds:"):
        check_seeds([-1])
    with pytest.raises(ValueError, match="^lr:"):
        sgd_factory(0, 0.5)
    with pytest.raises(ValueError, match="^momentum:"):
        sgd_factory(0.01, 1.0)
    optimiser = sgd_factory(0.01, 0.5)([torch.nn.Parameter(torch.zeros(1))])
    assert optimiser.defaults["lr"] == 0.01 and optimiser.defaults["momentum"] == 0.5
    assert check_seeds([2, 0]) == [2, 0]
    assert resolve_device("cpu") == CPU


def table2_fixture() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A Table 2 and its gains for MNIST and Fashion-MNIST, two seeds, made-up accuracies."""
    rows = []
    for dataset, offset in (("mnist", 0.0), ("fashion-mnist", -20.0)):
        for split, base in (("balanced", 97.0), ("imbalanced", 90.0)):
            for test_set in ("paper split", "official test"):
                for method, gain in (("softmax", 0.0), ("pc-softmax", 2.0), ("post-hoc", 3.0)):
                    for seed, noise in ((0, -0.5), (1, 0.5)):
                        rows.append({"dataset": dataset, "split": split, "seed": seed, "test_set": test_set,
                                     "method": method,
                                     "accuracy_pct": base + offset + gain * (split == "imbalanced")
                                     + noise * (1 + gain)})
    runs = pd.DataFrame(rows)
    return join_paper_numbers(summarise(runs, ["dataset", "split"])), gains(runs, ["dataset", "split"])


def test_paper_gain_is_derived_from_the_paper_table():
    paper = TABLE_2_MNIST.set_index(["split", "method"]).paper_pct
    assert paper_gain() == pytest.approx(paper["imbalanced", "pc-softmax"] - paper["imbalanced", "softmax"])
    balanced = paper["balanced", "pc-softmax"] - paper["balanced", "softmax"]
    assert paper_gain(split="balanced") == pytest.approx(balanced)


def test_select_value_needs_exactly_one_row():
    table = pd.DataFrame({"a": ["x", "x", "y"], "b": [1, 2, 1], "v": [10.0, 20.0, 30.0]})
    assert select_value(table, "v", a="x", b=2) == 20.0
    with pytest.raises(ValueError, match="^v:"):
        select_value(table, "v", a="x")
    with pytest.raises(ValueError, match="^v:"):
        select_value(table, "v", a="z")


def test_table2_display_has_paper_columns_for_mnist_only():
    table2, _ = table2_fixture()
    mnist = table2_display(table2, "mnist")
    assert list(mnist.columns) == ["ours, paper split (%)", "paper (%)", "ours − paper (pp)",
                                   "ours, official test (%)"]
    assert list(mnist.index) == [(s, m) for s in ("balanced", "imbalanced")
                                 for m in ("softmax", "pc-softmax", "post-hoc")]
    row = mnist.loc[("imbalanced", "pc-softmax")]
    mean = 92.0
    std = np.std([92.0 - 1.5, 92.0 + 1.5], ddof=1)
    assert row["ours, paper split (%)"] == f"{mean:.2f} ± {std:.2f}"
    assert row["paper (%)"] == "96.30" and row["ours − paper (pp)"] == f"{mean - 96.30:+.2f}"
    assert mnist.loc[("imbalanced", "post-hoc"), "paper (%)"] == ""
    fashion = table2_display(table2, "fashion-mnist")
    assert list(fashion.columns) == ["ours, paper split (%)", "ours, official test (%)"]
    assert fashion.loc[("balanced", "softmax"), "ours, official test (%)"].startswith("77.00 ± ")
    with pytest.raises(ValueError, match="^dataset:"):
        table2_display(table2, "cifar")


def test_gains_display_keeps_the_imbalanced_rows_as_text():
    _, table2_gains = table2_fixture()
    display = gains_display(table2_gains)
    assert len(display) == 2 * 2 * 2
    assert display.loc[("mnist", "paper split", "pc-softmax"), "gain, mean ± std (pp)"] == "+2.00 ± 1.41"
    assert display.loc[("mnist", "paper split", "post-hoc"), "min .. max (pp)"] == "+1.50 .. +4.50"
    half = 12.706205 * math.sqrt(2) / math.sqrt(2)  # gains 1 and 3: std sqrt(2), t_{0.975, 1}
    ci = display.loc[("mnist", "paper split", "pc-softmax"), "95 % CI (pp)"]
    assert ci == f"[{2 - half:+.2f}, {2 + half:+.2f}]"
    assert (display["seeds"] == 2).all()
    with pytest.raises(ValueError, match="^split:"):
        gains_display(table2_gains, "tiny")


def test_glue_values_cover_the_prose_numbers():
    table2, table2_gains = table2_fixture()
    values = table2_glue_values(table2, table2_gains)
    assert values["paper_acc_softmax"] == 95.05 and values["paper_acc_pc"] == 96.30
    assert values["paper_gain"] == pytest.approx(96.30 - 95.05)
    assert values["acc_pc_split"] == pytest.approx(92.0)
    assert values["acc_softmax_official"] == pytest.approx(90.0)
    assert values["gain_posthoc_official_min"] == pytest.approx(1.5)
    assert values["gain_pc_split_mean"] == pytest.approx(2.0)
    assert values["gain_pc_split_ci95_low"] < 2.0 < values["gain_pc_split_ci95_high"]
    assert values["n_seeds_gain"] == 2
    assert all(isinstance(v, float) for v in values.values())
