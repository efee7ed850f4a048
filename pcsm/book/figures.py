"""Figures and tables the pages display: one colour per method (:data:`pcsm.book.glue.PALETTE`),
plain-language titles, tables with labelled columns and sensible rounding; the 'Paper vs. this book'
page's figures are drawn from the summary table of :mod:`pcsm.book.summary`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pcsm.book.glue import METHOD_NAMES, PALETTE
from pcsm.experiments.formatting import MISSING, number_text
from pcsm.experiments.paper import TABLE1_ESTIMATES

TRUTH = "ground truth I(X;Y)"
#: How data sets and test sets are named in figure titles.
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
TEST_SET_NAMES = {"paper split": "the paper's test split", "official test": "official test set"}
#: The widest a figure is drawn (inches at the book style's 100 dpi): a phone's 358-pixel text column
#: shows it at 358/580 of its size, so 11-point tick labels still stand 9 pixels high there; on a desktop
#: it shows at its own size. Legends go below the panels, never beside them.
FIGURE_WIDTH = 5.8
#: Height (inches) of one row of panels.
PANEL_HEIGHT = 2.7
#: A signed zero such as "-0.00" or "+0.000" (not followed by more digits).
_SIGNED_ZERO = re.compile(r"[-+−](0\.0+|0)(?![\d.])")
#: The spaces of "0.84 ± 0.01" and "+0.1 .. +0.5", kept unbroken so a narrow column never splits a value.
_JOINED = re.compile(r"(?<=\d) (±|\.\.) (?=[-+−]?\d)")


def show_table(table: pd.DataFrame, digits: int | Mapping[str, int] = 2, signed: Sequence[str] = (),
               caption: str | None = None, columns: Mapping[str, str] | None = None) -> Any:
    """``table`` as a page shows it: no index column (a named index becomes columns), numbers rounded
    to ``digits`` decimals (one count for all, or per column; integers stay integers), ``signed``
    columns with their sign, no "-0.00" (in text cells too, where "a ± b" is kept on one line), "—"
    where a value is missing, booleans as
    on/off, columns renamed by ``columns`` and an optional ``caption`` (units, scale). Returns a
    pandas Styler."""
    named = any(name is not None for name in table.index.names)
    shown = table.reset_index(drop=not named)
    for name in shown.columns:
        column = shown[name]
        if pd.api.types.is_bool_dtype(column):
            shown[name] = column.map({True: "on", False: "off"})
        elif pd.api.types.is_integer_dtype(column):
            shown[name] = column.map(str)
        elif pd.api.types.is_numeric_dtype(column):
            places = digits.get(str(name), 2) if isinstance(digits, Mapping) else digits
            shown[name] = [number_text(v, places, str(name) in signed) for v in column]
        else:
            shown[name] = [_cell_text(v) for v in column]
    shown = shown.rename(columns=dict(columns or {}))
    styler = shown.style.hide(axis="index")
    return styler.set_caption(caption) if caption else styler


def _cell_text(value: Any) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return _JOINED.sub("\u00a0\\1\u00a0", _SIGNED_ZERO.sub(r"\1", str(value)))


def method_label(method: str) -> str:
    """A method's name in legends (:data:`pcsm.book.glue.METHOD_NAMES`; unknown names unchanged)."""
    return METHOD_NAMES.get(method, method)


def method_order(methods: Sequence[str]) -> list[str]:
    """``methods`` in the book's legend order (the order of :data:`PALETTE`), unknown ones last."""
    rank = {m: k for k, m in enumerate(PALETTE)}
    return sorted(dict.fromkeys(methods), key=lambda m: rank.get(m, len(rank)))


def requested_sizes(drawn: pd.Series, requested: Sequence[int]) -> pd.Series:
    """The requested sample size behind each drawn one (class counts are rounded, so 8000 draws
    7999): the nearest of ``requested``."""
    sizes = np.asarray(sorted(requested))
    return drawn.map(lambda n: int(sizes[np.abs(sizes - n).argmin()]))


def _relabel_legend(legend: Any) -> None:
    for text in legend.get_texts():
        text.set_text(method_label(text.get_text()))


def _plain_log_ticks(ax: Any, ticks: Sequence[float], axis: str = "x") -> None:
    """Ticks of a log axis at ``ticks`` with plain labels (20, 50, 100; not 2×10¹; thousands as 20k, so
    neighbouring labels of a narrow panel do not run into each other)."""
    from matplotlib.ticker import NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_minor_locator(NullLocator())
    labels = [f"{t / 1000:g}k" if t >= 1000 and t % 100 == 0 else f"{t:g}" for t in ticks]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(list(ticks), labels)


