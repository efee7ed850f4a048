"""Statistical re-validation: re-execute a declared subset of each notebook's published run and
compare aggregates of the fresh tables with the committed seed distribution.

For every metric a chapter declares (its ``CHAPTER``) and every group of its key columns the fresh run
produced, with m, s and n the committed group's mean, standard deviation and number of seeds,

    |fresh mean - m| <= k * s + floor.

The committed m, s, n come from the table's own ``std``/``n`` columns (tables of per-seed summaries),
or, without ``std``, from the committed rows of the group (one row per seed; a single row has s = 0).
Single per-seed or per-class rows are never compared one by one. Training is chaotic across CPU
kernels, so this is what "reproducible on another machine" can mean for trained networks.

The bound k s + floor is also the smallest departure of a group's fresh mean that the validation
detects (:func:`power`); a metric with a ``null`` (the value a lost effect gives, such as a gain of 0)
must hold every committed group more than its bound away from it.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pcsm.book import runner
from pcsm.book.plan import TOC_FILE, Metric, NotebookSpec, load_plan
from pcsm.experiments.results import atomic_write_text, read_table


# another CPU than the committed run's, emulated: torch's generic kernels and oneDNN limited to SSE4.1
OTHER_CPU = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}


@dataclass(frozen=True)
class Departure:
    """One fresh group mean beyond its bound: what ``pcsm validate --report`` writes and ``pcsm mutants``
    reads (as data, so rewording the printed line cannot break it)."""

    notebook: str
    table: str
    group: str
    value: str
    fresh: float
    mean: float
    std: float
    n: int
    bound: float

    @property
    def margin(self) -> float:
        """|fresh - committed mean| in bounds (above 1: caught)."""
        difference = abs(self.fresh - self.mean)
        return difference / self.bound if self.bound and math.isfinite(difference) else math.inf

    def __str__(self) -> str:
        return (f"{self.notebook}: {self.table}.csv [{self.group}] {self.value}: fresh {self.fresh:.6g} vs "
                f"committed {self.mean:.6g} ± {self.std:.3g} ({self.n} seeds); |difference| "
                f"{abs(self.fresh - self.mean):.3g} > bound {self.bound:.3g}")


@dataclass(frozen=True)
class Outcome:
    """Groups compared and the failures (one readable line each) of one notebook's metrics; the
    groups beyond their bounds among them also as :class:`Departure` records."""

    compared: int
    failures: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    departures: tuple[Departure, ...] = ()


def _label(value: Any) -> str:
    """A key value as text, so 1, 1.0 and '1' match and a missing value reads ''."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value)


