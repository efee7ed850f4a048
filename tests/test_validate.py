"""Statistical validation: a fresh run within the committed seed spread passes; a committed table
whose effect is lost (PC-softmax and softmax swapped, gain 0) or that lacks a column is refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import dataclasses

from pcsm.book.plan import Metric, NotebookSpec, load_plan
from pcsm.experiments.mnist.experiment import MNISTConfig
from pcsm.experiments.config import Chapter
from pcsm.book.validate import check_subset, compare_metric, compare_results

KEYS = ("dataset", "split", "test_set", "method")
# shaped like results/mnist.csv and results/mnist_gains.csv (3 seeds of the default profile)
COMMITTED = pd.DataFrame({
    "dataset": "mnist", "split": ["balanced"] * 2 + ["imbalanced"] * 3, "test_set": "paper split",
    "method": ["softmax", "pc-softmax", "softmax", "pc-softmax", "post-hoc"],
    "mean_pct": [95.37, 95.37, 87.46, 90.14, 91.97], "std_pct": [0.92, 0.92, 0.74, 0.43, 0.34], "n_seeds": 3,
    "paper_pct": [97.95, 97.91, 95.05, 96.3, None], "diff_pp": [-2.58, -2.54, -7.59, -6.16, None],
})
GAINS = pd.DataFrame({
    "dataset": "mnist", "split": ["balanced", "imbalanced", "imbalanced"], "test_set": "paper split",
    "method": ["pc-softmax", "pc-softmax", "post-hoc"], "mean_pp": [0.0, 2.68, 4.51],
    "std_pp": [0.0, 0.75, 1.04],
    "min_pp": [0.0, 2.13, 3.32], "max_pp": [0.0, 3.53, 5.24], "n_seeds": 3,
})
# the metrics 03's CHAPTER declares, so the test checks the declared k and floor
METRICS = {(m.table, m.value, m.where.get("test_set")): m for m in load_plan()["03-mnist"].metrics}
ACCURACY, GAIN = METRICS["mnist", "mean_pct", None], METRICS["mnist_gains", "mean_pp", ("paper split",)]


def one_seed(table: pd.DataFrame, value: str, std: str, shift: dict[str, float]) -> pd.DataFrame:
    """A fresh single-seed run of the imbalanced split: the committed means moved by ``shift``."""
    fresh = table[table["split"] == "imbalanced"].copy()
    fresh[value] += fresh["method"].map(shift).fillna(0.0)
    return fresh.assign(**{std: float("nan"), "n_seeds": 1})


def test_fresh_run_within_the_seed_spread_passes():
    fresh = one_seed(COMMITTED, "mean_pct", "std_pct", {"softmax": -1.5, "pc-softmax": 1.0})
    outcome = compare_metric("03-mnist", ACCURACY, fresh, COMMITTED)
    assert outcome.failures == () and outcome.compared == 3
    fresh_gain = one_seed(GAINS, "mean_pp", "std_pp", {"pc-softmax": 1.5, "post-hoc": -2.0})
    assert compare_metric("03-mnist", GAIN, fresh_gain, GAINS).failures == ()


def test_swapped_softmax_and_pc_softmax_rows_are_rejected():
    fresh = one_seed(COMMITTED, "mean_pct", "std_pct", {})
    swap = {"softmax": "pc-softmax", "pc-softmax": "softmax"}
    swapped = COMMITTED.assign(method=COMMITTED["method"].replace(swap))
    failures = compare_metric("03-mnist", ACCURACY, fresh, swapped).failures
    assert failures and failures[0].startswith(
        "03-mnist: mnist.csv [dataset=mnist, split=imbalanced, test_set=paper split, method=softmax] "
        "mean_pct: "
        "fresh 87.46 vs committed 90.14 ± 0.43 (3 seeds); |difference| 2.68 > bound")


def test_a_lost_gain_is_rejected():
    fresh = one_seed(GAINS, "mean_pp", "std_pp", {})
    lost = GAINS.assign(mean_pp=0.0, std_pp=0.0, min_pp=0.0, max_pp=0.0)
    failures = compare_metric("03-mnist", GAIN, fresh, lost).failures
    assert [f.split("] ")[0].split("method=")[1] for f in failures] == ["pc-softmax", "post-hoc"]
    assert "fresh 2.68 vs committed 0 ± 0 (3 seeds)" in failures[0]


def test_per_seed_rows_are_aggregated_before_comparing():
    committed = pd.DataFrame({"protocol": "imbalanced", "seed": [0, 1, 2], "method": "softmax",
                              "accuracy": [30.0, 34.0, 38.0]})
    metric = Metric("cub", ("protocol", "method"), "accuracy", k=1.0, floor=0.5, reason="test")
    near = committed.head(1).assign(accuracy=37.0)  # 3 from the mean 34, std 4: inside 1 * 4 + 0.5
    assert compare_metric("04-cub", metric, near, committed).failures == ()
    far = committed.head(1).assign(accuracy=39.0)
    (failure,) = compare_metric("04-cub", metric, far, committed).failures
    assert "fresh 39 vs committed 34 ± 4 (3 seeds)" in failure


def test_a_group_missing_from_the_committed_table_fails():
    fresh = one_seed(COMMITTED, "mean_pct", "std_pct", {}).assign(dataset="fashion-mnist")
    failures = compare_metric("03-mnist", ACCURACY, fresh, COMMITTED).failures
    assert len(failures) == 3 and "the committed table has no such row" in failures[0]


def test_a_missing_declared_column_names_notebook_and_column():
    fresh = one_seed(COMMITTED, "mean_pct", "std_pct", {})
    with pytest.raises(ValueError, match=r"03-mnist: the committed mnist.csv lacks column\(s\) std_pct"):
        compare_metric("03-mnist", ACCURACY, fresh, COMMITTED.drop(columns="std_pct"))


def mnist_spec(tmp_path: Path, metrics: tuple[Metric, ...]) -> NotebookSpec:
    """03's chapter with only ``metrics`` declared."""
    chapter = Chapter(config=MNISTConfig, results=(), timeout=60, metrics=metrics)
    return NotebookSpec("03-mnist", tmp_path / "03-mnist.ipynb", "pcsm.experiments.mnist.experiment", chapter)