def table1_errors(summary: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as errors against the ground truth, one row per (d, estimator, source): ``error`` =
    value − I(X;Y) (nats; I from our quadrature, the same truth for both), ``sd`` the spread of ours (the
    summary's ``ours_std``: a standard error or an SD over seeds; 0 for the paper's single run), ``truth``
    and the dim ``d``. Rows ours did not run are left out."""
    t1 = summary[summary.table == "Table 1"]
    truth = t1[t1.quantity == TRUTH].set_index("setting").ours.dropna()
    rows = []
    for row in t1[t1.quantity.isin(TABLE1_ESTIMATES.values())].itertuples(index=False):
        if row.setting not in truth.index:
            continue
        gt = float(truth[row.setting])
        common = dict(d=int(row.setting.removeprefix("d = ")), estimator=row.quantity, truth=gt)
        rows.append(dict(common, source="paper", error=row.paper - gt, sd=0.0))
        rows.append(dict(common, source="ours", error=row.ours - gt, sd=row.ours_std))
    return pd.DataFrame(rows)


def table1_figure(summary: pd.DataFrame):
    """Each estimator's error against the ground truth per d: the paper's value (open marker) and ours
    (filled, ± its spread: the authors' networks' SE, or this book's MINE's SD over seeds), so the estimate
    nearest zero is the one nearest I(X;Y). Returns the figure."""
    import matplotlib.pyplot as plt

    errors = table1_errors(summary)
    dims = sorted(errors.d.unique())
    colours = {label: PALETTE[method] for method, label in TABLE1_ESTIMATES.items()}
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6))
    width = 0.8 / len(TABLE1_ESTIMATES)
    for i, (estimator, colour) in enumerate(colours.items()):
        for source, face in (("paper", "none"), ("ours", colour)):
            part = errors[(errors.estimator == estimator) & (errors.source == source)].set_index("d").loc[dims]
            x = np.arange(len(dims)) + (i - 1) * width + (0.08 if source == "ours" else -0.08)
            ax.errorbar(x, part.error, yerr=part.sd, fmt="o", color=colour, mfc=face, capsize=3,
                        label=estimator if source == "ours" else "_nolegend_")
    ax.axhline(0, color="black", lw=1)
    truth = errors.groupby("d").truth.first()
    ax.set_xticks(np.arange(len(dims)), [f"d = {d}\nI = {truth[d]:.3f}" for d in dims])
    ax.set_ylabel("estimate − ground truth (nats)")
    ax.set_title("Table 1: open = the paper's value, filled = ours (softmax and\nPC-softmax: the authors' "
                 "networks ± SE; MINE: this book's ± 1 SD)")
    fig.tight_layout()
    ax.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.22), columnspacing=1.0)
    return fig


def _legend_outside(fig: Any, ax: Any, title: str | None = None, ncol: int = 3) -> None:
    """One legend for the figure, below the panels (call after ``tight_layout``), method names spelled
    out."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    legend = fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, _bottom(fig)),
                        title=title, ncol=min(ncol, len(labels)))
    _relabel_legend(legend)


def _bottom(fig: Any) -> float:
    """The lowest point of what ``fig`` draws, as a fraction of its height (below 0 when text hangs
    under the panels)."""
    fig.canvas.draw_idle()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return min(0.0, box.y0 / fig.get_size_inches()[1])


def _panels(n: int, sharey: bool = False, height: float = PANEL_HEIGHT) -> tuple[Any, list[Any]]:
    """A figure of ``n`` panels, two to a row (one when ``n`` is 1), :data:`FIGURE_WIDTH` wide; panels a
    last row does not need are removed."""
    import matplotlib.pyplot as plt

    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(FIGURE_WIDTH, height * rows), squeeze=False,
                             sharey=sharey)
    flat = list(axes.flat)
    for ax in flat[n:]:
        fig.delaxes(ax)
    if sharey:  # an axis whose left neighbour was removed keeps its own tick labels
        for ax in flat[:n]:
            ax.yaxis.set_tick_params(labelleft=True)
    return fig, flat[:n]


SETTING_TITLES = {"imbalanced": "imbalanced classes (priors 1:2:3:4:5)", "balanced": "balanced classes",
                  "long-tail": "long-tailed classes"}


