"""The 'Paper vs. this book' summary: built from the committed results, faithful to the paper's tables,
and quoted unchanged by the README."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from pcsm.book import ratios, summary
from pcsm.experiments import paper
from pcsm.experiments.results import PROVENANCE_SUFFIX, REPO_ROOT, TABLES_KEY

RESULTS = REPO_ROOT / "results"


def copy_results(dest):
    """The committed results in ``dest`` as hand-edited input: the records' published-table checksums
    dropped, so the tests may rewrite tables (the reader's refusal of an edited table is tested in
    tests/test_results_files.py)."""
    shutil.copytree(RESULTS, dest, dirs_exist_ok=True)
    for record in dest.glob(f"*{PROVENANCE_SUFFIX}"):
        data = json.loads(record.read_text())
        data.pop(TABLES_KEY, None)
        record.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return summary.paper_vs_book(RESULTS)


def test_verdict_uses_seed_spread_and_paper_rounding():
    assert summary.verdict(0.05, spread=0.03, rounding=0.005, reason_if_differs="x") == summary.REPRODUCED
    assert summary.verdict(0.004, spread=0.0, rounding=0.005, reason_if_differs="x") == summary.REPRODUCED
    assert summary.verdict(0.07, spread=0.03, rounding=0.005, reason_if_differs="why") == "differs: why"


def test_verdict_says_ours_is_closer_to_the_truth_only_beyond_noise_and_rounding():
    closer = summary.verdict(0.06, spread=0.001, rounding=0.005, reason_if_differs="why",
                             errors=(-0.003, -0.062), truth="the ground truth 1.022 nats")
    assert closer.startswith(summary.CLOSER)
    assert "-0.003 nats" in closer and "-0.062 nats" in closer and "1.022" in closer
    # nearer, but not by more than our spread plus the paper's rounding: not a verdict for us
    assert summary.verdict(0.06, spread=0.02, rounding=0.005, reason_if_differs="why",
                           errors=(-0.01, -0.05)) == "differs: why"
    # the paper nearer: differs
    assert summary.verdict(0.03, spread=0.001, rounding=0.005, reason_if_differs="why",
                           errors=(0.12, 0.09)) == "differs: why"
    points = summary.verdict(3.0, spread=0.03, rounding=0.5, reason_if_differs="x", errors=(-0.1, -3.1),
                             truth="the Bayes accuracy 98.4 %", unit="%")
    assert "-0.10 points" in points and "-3.10 points" in points


def test_every_closer_verdict_is_true_of_the_numbers(table):
    t1 = table[table.table == "Table 1"]
    truth = t1[t1.quantity == "ground truth I(X;Y)"].set_index("setting").ours
    closer = t1[t1.verdict.str.startswith(summary.CLOSER)]
    assert len(closer) > 0
    for row in closer.itertuples():
        if row.unit == "nats":
            assert abs(row.ours - truth[row.setting]) < abs(row.paper - truth[row.setting])
        else:
            bayes = float(row.verdict.split("Bayes accuracy ")[1].split(" %")[0])
            assert abs(row.ours - bayes) < abs(row.paper - bayes)


def test_every_published_number_appears_once_with_the_papers_value(table):
    n_table1 = paper.TABLE_1.drop(columns="dim").size
    n_table2 = (paper.TABLE_2_MNIST.dataset == "mnist").sum() + len(paper.TABLE_2_CUB)
    assert len(table) == n_table1 + n_table2 == 32
    t1 = table[table.table == "Table 1"]
    assert sorted(t1.paper) == sorted(paper.TABLE_1.drop(columns="dim").to_numpy().ravel())
    assert sorted(table[table.table != "Table 1"].paper) == sorted(
        [*paper.TABLE_2_MNIST[paper.TABLE_2_MNIST.dataset == "mnist"].paper_pct, *paper.TABLE_2_CUB.paper_pct])
    assert table.verdict.str.match(
        r"^(reproduced( \(.+\))?$|ours closer to the truth: .+|differs: .+|not reproduced here: .+)").all()
    assert summary.verdict_counts(table)[summary.NOT_RUN] == 0


def test_ours_matches_the_chapter_tables(table):
    """Table 1's softmax and PC-softmax numbers are the authors' networks' (chapter 02's
    gaussian-mi-authors table), MINE is this book's run (gaussian-mi), each row naming its source."""
    networks = pd.read_csv(RESULTS / "gaussian-mi-authors.csv")
    pc = networks[networks.kind == "pc-softmax"].set_index("dim")
    row = table[(table.quantity == "PC-softmax") & (table.setting == "d = 10")].iloc[0]
    assert row.ours == pytest.approx(pc.loc[10, "mi"])
    assert row.difference == pytest.approx(pc.loc[10, "mi"] - 1.34)
    assert row.source == summary.NETWORKS and row.spread == "SE"
    gaussian = pd.read_csv(RESULTS / "gaussian-mi.csv")
    mine = gaussian[(gaussian.setting == "imbalanced") & (gaussian.estimator == "mine")].set_index("dim")
    row = table[(table.quantity == "MINE") & (table.setting == "d = 10")].iloc[0]
    assert row.ours == pytest.approx(mine.loc[10, "mi_mean"]) and row.source == summary.BOOK_MINE


