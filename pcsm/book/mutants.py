"""Does the validation catch a broken method? Each mutant breaks one piece of the method by a literal
source substitution, in a copy of the repository, and ``python -m pcsm validate NOTEBOOK`` runs there.

A mutant is caught when the validation fails; its margin is the largest |fresh - committed mean| / bound
among the failing groups (the bound of :func:`pcsm.book.validate.bound`), and "caught by a clear
margin" means a margin of at least :data:`CLEAR_MARGIN`. Each mutant also declares the least effect it
has on one committed group (:class:`Effect`), so the decision rule can be checked against the
committed tables without training anything (:func:`expected_margin`, tests/test_mutants.py).

Usage: ``pcsm mutants [NAME ...] [--other-cpu] [--list] [--power]``. Minutes per mutant
(about 4 for 03-mnist on one core); nothing under ``results/`` or ``notebooks/`` is touched.
"""

from __future__ import annotations

import ast
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pcsm.book.plan import TOC_FILE, load_plan
from pcsm.book.validate import OTHER_CPU, Departure, bound, committed_distribution, power
from pcsm.experiments.results import DATA_ENV, REPO_ROOT, data_root, read_json, read_table

CLEAR_MARGIN = 1.5
COPY_IGNORED = (".git", ".venv", "_build", "data", ".cache", "node_modules", "__pycache__", ".pytest_cache")


@dataclass(frozen=True)
class Effect:
    """The least a mutant moves one committed group of ``table`` (selected by the key values in
    ``group``): its ``value`` becomes that of the group ``like`` selects (other key values, the rest
    unchanged), plus ``shift`` (a function of the committed row)."""

    table: str
    value: str
    group: dict[str, Any]
    like: dict[str, Any] = field(default_factory=dict)
    shift: Callable[[pd.Series], float] = lambda row: 0.0
    why: str = ""


@dataclass(frozen=True)
class Mutant:
    """One broken piece of the method: in the function ``function`` (a name, ``Class.method`` for a
    method) of ``file``, replace ``old`` by ``new``, exactly once. Both are written as :func:`ast.unparse`
    writes the function (single quotes, one line per statement, four-space indents, no comments), so
    reformatting the source does not lose the mutant; only a change to what the function does can."""

    name: str
    notebook: str
    file: str
    function: str
    old: str
    new: str
    effect: Effect


def imbalance_bias(row: pd.Series) -> float:
    """log M - H(Y): what the balanced formula, or a uniform prior in MINE's marginal term, adds to the
    MI of M classes with label entropy H(Y) (KL(P_XY || P_X U_Y) = I(X;Y) + log M - H(Y))."""
    return math.log(5) - float(row["label_entropy"])