def plot_estimator_errors(summary: pd.DataFrame) -> Any:
    """Each estimator's error against the ground truth (``error`` = mean estimate − truth, nats)
    against d, one panel per setting, bars ± one standard deviation over seeds (``mi_std``). Points
    far off the scale of the rest (more than ten times the panel's median error) are drawn at the
    edge as a triangle pointing their way, their values listed beneath the figure, so the others'
    differences stay visible."""
    settings = list(dict.fromkeys(summary["setting"]))
    fig, axes = _panels(len(settings), height=3.0)
    methods = method_order(summary["estimator"])
    dims = sorted(summary["dim"].unique())
    off_scale = []
    for col, (ax, setting) in enumerate(zip(axes, settings)):
        part = summary[summary["setting"] == setting]
        spread = (part["error"].abs() + part["mi_std"].fillna(0))
        typical = max(float(part["error"].abs().median()), 1e-4)
        limit = 1.3 * float(spread[part["error"].abs() <= 10 * typical].max())
        for k, method in enumerate(methods):
            rows = part[part["estimator"] == method].sort_values("dim")
            x = rows["dim"] * 1.07 ** (k - (len(methods) - 1) / 2)
            far = rows["error"].abs() > limit
            shown = rows["error"].where(~far)  # off-scale points leave a gap in the line
            ax.errorbar(x, shown, yerr=rows["mi_std"].fillna(0).where(~far), marker="o", ms=4,
                        capsize=2, color=PALETTE.get(method), label=method, lw=1.2)
            for xi, err in zip(x[far], rows["error"][far]):
                ax.plot([xi], [math.copysign(0.94 * limit, err)], marker="^" if err > 0 else "v", ms=7,
                        color=PALETTE.get(method), clip_on=False, linestyle="none")
            if far.any():
                errs = rows["error"][far]
                ends = (number_text(v, 3, signed=True) for v in (errs.min(), errs.max()))
                values = " to ".join(dict.fromkeys(ends))
                where = ", ".join(str(d) for d in rows["dim"][far])
                off_scale.append(f"{method_label(method)}, {setting}: {values} (d = {where})")
        ax.axhline(0, color="black", lw=1)
        ax.set(xscale="log", ylim=(-limit, limit), title=SETTING_TITLES.get(setting, setting),
               xlabel="dimension d", ylabel="estimate − truth (nats)" if col % 2 == 0 else "")
        _plain_log_ticks(ax, dims)
    fig.tight_layout()
    _legend_outside(fig, axes[0])
    if off_scale:
        fig.text(0.02, _bottom(fig) - 0.02, "▲▼ off the scale: " + "; ".join(off_scale), va="top",
                 fontsize=11, wrap=True)
    return fig


def plot_paired_errors(paired: pd.DataFrame, floor: pd.Series, sizes: Sequence[int]) -> Any:
    """Each estimator minus the Bayes plug-in on the same draw (mean ± 2 standard errors over seeds)
    against the requested sample size (``sizes``), with the plug-in's own ± 2 SE band (``floor``:
    its standard error per drawn n)."""
    import matplotlib.pyplot as plt

    paired = paired.assign(n_samples=requested_sizes(paired["n_samples"], sizes))
    floor = floor.set_axis(requested_sizes(floor.index.to_series(), sizes))
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6))
    ax.fill_between(floor.index, -2 * floor, 2 * floor, color=PALETTE["bayes"], alpha=0.2,
                    label="± 2 SE of the plug-in")
    for method in method_order(paired["estimator"]):
        rows = paired[paired["estimator"] == method].sort_values("n_samples")
        ax.errorbar(rows["n_samples"], rows["mean_difference"], yerr=2 * rows["se_difference"],
                    marker="o", capsize=3, color=PALETTE.get(method), label=method)
    ax.axhline(0, color="black", lw=1)
    ax.set(xscale="log", xlabel="number of samples n", ylabel="estimate − Bayes plug-in (nats)")
    _plain_log_ticks(ax, sorted(floor.index))
    fig.tight_layout()
    _legend_outside(fig, ax, ncol=2)
    return fig


