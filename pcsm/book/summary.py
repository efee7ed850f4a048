"""'Paper vs. this book': every number of the paper's two tables beside ours, with a verdict.

Built only from the committed result tables under ``results/`` and the provenance the runner wrote
beside them, so the summary page and the README quote exactly what the experiment pages computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from pcsm.book.plan import TOC_FILE, chapter_modules, declared_chapter
from pcsm.experiments.config import Chapter, ChapterConfig, Metric
from pcsm.experiments.formatting import MISSING, mean_std_text, number_text
from pcsm.experiments.cub.page import paper_join
from pcsm.experiments.gaussian_mi import error_se, table1_against_paper, worst_error
from pcsm.experiments.mnist.experiment import RESULT_PREFIX, experiment_runs
from pcsm.experiments.authors import network_tolerance
from pcsm.experiments.paper import PAPER_ROUNDING, TABLE1_ESTIMATES, TABLE_1, TABLE_2_CUB, TABLE_2_MNIST
from pcsm.experiments.results import published_results_dir, read_json, read_table

REPRODUCED = "reproduced"
CLOSER = "ours closer to the truth"
DIFFERS = "differs"
NOT_HERE = "not reproduced here"
NOT_RUN = "not run on this profile"
N_CLASSES = 5  # Table 1's mixture
SOURCES = {
    "Table 1": ("02-gaussian-mi", "gaussian-mi.csv"),
    "Table 1, the authors' networks": ("02-gaussian-mi", "gaussian-mi-authors.csv"),
    "Table 2, MNIST": ("03-mnist", "mnist.csv"),
    "Table 2, CUB-200-2011": ("04-cub", "cub.csv"),
}
SOURCE_COLUMNS = {
    "Table 1": ["setting", "dim", "estimator", "mi_mean", "mi_std", "accuracy_mean", "accuracy_std", "n_seeds",
                "gt", "gt_se", "bayes_accuracy"],
    "Table 1, the authors' networks": ["kind", "setting", "dim", "mi", "mi_se", "mi_se_paper_test", "accuracy",
                                       "accuracy_se", "accuracy_se_paper_test"],
    "Table 2, MNIST": ["dataset", "split", "test_set", "method", "mean_pct", "std_pct", "n_seeds", "diff_pp"],
    "Table 2, CUB-200-2011": ["data", "protocol", "method", "seed", "avg_per_class_accuracy"],
}
GAINS_COLUMNS = ["dataset", "split", "test_set", "method", "mean_pp", "std_pp", "n_seeds"]
GAINS_FILE = "mnist_gains.csv"
TEXT_COLUMNS = {"kind", "setting", "estimator", "dataset", "split", "test_set", "method", "data", "protocol"}


def input_files() -> list[str]:
    """Every file the summary page reads, as globs relative to the repository: the :data:`SOURCES`
    tables, MNIST's gains and per-class tables, the tables the other chapters' validation metrics
    compare (the page shows what the validation detects) and the provenance records of
    :func:`summarised_chapters`. The chapter's declaration (``inputs`` of :data:`CHAPTER`) hashes
    them, so the page is re-executed when one changes, and it runs after the chapters that write them."""
    tables = [csv for _, csv in SOURCES.values()] + [GAINS_FILE]
    tables += [f"{prefix}_per_class.csv" for prefix in RESULT_PREFIX.values()]
    chapters = _other_chapters()
    tables += [f"{m.table}.csv" for path, module in chapters.values()
               for m in declared_chapter(path, module).metrics]
    records = [f"{name}.provenance.json" for name in chapters]
    return [f"results/{name}" for name in dict.fromkeys(tables + records)]


def _other_chapters(toc_file: Path = TOC_FILE) -> dict[str, tuple[Path, str]]:
    """:func:`~pcsm.book.plan.chapter_modules` but those this module declares."""
    return {name: found for name, found in chapter_modules(toc_file).items() if found[1] != __name__}


def summarised_chapters(toc_file: Path = TOC_FILE) -> list[str]:
    """The chapters this page reports on: every chapter of the table of contents but those this module
    declares. A chapter added to the book joins the page's run-time table and its inputs without an
    edit here."""
    return list(_other_chapters(toc_file))


def provenance(notebook: str, folder: Path | None = None) -> dict:
    """The provenance record the runner wrote for ``notebook``; a ValueError naming the file when it is
    missing, not JSON, or has no ``profile``."""
    path = (folder or published_results_dir()) / f"{notebook}.provenance.json"
    try:
        return read_json(path, "provenance record", ["profile"])
    except ValueError as error:
        raise ValueError(f"{error}; re-run `pcsm run {notebook}`") from None


def read_results(path: Path, columns: Iterable[str] = ()) -> pd.DataFrame:
    """A committed result table through the one reader, :func:`~pcsm.experiments.results.read_table`
    (a ValueError naming the file, and the row, when it is missing, truncated or changed since it was
    published, unparsable, lacks one of ``columns``, has no rows, or holds text in a numeric column)."""
    columns = list(columns)
    return read_table(path, columns, numeric=[c for c in columns if c not in TEXT_COLUMNS])


def _distance(error: float, unit: str) -> str:
    return f"{number_text(error, 3, signed=True)} nats" if unit == "nats" else \
        f"{number_text(error, signed=True)} points"


def verdict(difference: float, spread: float, rounding: float, reason_if_differs: str,
            errors: tuple[float, float] | None = None, truth: str = "the truth", unit: str = "nats") -> str:
    """Three kinds, from the numbers. *Reproduced* when |ours − paper| ≤ max(2·spread, rounding);
    else *ours closer to the truth* when ``errors`` = (ours − truth, paper − truth) and
    |ours − truth| + 2·spread + rounding < |paper − truth| (closer whatever our seed noise and the
    paper's rounding), quoting both distances; else *differs*, with ``reason_if_differs``."""
    if abs(difference) <= max(2 * spread, rounding):
        return REPRODUCED
    if errors is not None and abs(errors[0]) + 2 * spread + rounding < abs(errors[1]):
        return (f"{CLOSER}: {truth}; ours is {_distance(errors[0], unit)} from it, "
                f"the paper's {_distance(errors[1], unit)}")
    return f"{DIFFERS}: {reason_if_differs}"


def _row(table: str, setting: str, quantity: str, paper: float, mean: float, std: float, unit: str,
         seeds: int, verdict_text: str, source: str = "", spread: str = "SD over seeds") -> dict:
    """One number of the paper beside ours: ``source`` says what produced ours, ``spread`` what its ±
    is (a standard error, or the SD over seeds)."""
    return dict(table=table, setting=setting, quantity=quantity, unit=unit, paper=paper, ours=mean,
                ours_std=std, spread=spread, difference=mean - paper if np.isfinite(mean) else np.nan,
                seeds=seeds, source=source, verdict=verdict_text)


def side(error: float, stderr: float) -> str:
    """Where an estimate lies against the truth, computed: 'above'/'below' by |error|, or 'within
    2 SE of' when |error| <= 2 * stderr."""
    if not np.isfinite(error):
        return "not computed"
    if abs(error) <= 2 * stderr:
        return "within 2 SE of"
    return "above" if error > 0 else "below"


def mi_reason(paper_error: float, error: float, stderr: float, expected_bias: float | None = None) -> str:
    """Verdict reason for an MI estimate, from the numbers: where the paper's and our values lie
    against each one's ground truth, by how much, and (softmax) beside the bias log M - H(Y)."""
    ours = f"ours {side(error, stderr)} it by {mean_std_text(abs(error), stderr, 3)}"
    if side(error, stderr).startswith("within"):
        ours = f"ours {mean_std_text(error, stderr, 3, signed=True)}, within 2 SE of it"
    where = "above" if paper_error > 0 else "below"
    text = f"the paper's value lies {where} the truth by {number_text(abs(paper_error))}; {ours}"
    if expected_bias is not None:
        text += f" (log M - H(Y) = {number_text(expected_bias, 3)} for the exact posterior)"
    return text


NETWORKS = "the authors' networks"  # what ran for the Table 1 rows read off their released networks
BOOK_MINE = "this book's MINE"
TRUTH_SOURCE = "quadrature (this book)"


def network_verdict(difference: float, se: float, paper_test_se: float, rounding: float, unit: str) -> str:
    """*Reproduced* when a released network's value lies within :func:`network_tolerance` of the paper's
    number; else *differs*, saying by how much."""
    tolerance = network_tolerance(se, paper_test_se, rounding)
    if abs(difference) <= tolerance:
        return REPRODUCED
    return (f"{DIFFERS}: the paper's value is {_distance(-difference, unit)} from the network's, beyond "
            f"its rounding and 2 SE of its one test set ({_distance(tolerance, unit).lstrip('+')})")


def table1_rows(results: pd.DataFrame, seeds: int, networks: pd.DataFrame) -> list[dict]:
    """Table 1 (imbalanced Gaussian mixtures). The softmax and PC-softmax MI readouts and accuracies
    come from the authors' released networks (``networks``, of
    :func:`pcsm.experiments.authors.evaluate_networks`; ± is their standard error), verdict by
    :func:`network_verdict`; the ground truth is this book's quadrature; MINE is this book's
    implementation (± the SD over seeds), a different estimator, so its verdict is against the truth."""
    ours = results[results.setting == "imbalanced"].set_index(["dim", "estimator"])
    against = table1_against_paper(results).set_index(["dim", "quantity"])  # the chapter's ours − paper
    nets = networks[networks.setting == "imbalanced"].set_index(["dim", "kind"])
    rows = []
    for _, paper in TABLE_1.iterrows():
        d = int(paper["dim"])
        setting = f"d = {d}"
        if (d, "bayes") not in ours.index or (d, "pc-softmax") not in nets.index:
            quantities = ["accuracy, softmax-trained", "accuracy, pc-softmax-trained", "ground truth I(X;Y)",
                          *TABLE1_ESTIMATES.values()]
            values = [paper["acc_softmax"], paper["acc_pc-softmax"], paper["gt"],
                      *(paper[e] for e in TABLE1_ESTIMATES)]
            rows += [_row("Table 1", setting, q, float(v), np.nan, np.nan, "%" if q.startswith("acc") else "nats",
                          seeds, NOT_RUN) for q, v in zip(quantities, values)]
            continue
        truth = ours.loc[(d, "bayes")]
        gt, gt_se = float(truth["gt"]), float(truth["gt_se"])
        for method in ("softmax", "pc-softmax"):
            net = nets.loc[(d, method)]
            value, se = 100 * float(net["accuracy"]), 100 * float(net["accuracy_se"])
            paper_acc = float(paper[f"acc_{method}"])
            rows.append(_row("Table 1", setting, f"accuracy, {method}-trained", paper_acc, value, se, "%", np.nan,
                             network_verdict(value - paper_acc, se, 100 * float(net["accuracy_se_paper_test"]),
                                             PAPER_ROUNDING["accuracy"], "%"), NETWORKS, "SE"))
        gt_verdict = verdict(float(against.loc[(d, "gt"), "difference"]), gt_se, PAPER_ROUNDING["mi"],
                             f"the paper's value is {number_text(paper['gt'] - gt, 3, signed=True)} off ours, "
                             "beyond its rounding")
        if gt_verdict != REPRODUCED and np.floor(gt * 100) / 100 == paper["gt"]:
            gt_verdict = f"{REPRODUCED} (the paper truncates to two decimals)"
        rows.append(_row("Table 1", setting, "ground truth I(X;Y)", paper["gt"], gt, gt_se, "nats", seeds,
                         gt_verdict, TRUTH_SOURCE, "SE"))
        for estimator, label in TABLE1_ESTIMATES.items():
            paper_value = float(paper[estimator])
            if estimator in ("softmax", "pc-softmax"):
                net = nets.loc[(d, estimator)]
                value, se = float(net["mi"]), float(net["mi_se"])
                rows.append(_row("Table 1", setting, label, paper_value, value, se, "nats", np.nan,
                                 network_verdict(value - paper_value, se, float(net["mi_se_paper_test"]),
                                                 PAPER_ROUNDING["mi"], "nats"), NETWORKS, "SE"))
                continue
            at = ours.loc[(d, estimator)]
            mean, std = float(at["mi_mean"]), float(at["mi_std"])
            stderr = float(error_se(std, max(int(at["n_seeds"]), 1), gt_se))
            reason = mi_reason(paper_value - gt, mean - gt, stderr)
            text = verdict(float(against.loc[(d, estimator), "difference"]), std, PAPER_ROUNDING["mi"], reason, (mean - gt, paper_value - gt),
                           f"the ground truth {number_text(gt, 3)} nats")
            if text.startswith(CLOSER):
                text = text.replace(f"{CLOSER}: ", f"{CLOSER}: {BOOK_MINE}, a different estimator; ", 1)
            rows.append(_row("Table 1", setting, label, paper_value, mean, std, "nats", seeds, text, BOOK_MINE,
                             "SD over seeds"))
    return rows


def table2_mnist_rows(results: pd.DataFrame, seeds: int, profile: str) -> list[dict]:
    """Table 2, MNIST: average per-class accuracy on the paper's own test split."""
    ours = results[(results.dataset == "mnist") & (results.test_set == "paper split")]
    ours = ours.set_index(["split", "method"])  # diff_pp: the chapter's ours − paper (join_paper_numbers)
    why = ("under the authors' protocol" if profile == "paper"
           else f"on the '{profile}' profile, a shorter schedule than the authors' (see the chapter)")
    rows = []
    for paper in TABLE_2_MNIST[TABLE_2_MNIST.dataset == "mnist"].itertuples(index=False):
        label = f"avg. per-class accuracy, {paper.method}"
        if (paper.split, paper.method) not in ours.index:
            rows.append(_row("Table 2, MNIST", paper.split, label, paper.paper_pct, np.nan, np.nan, "%", seeds,
                             NOT_RUN))
            continue
        at = ours.loc[(paper.split, paper.method)]
        mean, std, gap = float(at["mean_pct"]), float(at["std_pct"]), float(at["diff_pp"])
        reason = (f"ours is {'higher' if gap > 0 else 'lower'} by {number_text(abs(gap))} points, "
                  f"{abs(gap) / std if std > 0 else np.inf:.1f} seed SDs, {why}")
        source = "our LeNet runs, the authors' protocol" if profile == "paper" else f"our LeNet runs, `{profile}`"
        rows.append(_row("Table 2, MNIST", paper.split, label, paper.paper_pct, mean, std, "%", seeds,
                         verdict(mean - paper.paper_pct, std, PAPER_ROUNDING["table2"], reason), source))
    return rows


def table2_cub_rows(results: pd.DataFrame) -> list[dict]:
    """Table 2, CUB-200-2011: ours only when the real data produced it, else 'not reproduced here'
    (with no seed count: no seed produced these numbers)."""
    real = results[results.data != "stand-in"]
    seeds = real.seed.nunique() if not real.empty else np.nan
    ours = paper_join(real).set_index(["protocol", "method"]) if not real.empty else None
    rows = []
    for paper in TABLE_2_CUB.itertuples(index=False):
        label = f"avg. per-class accuracy, {paper.method}"
        if real.empty:
            rows.append(_row("Table 2, CUB-200-2011", paper.protocol, label, paper.paper_pct, np.nan, np.nan,
                             "%", seeds, f"{NOT_HERE}: images and pretrained weights unavailable offline; "
                                         "the chapter runs the pipeline on a stand-in"))
            continue
        at = ours.loc[(paper.protocol, paper.method)] if (paper.protocol, paper.method) in ours.index else None
        mean, std = (np.nan, np.nan) if at is None else (float(at["mean"]), float(at["std"]))
        rows.append(_row("Table 2, CUB-200-2011", paper.protocol, label, paper.paper_pct, mean, std, "%",
                         seeds, verdict(mean - paper.paper_pct, std, PAPER_ROUNDING["table2"],
                                        "ImageNet weights instead of the authors' ImageNet + iNat2017")))
    return rows


def paper_vs_book(folder: Path | None = None) -> pd.DataFrame:
    """One row per number of the paper's Tables 1 and 2: paper, ours (mean, std over seeds), verdict."""
    folder = folder or published_results_dir()
    mnist_profile = provenance(SOURCES["Table 2, MNIST"][0], folder)["profile"]
    read = {t: read_results(folder / csv, SOURCE_COLUMNS[t]) for t, (_, csv) in SOURCES.items()}
    gaussian, mnist, cub = read["Table 1"], read["Table 2, MNIST"], read["Table 2, CUB-200-2011"]
    rows = (table1_rows(gaussian, int(gaussian.n_seeds.min()), read["Table 1, the authors' networks"])
            + table2_mnist_rows(mnist, int(mnist.n_seeds.min()), mnist_profile)
            + table2_cub_rows(cub))
    return pd.DataFrame(rows)


def run_label(notebook: str, folder: Path | None = None, estimator: str | None = None) -> str:
    """How a chapter's published numbers were produced, from its provenance: the authors' protocol
    (profile ``paper``), a generated stand-in, or a reduced profile named as such. With ``estimator``
    (an estimator of this book run on the authors' settings) the label names it: the authors' sample
    sizes are not their protocol."""
    record = provenance(notebook, folder)
    if record.get("parameters", {}).get("dataset") == "stand-in":
        return "generated stand-in data"
    if notebook == SOURCES["Table 2, CUB-200-2011"][0] and record["profile"] == "paper":
        return "the real data with ImageNet weights (the authors' were ImageNet + iNat2017)"
    if estimator is not None:
        sizes = "the authors' sample sizes" if record["profile"] == "paper" else f"`{record['profile']}` profile"
        return f"{estimator}, {sizes}"
    return "authors' protocol" if record["profile"] == "paper" else f"reduced (`{record['profile']}` profile)"


def _gain_text(row: pd.Series) -> str:
    """A paired gain as mean with its 95 % interval over seeds (or ± std when there is none)."""
    low, high = row.get("ci95_low_pp", np.nan), row.get("ci95_high_pp", np.nan)
    if np.isfinite(low) and np.isfinite(high):
        return (f"{number_text(row.mean_pp, signed=True)} (95 % CI {number_text(low, signed=True)} to "
                f"{number_text(high, signed=True)})")
    return mean_std_text(row.mean_pp, row.std_pp, signed=True)


def claims(summary: pd.DataFrame, folder: Path | None = None) -> pd.DataFrame:
    """The paper's claims that carry a number, each as paper vs. ours (the README's table)."""
    folder = folder or published_results_dir()
    t1 = summary[summary.table == "Table 1"]
    truth = t1[t1.quantity == "ground truth I(X;Y)"].set_index("setting")
    run = truth.index[truth.ours.notna()]
    if run.empty:
        raise ValueError(f"{folder / SOURCES['Table 1'][1]}: no imbalanced row for any of the paper's dims "
                         f"{_dims(truth.index)}")
    rows = []
    for label, quantity, source in (("PC-softmax", "PC-softmax", NETWORKS), ("MINE", "MINE", BOOK_MINE)):
        part = t1[t1.quantity == quantity].set_index("setting").loc[run]
        ours = (part.ours - truth.ours[run]).abs()
        paper = (part.paper - truth.paper[run]).abs()
        worst = ours.idxmax()
        seeds = part.seeds[worst] if np.isfinite(part.seeds[worst]) else 1
        stderr = error_se(part.ours_std[worst], seeds, truth.ours_std[worst])
        rows.append(dict(claim=f"{label} estimate: largest absolute error against the ground truth, "
                               f"{_dims_covered(run, truth.index)} (nats)",
                         paper=number_text(paper.max()), ours=_with_se(ours.max(), stderr),
                         seeds=_seeds(part.seeds.min()),
                         run=("the authors' released networks, scored by pcsm" if source == NETWORKS
                              else run_label("02-gaussian-mi", folder, source))))
    book = read_results(folder / SOURCES["Table 1"][1], [*SOURCE_COLUMNS["Table 1"], "error"])
    error, stderr = worst_error(book, "pc-softmax")
    rows.append(dict(claim=f"PC-softmax estimate by this book's estimator (`estimate_mi`): largest absolute "
                           f"error against the ground truth, {_dims_covered(run, truth.index)} (nats)",
                     paper=MISSING, ours=_with_se(error, stderr), seeds=int(book.n_seeds.min()),
                     run=run_label("02-gaussian-mi", folder, "this book's estimator")))
    paper = TABLE_2_MNIST[(TABLE_2_MNIST.dataset == "mnist") & (TABLE_2_MNIST.split == "imbalanced")]
    paper_gain = paper.set_index("method").paper_pct
    for method, test_set, where in (("pc-softmax", "paper split", "the paper's imbalanced test split"),
                                    ("pc-softmax", "official test", "the official balanced test set"),
                                    ("post-hoc", "paper split", "the paper's imbalanced test split")):
        row = mnist_gain(folder, method, test_set)
        if row is None:
            continue
        what = ("gain of PC-softmax over softmax" if method == "pc-softmax" else
                "gain of the post-hoc correction (a softmax network's logits shifted by -log P(y), no retraining)")
        quoted = method == "pc-softmax" and test_set == "paper split"
        paper_text = number_text(paper_gain["pc-softmax"] - paper_gain["softmax"], signed=True)
        rows.append(dict(claim=f"MNIST, imbalanced: {what} on {where} (points)",
                         paper=paper_text if quoted else MISSING,
                         ours=_gain_text(row), seeds=int(row.n_seeds), run=run_label("03-mnist", folder)))
    cub = summary[(summary.table == "Table 2, CUB-200-2011") & (summary.setting == "imbalanced")]
    cub_paper = cub.set_index("quantity").paper
    cub_ours = cub.set_index("quantity").ours
    pc, softmax = "avg. per-class accuracy, pc-softmax", "avg. per-class accuracy, softmax"
    gain = cub_ours[pc] - cub_ours[softmax]
    rows.append(dict(claim="CUB-200-2011, imbalanced: gain of PC-softmax over softmax (points)",
                     paper=number_text(cub_paper[pc] - cub_paper[softmax], signed=True),
                     ours=NOT_HERE if not np.isfinite(gain) else number_text(gain, signed=True),
                     seeds=_seeds(cub.seeds.min()),
                     run=run_label("04-cub", folder)))
    return pd.DataFrame(rows)


def mnist_gain(folder: Path, method: str, test_set: str) -> pd.Series | None:
    """The paired gain over softmax of ``method`` on imbalanced MNIST's ``test_set`` (a row of
    ``mnist_gains.csv``: mean_pp, its interval and seeds), or None where the chapter did not run it."""
    gains = read_results(folder / GAINS_FILE, GAINS_COLUMNS)
    found = gains[(gains.dataset == "mnist") & (gains.split == "imbalanced") & (gains.test_set == test_set)
                  & (gains.method == method)]
    return None if found.empty else found.iloc[0]


def _dims(settings: Iterable[str]) -> str:
    return ", ".join(s.removeprefix("d = ") for s in settings)


def _dims_covered(run: pd.Index, paper: pd.Index) -> str:
    """'d = 1 to 10' when every dim of the paper's Table 1 ran, else the dims that did and those that did not."""
    if len(run) == len(paper):
        return f"d = {_dims(paper[:1])} to {_dims(paper[-1:])}"
    return f"d = {_dims(run)} only ({_dims(paper.difference(run, sort=False))} not run)"


def _seeds(n: float) -> int | str:
    return MISSING if not np.isfinite(n) else int(n)


def ratio_runs(folder: Path | None = None) -> pd.DataFrame:
    """Per-seed average per-class accuracies of the MNIST chapter's runs (every data set it wrote
    ``<prefix>_per_class.csv`` for), the input of :func:`pcsm.book.ratios.ratio_sweep`."""
    folder = folder or published_results_dir()
    paths = [folder / f"{prefix}_per_class.csv" for prefix in RESULT_PREFIX.values()]
    tables = [read_results(path, ["dataset", "protocol", "ratio", "seed", "test_set", "method", "accuracy_pct"])
              for path in paths if path.exists() or path == paths[0]]
    return experiment_runs(pd.concat(tables, ignore_index=True))


def runtime_table(notebooks: list[str], folder: Path | None = None) -> pd.DataFrame:
    """Profile, wall time and machine of the last execution of each notebook, from its provenance."""
    rows = []
    for name in notebooks:
        record = provenance(name, folder)
        rows.append({"notebook": name, "profile": record["profile"],
                     "wall time (min)": round(record["wall_time_s"] / 60, 1),
                     "executed": record["executed_at"], "machine": f"{record['cpu']}; {record['device']}"})
    return pd.DataFrame(rows)


def verdict_counts(summary: pd.DataFrame) -> dict[str, int]:
    """How many rows carry each kind of verdict."""
    labels = (REPRODUCED, CLOSER, DIFFERS, NOT_HERE, NOT_RUN)
    kind = summary.verdict.str.extract(f"^({'|'.join(labels)})")[0]
    return {label: int((kind == label).sum()) for label in labels}


def verdict_sentences(summary: pd.DataFrame) -> tuple[str, str]:
    """What holds up and what does not, in two sentences computed from the verdicts: the counts of
    each kind and where (tables, or quantity and setting for the few that differ)."""
    counts = verdict_counts(summary)
    kind = summary.verdict.str.extract(f"^({'|'.join(counts)})")[0]

    def where(label: str, detail: bool = False) -> str:
        rows = summary[kind == label]
        if detail:
            return "; ".join(f"{q} at {', '.join(part.setting)}" for q, part in rows.groupby("quantity", sort=False))
        return "; ".join(dict.fromkeys(rows.table))

    holds = (f"{counts[REPRODUCED]} of the paper's {len(summary)} published numbers are reproduced "
             f"({where(REPRODUCED)}): by the authors' own networks within the paper's rounding and the "
             f"sampling error of its test set, by our runs within our seed spread or the paper's rounding. "
             f"For {counts[CLOSER]} more this book's estimate, from a different estimator, lies closer to the "
             f"truth than the paper's ({where(CLOSER, detail=True)}).")
    fails = f"{counts[DIFFERS]} {'differs' if counts[DIFFERS] == 1 else 'differ'}"
    if counts[DIFFERS]:
        reason = "for the reason its verdict gives" if counts[DIFFERS] == 1 else "each for the reason its verdict gives"
        fails += f" ({where(DIFFERS, detail=True)}), {reason}"
    if counts[NOT_HERE]:
        fails += f"; {counts[NOT_HERE]} are not reproduced here ({where(NOT_HERE)}: no data offline)"
    if counts[NOT_RUN]:
        fails += f"; {counts[NOT_RUN]} were not run on this profile"
    return holds, fails + "."


def _with_se(value: float, stderr: float) -> str:
    """'0.004 ± 0.002' (nats, with its standard error; a fourth decimal when the SE would read 0.000),
    or '—' when not computed."""
    places = 3 if not stderr < 0.0005 else 4
    return mean_std_text(value, stderr, places) if np.isfinite(value) else MISSING


def _number(value: float, unit: str) -> str:
    """A value of ``unit`` as the summary prints it: nats with three decimals, points with two."""
    return number_text(value, 3 if unit == "nats" else 2) if np.isfinite(value) else MISSING


def _printed(value: float, table: str, unit: str) -> str:
    """A paper's number as the paper prints it: Table 1's accuracies in whole percent, every other
    number with two decimals."""
    if not np.isfinite(value):
        return MISSING
    return number_text(value, 0 if table == "Table 1" and unit == "%" else 2)


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as text: the paper's value as printed, ours as 'value ± spread' with what the spread
    is (a standard error, or the SD over seeds), signed differences, what produced ours, short column
    names."""
    spreads = summary.spread if "spread" in summary else pd.Series("SD over seeds", index=summary.index)
    ours = [
        MISSING if not np.isfinite(m) else f"{_number(m, u)} ± {_number(s, u)} ({'SE' if p == 'SE' else 'SD'})"
        for m, s, u, p in zip(summary.ours, summary.ours_std, summary.unit, spreads)
    ]
    sources = summary.source if "source" in summary else pd.Series("", index=summary.index)
    return pd.DataFrame({
        "table": summary.table, "setting": summary.setting, "quantity": summary.quantity,
        "unit": summary.unit,
        "paper": [_printed(v, t, u) for v, t, u in zip(summary.paper, summary.table, summary.unit)],
        "ours": ours,
        "ours − paper": [MISSING if not np.isfinite(d) else number_text(d, 3 if u == "nats" else 2, signed=True)
                         for d, u in zip(summary.difference, summary.unit)],
        "seeds": [_seeds(n) for n in summary.seeds], "ours from": [v or MISSING for v in sources],
        "verdict": summary.verdict,
    })


def markdown_table(display: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a display table (for the README)."""
    header = "| " + " | ".join(display.columns) + " |"
    rule = "|" + "|".join("---" for _ in display.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in display.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


@dataclass(frozen=True)
class SummaryConfig(ChapterConfig):
    """The parameters of chapter 05, checked when the record is built. It reads the committed tables,
    so every profile runs on the defaults."""

    results_folder: str = ""  # empty: the published results (results/, or where the runner publishes)

    def __post_init__(self) -> None:
        if not isinstance(self.results_folder, str):
            raise ValueError(f"results_folder: expected a folder path (or empty), got {self.results_folder!r}")


CHAPTER = Chapter(
    config=SummaryConfig,
    results=("paper-vs-book",),
    timeout=300,
    inputs=input_files,  # the other chapters' committed tables: it runs after them, and again when they change
    metrics=(
        Metric(table="paper-vs-book", keys=("table", "setting", "quantity"), value="ours", k=0.0, floor=1e-6,
               reason="arithmetic on the committed tables, which validation reads unchanged"),
    ),
)