# Define (and re-check) the substitutions against the current code: `pcsm mutants --list`
# fails naming every mutant whose function is gone or no longer holds its `old` text exactly once.
MUTANTS = (
    Mutant("pc-softmax-trained-as-softmax", "03-mnist", "pcsm/core/losses.py", "make_loss",
           "if loss == 'softmax':\n        return F.cross_entropy",
           "if loss in ('softmax', 'pc-softmax'):\n        return F.cross_entropy",
           Effect("mnist_ratio", "mean_pct", {"ratio": 100, "test_set": "paper split", "method": "pc-softmax"},
                  like={"method": "softmax"}, why="PC-softmax's rows become softmax's")),
    Mutant("estimate-mi-balanced-formula", "02-gaussian-mi", "pcsm/core/mi.py", "log_posterior_scores",
           "if method == 'softmax':\n        return torch.log_softmax(logits, dim=1) + math.log(",
           "if True:\n        return torch.log_softmax(logits, dim=1) + math.log(",
           Effect("gaussian-mi", "mi_mean", {"setting": "imbalanced", "dim": 10, "estimator": "pc-softmax"},
                  shift=imbalance_bias, why="+ log M - H(Y) on the imbalanced task")),
    Mutant("mnist-imbalanced-split-balanced", "03-mnist", "pcsm/experiments/mnist/data.py", "paper_split_indices",
           "protocol_indices(subset, protocol, ratio, largest, seed=seed)",
           "protocol_indices(subset, protocol, 1, largest, seed=seed)",
           Effect("mnist_ratio", "mean_pct", {"ratio": 100, "test_set": "paper split", "method": "softmax"},
                  like={"ratio": 1}, why="softmax at ratio 100 scores as on the balanced split")),
    Mutant("lenet-one-epoch", "03-mnist", "pcsm/experiments/mnist/experiment.py", "train_run",
           "epochs=plan.epochs,", "epochs=1,",
           Effect("mnist_ratio", "mean_pct", {"ratio": 100, "test_set": "paper split", "method": "pc-softmax"},
                  shift=lambda row: -15.0, why="PC-softmax at ratio 100 loses 15 points (measured: 31)")),
    Mutant("mine-marginal-uniform-prior", "02-gaussian-mi", "pcsm/core/baselines.py", "_log_prior",
           "return torch.as_tensor(np.log(prior))",
           "return torch.as_tensor(np.log(np.full_like(prior, 1 / len(prior))))",
           Effect("gaussian-mi", "mi_mean", {"setting": "imbalanced", "dim": 1, "estimator": "mine"},
                  shift=imbalance_bias, why="+ log M - H(Y) on the imbalanced task")),
    Mutant("authors-readout-balanced-formula", "02-gaussian-mi", "pcsm/experiments/authors.py", "readout_prior",
           "balanced = check_choice(kind, 'kind', tuple(KINDS)) != 'pc-softmax'",
           "balanced = True",
           Effect("gaussian-mi-authors", "mi", {"kind": "pc-softmax", "dim": 10},
                  shift=lambda row: 0.12, why="the PC network read with the balanced formula: +0.12 nats (measured "
                                               "0.122 at d = 1, 0.133 at d = 10)")),
    Mutant("post-hoc-sign-flipped", "03-mnist", "pcsm/core/losses.py", "posthoc_corrected_logits",
           "return logits - log_prior_tensor(prior, logits)",
           "return logits + log_prior_tensor(prior, logits)",
           Effect("mnist_ratio", "mean_pct", {"ratio": 100, "test_set": "paper split", "method": "post-hoc"},
                  like={"method": "softmax"}, why="at least its gain lost (it pushes further the wrong way)")),
)