def _keyed(table: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    table = table.copy()
    for column, allowed in metric.where.items():
        table = table[table[column].map(_label).isin({_label(v) for v in allowed})]
    table["_group"] = table[list(metric.keys)].apply(
        lambda row: ", ".join(f"{k}={_label(v)}" for k, v in row.items()), axis=1) if len(table) else []
    return table


def committed_distribution(committed: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    """Committed mean, std (ddof 1; 0 for one row) and n per group, indexed by the group's label."""
    table = _keyed(committed, metric)
    if metric.std is None:
        grouped = table.groupby("_group", sort=False)[metric.value]
        stats = grouped.agg(mean="mean", std="std", n="count")
    else:
        duplicated = table["_group"][table["_group"].duplicated()]
        if len(duplicated):
            raise ValueError(f"{metric.table}.csv: several committed rows for {duplicated.iloc[0]}; "
                             f"add key columns to the metric of '{metric.value}'")
        n = table[metric.n] if metric.n else 1
        stats = pd.DataFrame({"mean": table[metric.value], "std": table[metric.std], "n": n}).set_axis(
            table["_group"])
    return stats.assign(std=stats["std"].fillna(0.0))


def check_columns(notebook: str, metric: Metric, table: pd.DataFrame, what: str) -> pd.DataFrame:
    """The table with the metric's numeric columns as floats; ValueError naming the table and column
    when one is missing or holds text."""
    needed = [*metric.keys, metric.value, *(c for c in (metric.std, metric.n) if c), *metric.where]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"{notebook}: the {what} {metric.table}.csv lacks column(s) {', '.join(missing)} "
                         f"declared by its metric of '{metric.value}'")
    table = table.copy()
    for column in (c for c in (metric.value, metric.std, metric.n) if c):
        numbers = pd.to_numeric(table[column], errors="coerce")
        bad = table[column][numbers.isna() & table[column].notna()]
        if len(bad):
            raise ValueError(f"{notebook}: the {what} {metric.table}.csv, column '{column}': "
                             f"{bad.iloc[0]!r} (row {bad.index[0] + 1}) is not a number")
        table[column] = numbers.astype(float)
    return table


def bound(metric: Metric, std: float) -> float:
    """The largest |fresh mean - committed mean| a group may show: ``k * std + floor``."""
    return metric.k * std + metric.floor


def compare_metric(notebook: str, metric: Metric, fresh: pd.DataFrame, committed: pd.DataFrame) -> Outcome:
    """Check every group of ``fresh`` against the committed distribution of ``metric``."""
    committed = check_columns(notebook, metric, committed, "committed")
    fresh = check_columns(notebook, metric, fresh, "fresh")
    stats = committed_distribution(committed, metric)
    fresh_means = _keyed(fresh, metric).groupby("_group", sort=False)[metric.value].mean()
    failures, departures = [], []
    for group, value in fresh_means.items():
        if group not in stats.index:
            failures.append(f"{notebook}: {metric.table}.csv [{group}] {metric.value}: fresh {value:.6g}, but "
                            "the committed table has no such row")
            continue
        mean, std, n = stats.loc[group, ["mean", "std", "n"]]
        allowed = bound(metric, std)
        if math.isnan(value) and math.isnan(mean):
            continue
        if math.isnan(value) or math.isnan(mean) or abs(value - mean) > allowed:
            departure = Departure(notebook, metric.table, group, metric.value, float(value), float(mean),
                                  float(std), int(n), allowed)
            departures.append(departure)
            failures.append(f"{departure} = {metric.k:g} · std + {metric.floor:g}")
    return Outcome(len(fresh_means), tuple(failures), departures=tuple(departures))


def compare_results(spec: NotebookSpec, fresh_dir: Path, committed_dir: Path) -> Outcome:
    """Every metric of ``spec``: fresh tables of ``fresh_dir`` against ``committed_dir``'s. A metric
    whose table the validation subset did not write is skipped; a notebook must compare something."""
    compared, failures, skipped, departures = 0, [], [], []
    for metric in spec.metrics:
        committed_file, fresh_file = committed_dir / f"{metric.table}.csv", fresh_dir / f"{metric.table}.csv"
        if not committed_file.is_file():
            raise ValueError(f"{spec.name}: {committed_file} is missing "
                             f"(declared by a metric of its CHAPTER)")
        if not fresh_file.is_file():
            skipped.append(f"{metric.table}.csv {metric.value}")
            continue
        outcome = compare_metric(spec.name, metric, read_table(fresh_file), read_table(committed_file))
        compared += outcome.compared
        failures += outcome.failures
        departures += outcome.departures
    if compared == 0:
        failures.append(f"{spec.name}: the validation subset compared nothing; declare metrics whose groups "
                        f"it runs")
    return Outcome(compared, tuple(failures), tuple(skipped), tuple(departures))


def power(spec: NotebookSpec, committed_dir: Path) -> pd.DataFrame:
    """What each metric of ``spec`` detects, per committed group: the committed mean and std, the
    bound (the smallest departure of a fresh mean that fails), and, for a metric with a ``null``, how
    many bounds the null lies from the committed mean (a lost effect fails when this exceeds 1)."""
    rows = []
    for index, metric in enumerate(spec.metrics):
        committed = check_columns(spec.name, metric, read_table(committed_dir / f"{metric.table}.csv"),
                                  "committed")
        for group, (mean, std, _) in committed_distribution(committed, metric).iterrows():
            allowed = bound(metric, std)
            null_margin = math.nan if metric.null is None else abs(mean - metric.null) / allowed
            rows.append({"metric": index, "table": metric.table, "value": metric.value, "group": group,
                         "mean": mean,
                         "std": std, "bound": allowed, "null_margin": null_margin})
    return pd.DataFrame(rows)


def check_subset(spec: NotebookSpec) -> dict[str, Any]:
    """The validation subset's parameters: known to the notebook, and list values drawn from what the
    published run used (a setting it did not run has nothing to compare with)."""
    published = spec.record(spec.published).parameters()
    for name, value in spec.validate.items():
        if name in published and isinstance(value, list) and isinstance(published[name], list):
            extra = [v for v in value if v not in published[name]]
            if extra:
                raise ValueError(f"{spec.declared}.validate: {name}: {extra!r} "
                                 f"not in the published profile '{spec.published}' ({published[name]!r})")
    return runner.prepare(spec, spec.published, spec.validate)


def validate(names: list[str], plan_file: Path = TOC_FILE, committed_dir: Path | None = None,
             report: Path | None = None) -> int:
    """Re-execute each named notebook's validation subset in a temporary folder and compare; print
    one line per notebook and every failure; return 0 when all metrics hold, else 1. ``report``: a
    JSON file to write the :class:`Departure` records to (``{"departures": [...]}``, empty when none)."""
    committed_dir = committed_dir or runner.results_dir()
    selected = runner.select(load_plan(plan_file), names)
    subsets = [(spec, check_subset(spec)) for spec in selected]
    runner.check_environment()
    failed, departures = False, []
    with tempfile.TemporaryDirectory(prefix="pcsm-validate-") as scratch:
        fresh_dir = Path(scratch) / "results"
        for i, (spec, overrides) in enumerate(subsets, 1):
            start = time.perf_counter()
            print(f"[{i}/{len(subsets)}] {spec.name} ({spec.published}, subset {spec.validate}) ...",
                  end=" ", flush=True)
            try:
                runner.execute(spec, spec.published, Path(scratch) / "notebooks", fresh_dir, True, overrides,
                               published_dir=committed_dir, subset=True)
            except runner.NotebookFailed as error:
                runner.report_failure(spec, error, start)
                failed = True
                continue
            outcome = compare_results(spec, fresh_dir, committed_dir)
            verdict = "FAILED" if outcome.failures else "ok"
            skipped = f"; not in the subset: {', '.join(outcome.skipped)}" if outcome.skipped else ""
            print(f"{verdict}: {outcome.compared} aggregates compared in {time.perf_counter() - start:.1f}s"
                  f"{skipped}", flush=True)
            for line in outcome.failures:
                print(f"  {line}", flush=True)
            failed |= bool(outcome.failures)
            departures += outcome.departures
    if report is not None:
        atomic_write_text(report, json.dumps({"departures": [asdict(d) for d in departures]}, indent=1))
    return 1 if failed else 0