def test_compare_results_skips_tables_outside_the_subset_but_must_compare_something(tmp_path: Path):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    committed.mkdir()
    fresh.mkdir()
    COMMITTED.to_csv(committed / "mnist.csv", index=False)
    GAINS.to_csv(committed / "mnist_gains.csv", index=False)
    spec = mnist_spec(tmp_path, (ACCURACY, GAIN))
    one_seed(COMMITTED, "mean_pct", "std_pct", {}).to_csv(fresh / "mnist.csv", index=False)
    outcome = compare_results(spec, fresh, committed)
    assert outcome.failures == () and outcome.skipped == ("mnist_gains.csv mean_pp",)
    (fresh / "mnist.csv").unlink()
    assert "compared nothing" in compare_results(spec, fresh, committed).failures[0]


def test_every_notebook_declares_metrics_that_hold_on_its_committed_tables():
    """The committed tables compared with themselves pass, so every declared column exists."""
    results = Path(__file__).resolve().parents[1] / "results"
    for spec in load_plan().values():
        assert spec.metrics, f"{spec.name}: declare metrics in {spec.declared}"
        assert all(m.reason for m in spec.metrics)
        outcome = compare_results(spec, results, results)
        assert outcome.failures == () and outcome.compared > 0, spec.name


@pytest.mark.parametrize("subset, message", [
    ({"sead": [0]}, r"validate: sead: unknown parameter of MNISTConfig"),
    ({"datasets": ["mnist", "cifar"]},
     r"experiment.CHAPTER.validate: datasets: \['cifar'\] not in the published profile"),
    ({"seeds": 0}, r"03-mnist \(MNISTConfig\): seeds: "),
])
def test_a_bad_validation_subset_is_refused_by_name(subset, message):
    spec = load_plan()["03-mnist"]
    with pytest.raises(ValueError, match=message):
        check_subset(dataclasses.replace(spec, chapter=dataclasses.replace(spec.chapter, validate=subset)))


def test_an_empty_committed_table_names_the_file(tmp_path: Path):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    committed.mkdir()
    fresh.mkdir()
    (committed / "mnist.csv").write_text("")
    one_seed(COMMITTED, "mean_pct", "std_pct", {}).to_csv(fresh / "mnist.csv", index=False)
    spec = mnist_spec(tmp_path, (ACCURACY,))
    with pytest.raises(ValueError, match=f"{committed / 'mnist.csv'}: empty"):
        compare_results(spec, fresh, committed)