def plot_error_by_dimension(summary: pd.DataFrame, sizes: Sequence[int]) -> Any:
    """Error against the truth (nats, from ``summary``) against d, one colour per method and one line
    style per requested sample size (``sizes``, the n asked for, not the drawn count). Wall times stay
    out of a chapter's output (the page's provenance records its own)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = summary.assign(n=requested_sizes(summary["n_samples"], sizes))
    dims = sorted(data["dim"].unique())
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.2))
    sns.lineplot(data=data, x="dim", y="error", hue="estimator", hue_order=method_order(data["estimator"]),
                 palette=PALETTE, style="n", style_order=sorted(sizes), marker="o", errorbar=None, ax=ax)
    ax.axhline(0, color="black", lw=1)
    ax.set(xscale="log", xlabel="dimension d", ylabel="estimate − truth (nats)")
    _plain_log_ticks(ax, dims)
    handles, labels = ax.get_legend_handles_labels()
    ax.get_legend().remove()
    labels = ["method" if lab == "estimator" else "samples n" if lab == "n" else lab for lab in labels]
    fig.tight_layout()
    legend = fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3)
    _relabel_legend(legend)
    return fig


def _spelled_out(data: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Data sets, test sets and methods spelled out for facet titles and legends, with the methods'
    legend order and colours under their spelled-out names."""
    data = data.reset_index(drop=True)
    methods = method_order(data["method"])
    data = data.assign(dataset=data["dataset"].map(lambda d: DATASET_NAMES.get(d, d)),
                       test_set=data["test_set"].map(lambda t: TEST_SET_NAMES.get(t, t)),
                       method=data["method"].map(method_label))
    return data, [method_label(m) for m in methods], {method_label(m): PALETTE.get(m) for m in methods}


def plot_per_class_accuracy(per_class: pd.DataFrame) -> Any:
    """Per-class accuracy (%) of each method, a dot at the mean with a bar of ± one SD over seeds, one
    panel per data set and test set. Dots, not bars: each panel's axis spans its own data (a bar's
    length would have to start at zero), so differences of a point show."""
    import seaborn as sns

    data, methods, colours = _spelled_out(per_class)
    grid = sns.catplot(data=data, kind="point", x="class", y="accuracy_pct", hue="method",
                       hue_order=methods, palette=colours, col="test_set", row="dataset",
                       errorbar="sd", dodge=0.5, linestyle="none", markersize=4,
                       err_kws={"linewidth": 1.2}, height=2.4, aspect=0.45 * FIGURE_WIDTH / 2.4,
                       sharey=False)
    grid.set_axis_labels("class (even: minority)", "accuracy (%)")
    for (dataset, test_set), ax in grid.axes_dict.items():
        part = data[(data["dataset"] == dataset) & (data["test_set"] == test_set)]
        stats = part.groupby(["class", "method"])["accuracy_pct"].agg(["mean", "std"]).fillna(0)
        low, high = float((stats["mean"] - stats["std"]).min()), float((stats["mean"] + stats["std"]).max())
        pad = 0.15 * max(high - low, 1.0)
        ax.set_ylim(max(0.0, low - pad), min(100.0, high + pad))
    grid.set_titles(template="{row_name},\n{col_name}")
    grid.tight_layout()
    _facet_legend_below(grid)
    return grid.figure


def _facet_legend_below(grid: Any) -> None:
    """A seaborn grid's legend moved below its panels, in one row, without a title."""
    import seaborn as sns

    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(grid.legend.texts),
                    title=None, frameon=False, columnspacing=1.0, handletextpad=0.2)


def plot_accuracy_by_ratio(runs: pd.DataFrame, ratios: Sequence[int]) -> Any:
    """Average per-class accuracy (%) against the imbalance ratio, mean ± one SD over seeds, one
    panel per data set and test set, ticks at the ratios run."""
    import seaborn as sns

    data, methods, colours = _spelled_out(runs)
    grid = sns.relplot(data=data, kind="line", x="ratio", y="accuracy_pct", hue="method",
                       hue_order=methods, palette=colours, style="method", style_order=methods,
                       markers=True, col="test_set", row="dataset", errorbar="sd", height=2.4,
                       aspect=0.45 * FIGURE_WIDTH / 2.4, facet_kws={"sharey": False})
    grid.set(xscale="log")
    for ax in grid.axes.flat:
        _plain_log_ticks(ax, sorted(ratios))
    grid.set_axis_labels("imbalance ratio", "avg. per-class acc. (%)")
    grid.set_titles(template="{row_name},\n{col_name}")
    grid.tight_layout()
    _facet_legend_below(grid)
    return grid.figure