def test_stand_in_cub_is_reported_as_not_reproduced(table):
    cub = table[table.table == "Table 2, CUB-200-2011"]
    assert cub.verdict.str.startswith(summary.NOT_HERE).all()
    assert cub.ours.isna().all()
    shown = summary.display_table(table)
    assert (shown[shown.table == "Table 2, CUB-200-2011"].seeds == "—").all()  # no seed produced them
    assert summary.claims(table, RESULTS).seeds.iloc[-1] == "—"


def test_real_cub_results_get_a_verdict(tmp_path):
    copy_results(tmp_path)
    rows = [dict(data="CUB-200-2011", protocol=p.protocol, method=p.method, seed=s,
                 avg_per_class_accuracy=p.paper_pct + 0.1 * s) for p in paper.TABLE_2_CUB.itertuples() for s in range(3)]
    pd.DataFrame(rows).to_csv(tmp_path / "cub.csv", index=False)
    cub = summary.paper_vs_book(tmp_path).query("table == 'Table 2, CUB-200-2011'")
    assert (cub.verdict == summary.REPRODUCED).all()
    np.testing.assert_allclose(cub.difference, 0.1)
    assert (cub.seeds == 3).all()


def test_readme_quotes_the_current_claims_table(table):
    expected = summary.markdown_table(summary.claims(table, RESULTS))
    assert expected in (REPO_ROOT / "README.md").read_text(), (
        "README's results table is out of date: paste the output of `pcsm claims`"
    )


def test_markdown_table_has_one_cell_per_column():
    md = summary.markdown_table(pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}))
    assert md == "| a | b |\n|---|---|\n| x | 1 |\n| y | 2 |\n"


def test_verdict_counts_add_up(table):
    counts = summary.verdict_counts(table)
    assert sum(counts.values()) == len(table)
    assert counts[summary.NOT_HERE] == 4  # the CUB numbers, on the stand-in
    assert counts[summary.CLOSER] > 0


def _runs(gain_by_seed: dict[int, float]) -> pd.DataFrame:
    rows = []
    for seed, gain in gain_by_seed.items():
        for method, accuracy in (("softmax", 80.0 + seed), ("pc-softmax", 80.0 + seed + gain),
                                 ("post-hoc", 80.0)):
            rows.append(dict(dataset="mnist", protocol="step", ratio=100, seed=seed, test_set="paper split",
                             method=method, accuracy_pct=accuracy))
    return pd.DataFrame(rows)