def find(names: list[str]) -> list[Mutant]:
    """The named mutants, all when ``names`` is empty; ValueError names an unknown one."""
    known = {m.name: m for m in MUTANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"mutant: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names] or list(MUTANTS)


def _function_node(tree: ast.Module, qualified: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The definition of ``qualified`` (``name`` or ``Class.name``) at the top of ``tree``, or None."""
    body: list[ast.stmt] = tree.body
    *owners, name = qualified.split(".")
    for owner in owners:
        body = next((n.body for n in body if isinstance(n, ast.ClassDef) and n.name == owner), [])
    return next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name),
                None)


def substituted(mutant: Mutant, root: Path = REPO_ROOT) -> str:
    """The mutant's file under ``root`` with its function rewritten: the function in the normal form of
    :func:`ast.unparse`, ``old`` replaced by ``new`` there, in place of the function's lines. A
    ValueError names the mutant when the function is gone or its normal form does not hold ``old``
    exactly once."""
    text = (root / mutant.file).read_text()
    node = _function_node(ast.parse(text), mutant.function)
    if node is None:
        raise ValueError(f"mutant {mutant.name}: {mutant.file} defines no {mutant.function} (the code moved): "
                         "update MUTANTS in pcsm/book/mutants.py")
    normal = ast.unparse(node)
    count = normal.count(mutant.old)
    if count != 1:
        raise ValueError(f"mutant {mutant.name}: {mutant.function} in {mutant.file} holds its text {count} times, "
                         f"not once (the code changed): update MUTANTS in pcsm/book/mutants.py\n{mutant.old}")
    lines = text.splitlines(keepends=True)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    mutated = textwrap.indent(normal.replace(mutant.old, mutant.new), " " * node.col_offset) + "\n"
    return "".join([*lines[:first], mutated, *lines[node.end_lineno:]])


def apply(mutant: Mutant, root: Path) -> None:
    """Substitute the mutant's text in the copy of the repository at ``root``."""
    (root / mutant.file).write_text(substituted(mutant, root))


def _select(table: pd.DataFrame, values: dict[str, Any]) -> pd.DataFrame:
    for column, value in values.items():
        table = table[table[column].astype(str) == str(value)]
    return table


def synthetic_fresh(mutant: Mutant, committed_dir: Path) -> pd.DataFrame:
    """A one-seed fresh table of the mutant's least effect: the committed group's row with its value
    moved as :class:`Effect` says."""
    effect = mutant.effect
    committed = read_table(committed_dir / f"{effect.table}.csv")
    rows = _select(committed, effect.group)
    if rows.empty:
        raise ValueError(f"mutant {mutant.name}: {effect.table}.csv has no row {effect.group}")
    fresh = rows.head(1).copy()
    source = _select(committed, {**effect.group, **effect.like}) if effect.like else fresh
    fresh[effect.value] = float(source[effect.value].iloc[0]) + effect.shift(fresh.iloc[0])
    return fresh


def expected_margin(mutant: Mutant, committed_dir: Path, plan_file: Path = TOC_FILE) -> float:
    """The largest |fresh - committed mean| / bound the mutant's least effect gives among the metrics
    of its notebook on the effect's table and value (0 when no metric compares that group)."""
    spec = load_plan(plan_file)[mutant.notebook]
    fresh = synthetic_fresh(mutant, committed_dir)
    committed = read_table(committed_dir / f"{mutant.effect.table}.csv")
    margins = [0.0]
    for metric in (m for m in spec.metrics if (m.table, m.value) == (mutant.effect.table, mutant.effect.value)):
        stats = committed_distribution(committed, metric)
        for group, row in committed_distribution(fresh, metric).iterrows():
            if group in stats.index:
                mean, std = stats.loc[group, ["mean", "std"]]
                margins.append(abs(row["mean"] - mean) / bound(metric, std))
    return max(margins)


def copy_repository(dest: Path) -> None:
    """The working tree (uncommitted changes included) without git, the environment or data."""
    shutil.copytree(REPO_ROOT, dest, ignore=shutil.ignore_patterns(*COPY_IGNORED), symlinks=True)


@dataclass(frozen=True)
class Verdict:
    """One mutant's validation: exit code, failing groups (notebook, group, fresh, mean, bound,
    margin) and the output's tail."""

    mutant: Mutant
    returncode: int
    failures: tuple[tuple[str, str, float, float, float, float], ...]
    tail: str

    @property
    def margin(self) -> float:
        return max((f[-1] for f in self.failures), default=0.0)


def failures_of(report: Path) -> tuple[tuple[str, str, float, float, float, float], ...]:
    """The failing groups of a ``pcsm validate --report`` file: (table, group and value, fresh, committed
    mean, bound, margin in bounds)."""
    departures = [Departure(**record) for record in
                  read_json(report, "validation report", ("departures",))["departures"]]
    return tuple((d.table, f"{d.group} {d.value}", d.fresh, d.mean, d.bound, d.margin) for d in departures)


def run_mutant(mutant: Mutant, other_cpu: bool = False) -> Verdict:
    """Apply ``mutant`` in a temporary copy of the repository and validate its notebook there (this
    environment's Python, the copy's ``pcsm`` first on the path, the data sets read in place)."""
    with tempfile.TemporaryDirectory(prefix=f"pcsm-mutant-{mutant.name}-") as scratch:
        root = Path(scratch) / "repo"
        copy_repository(root)
        apply(mutant, root)
        env = {**os.environ, "PYTHONPATH": str(root), DATA_ENV: str(data_root()),
               "PCSM_JOBS": os.environ.get("PCSM_JOBS", "1"), "PCSM_THREADS": os.environ.get("PCSM_THREADS", "1"),
               **(OTHER_CPU if other_cpu else {})}
        env.pop("PCSM_RESULTS_DIR", None)
        env.pop("PCSM_PUBLISHED_RESULTS", None)
        report = Path(scratch) / "validation.json"
        proc = subprocess.run([sys.executable, "-m", "pcsm", "validate", mutant.notebook, "--report", str(report)],
                              cwd=root, env=env, capture_output=True, text=True)
        failures = failures_of(report) if report.is_file() else ()
    output = proc.stdout + proc.stderr
    return Verdict(mutant, proc.returncode, failures, output[-3000:])


def report(verdict: Verdict) -> str:
    """A few lines per mutant: caught or not, and its worst failing groups."""
    m = verdict.mutant
    if verdict.returncode == 0:
        head = f"{m.name} ({m.notebook}): NOT CAUGHT (validation passed)"
    elif not verdict.failures:
        return f"{m.name} ({m.notebook}): the validation could not run\n{verdict.tail}"
    else:
        clear = "clear" if verdict.margin >= CLEAR_MARGIN else "NOT clear"
        head = f"{m.name} ({m.notebook}): caught, margin {verdict.margin:.2f} bounds ({clear})"
    worst = sorted(verdict.failures, key=lambda f: -f[-1])[:3]
    lines = [f"    {t}.csv [{g}]: fresh {fresh:.4g} vs {mean:.4g}, bound {limit:.3g}, margin {margin:.2f}"
             for t, g, fresh, mean, limit, margin in worst]
    return "\n".join([head, *lines])


def power_rows(committed_dir: Path, names: list[str] | None = None,
               plan_file: Path = TOC_FILE) -> pd.DataFrame:
    """Per chapter (``names``, all when None) and metric: the range of bounds over the committed groups
    (the smallest departure detected) and, with a ``null``, the least margin of a lost effect, as text."""
    rows = []
    for spec in load_plan(plan_file).values():
        if names is not None and spec.name not in names:
            continue
        table = power(spec, committed_dir)
        for index, groups in table.groupby("metric", sort=False):
            metric = spec.metrics[index]
            where = "".join(f" ({c} = {', '.join(map(str, v))})" for c, v in metric.where.items())
            null = groups["null_margin"][groups["null_margin"].notna() & (groups["mean"] != metric.null)]
            low, high = (f"{v:.3g}" for v in (groups["bound"].min(), groups["bound"].max()))
            rows.append({"chapter": spec.name, "metric": f"{metric.table}.csv {metric.value}{where}",
                         "fails above": low if low == high else f"{low} to {high} (by group)",
                         "a lost effect": f"{null.min():.2f}+ bounds away" if len(null) else None})
    return pd.DataFrame(rows, columns=["chapter", "metric", "fails above", "a lost effect"])


def power_report(committed_dir: Path, names: list[str] | None = None, plan_file: Path = TOC_FILE) -> str:
    """:func:`power_rows` as one line per metric (``pcsm mutants --power``)."""
    return "\n".join(f"{r.chapter} {r.metric}: departures above {r._2} fail"
                     + (f"; a lost effect is {r._3}" if r._3 else "")
                     for r in power_rows(committed_dir, names, plan_file).itertuples(index=False))


def main(names: list[str], other_cpu: bool = False, list_only: bool = False, power_only: bool = False) -> int:
    """``pcsm mutants``: run the named mutants (all when ``names`` is empty) and print their verdicts;
    0 when every one was caught by a clear margin, else 1. ``list_only``: check each substitution and
    list the mutants with the margin their least effect gives; ``power_only``: :func:`power_report`.
    An unknown name, or a substitution whose text moved, is a ValueError naming it."""
    selected = find(names)
    if power_only:
        print(power_report(REPO_ROOT / "results"))
        return 0
    for mutant in selected:
        substituted(mutant)
    if list_only:
        for m in selected:
            margin = expected_margin(m, REPO_ROOT / "results")
            print(f"{m.name} ({m.notebook}, {m.file}): least effect {m.effect.why}; "
                  f"expected margin {margin:.2f} bounds")
        return 0
    verdicts = []
    for mutant in selected:
        verdicts.append(run_mutant(mutant, other_cpu))
        print(report(verdicts[-1]), flush=True)
    return 0 if all(v.returncode != 0 and v.margin >= CLEAR_MARGIN for v in verdicts) else 1