def plot_probe_accuracies(results: pd.DataFrame, n_classes: int, title: str) -> Any:
    """Average per-class accuracy (%) of each method per protocol: bars at the mean over seeds, one
    dot per seed, and the chance level 100 / ``n_classes``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.4))
    protocols = list(dict.fromkeys(results["protocol"]))
    methods = method_order(results["method"])
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        for j, protocol in enumerate(protocols):
            values = results.loc[(results["protocol"] == protocol) & (results["method"] == method),
                                 "avg_per_class_accuracy"]
            x = j + (k - (len(methods) - 1) / 2) * width
            ax.bar(x, values.mean(), width=0.9 * width, color=PALETTE.get(method),
                   label=method if j == 0 else None)
            ax.scatter([x] * len(values), values, color="black", s=8, zorder=3)
    ax.axhline(100 / n_classes, color="grey", linestyle="--", linewidth=1,
               label=f"chance ({100 / n_classes:.1f} %)")
    ax.set_xticks(range(len(protocols)), [f"{p} protocol" for p in protocols])
    ax.set(ylabel="avg. per-class accuracy (%)", title=title)
    fig.tight_layout()
    _legend_outside(fig, ax)
    return fig


def gain_by_ratio_figure(sweep: pd.DataFrame, test_set: str = "paper split") -> Any:
    """The paired gain of PC-softmax over softmax (percentage points, mean over seeds with its 95 %
    interval) against the imbalance ratio, one line per data set, on ``test_set``: the landing page's
    figure. ``sweep`` is :func:`pcsm.book.ratios.ratio_sweep`."""
    import matplotlib.pyplot as plt

    part = sweep[sweep["test_set"] == test_set]
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    for (dataset, rows), (marker, line) in zip(part.groupby("dataset", sort=False), [("o", "-"), ("s", "--")]):
        rows = rows.sort_values("ratio")
        low, high = rows["mean_pp"] - rows["ci95_low_pp"], rows["ci95_high_pp"] - rows["mean_pp"]
        ax.errorbar(rows["ratio"], rows["mean_pp"], yerr=[low, high], marker=marker, linestyle=line,
                    color=PALETTE["pc-softmax"], capsize=3, label=DATASET_NAMES.get(dataset, dataset))
    ax.axhline(0, color=PALETTE["bayes"], linewidth=0.8)
    ax.set_xscale("log")
    _plain_log_ticks(ax, sorted(part["ratio"].unique()))
    ax.set_xlabel("imbalance ratio (largest / smallest class)")
    ax.set_ylabel("gain (points)")
    ax.set_title("PC-softmax over softmax, avg. per-class accuracy", fontsize="medium")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


#: The colour of each benchmark estimator (``estimate_mi`` is PC-softmax with the library's defaults).
BENCH_COLOURS = {"estimate_mi": PALETTE["pc-softmax"], "knn": PALETTE["knn"], "mine": PALETTE["mine"],
                 "bayes": PALETTE["bayes"]}


def plot_error_against_n(sweep: pd.DataFrame, names: Mapping[str, str] | None = None) -> Any:
    """The benchmark's sample-size sweep (:func:`pcsm.experiments.bench.sweep_errors`): each estimator's
    mean error against the truth (nats) against n on a log axis, one panel per group, bars ± one SD
    over seeds, estimators named by ``names``."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(sweep["group"]))
    fig, axes = _panels(len(groups), sharey=True)
    sizes = sorted(sweep["n_samples"].unique())
    for col, (ax, group) in enumerate(zip(axes, groups)):
        part = sweep[sweep["group"] == group]
        for k, name in enumerate(dict.fromkeys(part["estimator"])):
            rows = part[part["estimator"] == name].sort_values("n_samples")
            x = rows["n_samples"] * 1.04 ** (k - 1.5)
            ax.errorbar(x, rows["error_mean"], yerr=rows["error_sd"].fillna(0), marker="o", ms=4, capsize=2,
                        color=BENCH_COLOURS.get(name), label=(names or {}).get(name, name), lw=1.2)
        ax.axhline(0, color="black", lw=1)
        ax.set(xscale="log", title=f"{group} task", xlabel="number of samples n",
               ylabel="estimate − truth (nats)" if col % 2 == 0 else "")
        _plain_log_ticks(ax, sizes)
    fig.tight_layout()
    if len(axes) % 2:  # an odd number of panels: the legend fills the empty place beside the last
        box = axes[-1].get_position()
        handles, labels = axes[-1].get_legend_handles_labels()
        legend = fig.legend(handles, labels, loc="center", bbox_to_anchor=(0.75, (box.y0 + box.y1) / 2))
        _relabel_legend(legend)
    else:
        _legend_outside(fig, axes[-1], ncol=2)
    return fig