def test_ratio_sweep_pairs_the_gain_by_seed():
    sweep = ratios.ratio_sweep(_runs({0: 10.0, 1: 12.0, 2: 14.0}))
    row = sweep.iloc[0]
    assert row.softmax_pct == pytest.approx(81.0) and row.pc_pct == pytest.approx(93.0)
    assert row.mean_pp == pytest.approx(12.0)
    half = 4.302653 * 2.0 / np.sqrt(3)  # t_{0.975, 2} * sd / sqrt(n): the paired spread, not the seeds' levels
    assert (row.ci95_low_pp, row.ci95_high_pp) == pytest.approx((12.0 - half, 12.0 + half), abs=1e-5)
    glue = ratios.ratio_glue_values(sweep)
    assert glue["ratio100_mnist_split_gain"] == glue["ratiomax_mnist_split_gain"] == pytest.approx(12.0)
    assert glue["ratio_max"] == 100
    assert glue["ratio_largest"] == "ratio 100 on MNIST, scored on the paper's test split"


def test_ratio_sweep_from_the_committed_tables_matches_the_chapters_ratio_table():
    sweep = ratios.ratio_sweep(summary.ratio_runs(RESULTS)).set_index(["dataset", "ratio", "test_set"])
    for prefix, dataset in (("mnist", "mnist"), ("fashion", "fashion-mnist")):
        ratio = pd.read_csv(RESULTS / f"{prefix}_ratio.csv").set_index(["ratio", "test_set", "method"])
        for (r, test_set, method), row in ratio.iterrows():
            if method in ("softmax", "pc-softmax"):
                column = "softmax_pct" if method == "softmax" else "pc_pct"
                assert sweep.loc[(dataset, r, test_set), column] == pytest.approx(row.mean_pct, abs=1e-3)
    gains = pd.read_csv(RESULTS / "mnist_gains.csv").set_index(["split", "test_set", "method"])
    assert sweep.loc[("mnist", 10, "paper split"), "mean_pp"] == pytest.approx(
        gains.loc[("imbalanced", "paper split", "pc-softmax"), "mean_pp"], abs=1e-3)


def test_table1_errors_measure_both_against_the_same_truth(table):
    from pcsm.book.figures import table1_errors

    errors = table1_errors(table).set_index(["d", "estimator", "source"])
    assert len(errors) == 4 * 3 * 2
    gaussian = pd.read_csv(RESULTS / "gaussian-mi.csv")
    truth = gaussian[(gaussian.setting == "imbalanced") & (gaussian.estimator == "bayes")].set_index("dim")["gt"]
    networks = pd.read_csv(RESULTS / "gaussian-mi-authors.csv")
    pc = networks[networks.kind == "pc-softmax"].set_index("dim")
    assert errors.loc[(10, "PC-softmax", "ours"), "error"] == pytest.approx(pc.loc[10, "mi"] - truth[10])
    assert errors.loc[(10, "PC-softmax", "paper"), "error"] == pytest.approx(1.34 - truth[10])
    assert errors.loc[(10, "PC-softmax", "ours"), "sd"] == pytest.approx(pc.loc[10, "mi_se"])


def test_runtime_table_reads_the_provenance():
    table = summary.runtime_table(["01-bound", "04-cub"], RESULTS)
    assert list(table.notebook) == ["01-bound", "04-cub"]
    assert (table.profile == "default").all()
    assert (table["wall time (min)"] > 0).all()


def test_rows_a_small_profile_did_not_run_are_marked(tmp_path):
    copy_results(tmp_path)
    gaussian = pd.read_csv(RESULTS / "gaussian-mi.csv")
    gaussian[gaussian.dim == 1].to_csv(tmp_path / "gaussian-mi.csv", index=False)
    mnist = pd.read_csv(RESULTS / "mnist.csv")
    mnist[mnist.split == "balanced"].to_csv(tmp_path / "mnist.csv", index=False)
    table = summary.paper_vs_book(tmp_path)
    assert len(table) == 32
    assert summary.verdict_counts(table)[summary.NOT_RUN] == 3 * 6 + 2
    assert (table[table.verdict == summary.NOT_RUN].ours.isna()).all()
    summary.claims(table, tmp_path)  # still renders