@pytest.mark.parametrize("column", ["mean_pct", "std_pct", "n_seeds"])
def test_a_non_numeric_cell_names_the_table_and_column(column):
    fresh = one_seed(COMMITTED, "mean_pct", "std_pct", {})
    broken = COMMITTED.astype({column: object})
    broken.loc[3, column] = "n/a"
    with pytest.raises(ValueError, match=rf"the committed mnist.csv, column '{column}': 'n/a' \(row 4\) "
                                         r"is not a number"):
        compare_metric("03-mnist", ACCURACY, fresh, broken)


def test_every_metric_with_a_null_holds_its_committed_effects_beyond_the_bound():
    """A lost effect (the metric's ``null``, a gain of 0) fails the validation for every committed
    group that has an effect: the committed mean lies more than its bound from the null."""
    from pcsm.book.validate import power

    results = Path(__file__).resolve().parents[1] / "results"
    for spec in load_plan().values():
        table = power(spec, results)
        with_effect = table[table["null_margin"].notna() & (table["mean"] != 0.0)]
        weak = with_effect[with_effect["null_margin"] <= 1.0]
        assert weak.empty, f"{spec.name}: a lost effect would pass for\n{weak.to_string()}"
    assert GAIN.null == 0.0


def test_a_lost_gain_fails_against_the_committed_gains():
    committed = GAINS.assign(mean_pp=[0.0, 1.43329, 1.45365], std_pp=[0.0, 0.438972, 0.504777], n_seeds=5)
    lost = one_seed(committed, "mean_pp", "std_pp", {"pc-softmax": -1.43329, "post-hoc": -1.45365})
    failures = compare_metric("03-mnist", GAIN, lost, committed).failures
    assert [f.split("method=")[1].split("]")[0] for f in failures] == ["pc-softmax", "post-hoc"]


@pytest.mark.slow
def test_the_report_lists_each_group_beyond_its_bound_as_data(tmp_path: Path):
    """`pcsm validate --report` (what `pcsm mutants` reads): a toy notebook whose fresh value lies 1.5 away
    from the committed one, bound 0.5, is reported with its numbers; within the bound, the list is empty."""
    import json

    import nbformat

    from pcsm.book.validate import validate

    from toy_plan import write_toy_plan

    code = ("from pcsm.experiments.results import results_dir\n"
            "(results_dir() / 'answer.csv').write_text(f'group,value\\na,{value}\\n')")
    metric = 'Metric(table="answer", keys=("group",), value="value", k=0.0, floor=0.5, reason="test")'
    plan = write_toy_plan(tmp_path, code, "value = 1.0", timeout=120, metrics=metric)
    committed, report = tmp_path / "committed", tmp_path / "report.json"
    committed.mkdir()
    for committed_value, status, count in ((2.5, 1, 1), (1.2, 0, 0)):
        (committed / "answer.csv").write_text(f"group,value\na,{committed_value}\n")
        assert validate(["toy"], plan_file=plan, committed_dir=committed, report=report) == status
        departures = json.loads(report.read_text())["departures"]
        assert len(departures) == count
    (committed / "answer.csv").write_text("group,value\na,2.5\n")
    validate(["toy"], plan_file=plan, committed_dir=committed, report=report)
    (departure,) = json.loads(report.read_text())["departures"]
    assert {k: departure[k] for k in ("notebook", "table", "group", "value", "fresh", "mean", "bound")} == {
        "notebook": "toy", "table": "answer", "group": "group=a", "value": "value", "fresh": 1.0, "mean": 2.5,
        "bound": 0.5}


def test_a_report_path_that_cannot_be_written_is_refused_before_anything_runs(tmp_path: Path, capsys):
    from pcsm.__main__ import main

    for report, named in ((tmp_path, "is a folder"), (tmp_path / "missing" / "r.json", "does not exist")):
        with pytest.raises(SystemExit) as stop:
            main(["validate", "01-bound", "--report", str(report)])
        error = capsys.readouterr().err
        assert stop.value.code == 2 and "--report: " in error and named in error