def test_claims_name_only_the_dims_the_table_holds(tmp_path):
    copy_results(tmp_path)
    gaussian = pd.read_csv(RESULTS / "gaussian-mi.csv")
    gaussian[gaussian.dim == 1].to_csv(tmp_path / "gaussian-mi.csv", index=False)
    claims = summary.claims(summary.paper_vs_book(tmp_path), tmp_path)
    gaussian_claims = claims[claims.claim.str.contains("ground truth")]
    assert len(gaussian_claims) == 3  # the authors' networks, this book's MINE, this book's estimator
    assert not gaussian_claims.claim.str.contains("1 to 10").any()
    assert gaussian_claims.claim.str.contains(r"d = 1 only \(2, 5, 10 not run\)").all()
    # the paper's error over the same dims: at d = 1 its PC-softmax value 0.96 against 1.02
    assert gaussian_claims.paper.iloc[0] == "0.06"
    full = summary.claims(summary.paper_vs_book(RESULTS), RESULTS)
    assert full.claim.str.contains("d = 1 to 10").sum() == 3


def test_claims_refuse_a_gaussian_table_without_the_papers_dims(tmp_path):
    copy_results(tmp_path)
    gaussian = pd.read_csv(RESULTS / "gaussian-mi.csv")
    gaussian[gaussian.setting == "balanced"].to_csv(tmp_path / "gaussian-mi.csv", index=False)
    table = summary.paper_vs_book(tmp_path)
    with pytest.raises(ValueError, match=r"gaussian-mi\.csv.*1, 2, 5, 10"):
        summary.claims(table, tmp_path)


@pytest.mark.parametrize("content", ["", "dataset,split,test_set,method,mean_pp,std_pp,n_seeds\n", "a,b\n1,2\n"])
def test_claims_name_an_empty_or_malformed_gains_file(tmp_path, content):
    copy_results(tmp_path)
    (tmp_path / "mnist_gains.csv").write_text(content)
    with pytest.raises(ValueError, match="mnist_gains.csv"):
        summary.claims(summary.paper_vs_book(tmp_path), tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", ""])
def test_a_corrupt_provenance_record_is_named(tmp_path, content):
    copy_results(tmp_path)
    (tmp_path / "03-mnist.provenance.json").write_text(content)
    with pytest.raises(ValueError, match=r"03-mnist\.provenance\.json"):
        summary.paper_vs_book(tmp_path)


def test_the_claims_command_reports_a_bad_file_by_name(tmp_path, monkeypatch, capsys):
    copy_results(tmp_path)
    (tmp_path / "mnist_gains.csv").write_text("")
    monkeypatch.setattr(summary, "published_results_dir", lambda: tmp_path)
    from pcsm.__main__ import main

    with pytest.raises((SystemExit, ValueError)) as raised:
        main(["claims"])
    message = str(raised.value) + capsys.readouterr().err
    assert "mnist_gains.csv" in message and "EmptyDataError" not in type(raised.value).__name__


def test_side_is_computed_from_the_error_and_its_standard_error():
    assert summary.side(0.05, 0.01) == "above"
    assert summary.side(-0.05, 0.01) == "below"
    assert summary.side(0.015, 0.01) == "within 2 SE of"


def test_softmax_verdict_follows_the_signs_of_the_errors(table):
    """The paper's softmax values are the authors' softmax networks' readouts: reproduced from those
    networks at every d; a reason for an estimator's MI says on which side of the truth each lies."""
    softmax = table[table.quantity == "softmax (balanced formula)"].set_index("setting")
    assert (softmax.source == summary.NETWORKS).all()
    assert (softmax.verdict == summary.REPRODUCED).all()
    text = summary.mi_reason(paper_error=0.09, error=-0.05, stderr=0.01, expected_bias=0.12)
    assert "above the truth by 0.09" in text and "ours below it by 0.050 ± 0.010" in text
    assert "0.120" in text


def test_headline_errors_carry_their_standard_error(table):
    headline = summary.claims(table, RESULTS).set_index("claim")
    pc = headline.filter(like="PC-softmax estimate", axis=0).ours.iloc[0]
    value, stderr = (float(v) for v in pc.split(" ± "))
    assert value >= 0 and stderr > 0


@pytest.mark.parametrize("record, label", [
    ({"profile": "paper", "parameters": {"seeds": [0, 1]}}, "authors' protocol"),
    ({"profile": "default", "parameters": {}}, "reduced (`default` profile)"),
    ({"profile": "default", "parameters": {"dataset": "stand-in"}}, "generated stand-in data"),
])
def test_claims_say_how_each_number_was_produced(tmp_path, record, label):
    (tmp_path / "03-mnist.provenance.json").write_text(json.dumps(record))
    assert summary.run_label("03-mnist", tmp_path) == label


def test_real_cub_is_not_labelled_the_authors_protocol(tmp_path):
    (tmp_path / "04-cub.provenance.json").write_text(json.dumps({"profile": "paper", "parameters": {}}))
    assert "protocol" not in summary.run_label("04-cub", tmp_path)
    assert "ImageNet weights" in summary.run_label("04-cub", tmp_path)


def test_a_gain_is_quoted_with_its_interval_when_there_is_one():
    row = pd.Series({"mean_pp": 1.5, "std_pp": 0.4, "ci95_low_pp": 1.0, "ci95_high_pp": 2.0})
    assert summary._gain_text(row) == "+1.50 (95 % CI +1.00 to +2.00)"
    assert summary._gain_text(row.drop(["ci95_low_pp", "ci95_high_pp"])) == "+1.50 ± 0.40"


def test_verdict_sentences_state_the_counts_of_each_kind(table):
    counts = summary.verdict_counts(table)
    holds, fails = summary.verdict_sentences(table)
    assert holds.startswith(f"{counts[summary.REPRODUCED]} of the paper's {len(table)} published numbers")
    assert f"for {counts[summary.CLOSER]} more".lower() in holds.lower()
    assert fails.startswith(f"{counts[summary.DIFFERS]} differ")
    assert f"{counts[summary.NOT_HERE]} are not reproduced here (Table 2, CUB-200-2011" in fails
    differing = table[table.verdict.str.startswith(summary.DIFFERS)]
    assert all(q in fails for q in differing.quantity)


def test_a_difference_that_rounds_to_zero_has_no_minus_sign(table):
    assert summary.number_text(-0.004, 2, signed=True) == "0.00"  # the one formatter (experiments.formatting)
    assert summary.number_text(-0.006, 2, signed=True) == "-0.01"
    shown = summary.display_table(table)
    assert not shown["ours − paper"].str.fullmatch(r"-0\.0+").any()


def test_the_page_prints_the_papers_numbers_as_printed_and_says_what_each_spread_is(table):
    shown = summary.display_table(table).set_index(["table", "setting", "quantity"])
    assert shown.loc[("Table 1", "d = 1", "accuracy, softmax-trained"), "paper"] == "79"
    assert shown.loc[("Table 1", "d = 1", "ground truth I(X;Y)"), "paper"] == "1.02"
    assert shown.loc[("Table 2, MNIST", "imbalanced", "avg. per-class accuracy, pc-softmax"), "paper"] == "96.30"
    assert shown.loc[("Table 1", "d = 5", "PC-softmax"), "ours"].endswith("(SE)")
    assert shown.loc[("Table 1", "d = 5", "PC-softmax"), "ours from"] == summary.NETWORKS
    assert shown.loc[("Table 1", "d = 5", "MINE"), "ours"].endswith("(SD)")


@pytest.mark.parametrize("n_differ, words, reason", [(1, "1 differs (", "), for the reason its verdict gives"),
                                                     (2, "2 differ (", "), each for the reason its verdict gives")])
def test_the_count_of_differing_numbers_agrees_with_its_words(table, n_differ, words, reason):
    """05's sentence reads "1 differs (...), for the reason", "2 differ (...), each for the reason"."""
    kind = table.verdict.str.startswith(summary.DIFFERS)
    others = table[~kind]
    differing = table[kind].head(1)
    for _ in range(n_differ - 1):
        differing = pd.concat([differing, others.head(1).assign(verdict=differing.verdict.iloc[0])])
    _, fails = summary.verdict_sentences(pd.concat([others.iloc[1:], differing], ignore_index=True))
    assert fails.startswith(words) and reason in fails
