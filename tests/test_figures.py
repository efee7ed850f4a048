"""Tests of the benchmark figure in pcsm.book.figures."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from pcsm.book.figures import BENCH_COLOURS, plot_error_against_n
from pcsm.book.glue import PALETTE


def sweep() -> pd.DataFrame:
    rows = []
    for group in ("balanced", "long-tail", "invariance"):
        for name in ("estimate_mi", "knn"):
            for n in (1000, 3000, 20000):
                rows.append({"group": group, "estimator": name, "n_samples": n, "error_mean": -1 / n,
                             "error_sd": 0.001, "n_seeds": 2})
    return pd.DataFrame(rows)


def test_error_against_n_has_a_log_panel_per_group_and_a_line_per_estimator():
    fig = plot_error_against_n(sweep(), {"estimate_mi": "estimate_mi (PC-softmax)"})
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["balanced task", "long-tail task", "invariance task"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    lines = [container.lines[0] for container in axes[1].containers]
    assert [line.get_color() for line in lines] == [PALETTE["pc-softmax"], PALETTE["knn"]]
    assert sorted(lines[1].get_ydata()) == pytest.approx(sorted(-1 / pd.Series([1000, 3000, 20000])))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["estimate_mi (PC-softmax)", "kNN (Ross 2014)"]
    assert set(BENCH_COLOURS.values()) <= set(PALETTE.values())


# ---------------------------------------------------------------------------------------------------
# Readable where they are shown: every text of every figure stands at least 9 pixels high on screen in
# the text column of a desktop (772 px wide at 1400 px) and of a phone (358 px at 390 px), where a
# figure wider than the column is scaled down to it. Drawn as the notebooks draw them (the book style,
# 100 dpi, saved with a tight bounding box), from small tables shaped like the chapters' own.

COLUMNS = {1400: 772, 390: 358}  # the article's text column at each screen width (tests/test_book.py)
MIN_TEXT_PX = 9


def figure_cases():
    import numpy as np

    from pcsm.book import figures

    rng = np.random.default_rng(0)
    methods = ["bayes", "pc-softmax", "softmax", "mine", "knn"]
    three = ("pc-softmax", "softmax", "post-hoc")
    panels = [(ds, ts) for ds in ("mnist", "fashion-mnist") for ts in ("paper split", "official test")]
    errors = pd.DataFrame([
        {"setting": s, "dim": d, "estimator": m, "mi_std": 0.001,
         "error": 0.12 if (m, s) == ("softmax", "imbalanced") else rng.normal(0, 0.002)}
        for s in ("imbalanced", "balanced") for d in (1, 2, 5, 10) for m in methods])
    per_class = pd.DataFrame([
        {"dataset": ds, "test_set": ts, "method": m, "class": c, "seed": s, "accuracy_pct": 90 + rng.normal()}
        for ds, ts in panels for m in three for c in range(10) for s in range(3)])
    runs = pd.DataFrame([
        {"dataset": ds, "test_set": ts, "method": m, "ratio": r, "seed": s, "accuracy_pct": 90 - r / 10 + s}
        for ds, ts in panels for m in three for r in (1, 10, 100) for s in range(3)])
    wins = pd.DataFrame([{"dim": d, "n_samples": n, "estimator": e, "error": -0.001 * d}
                         for d in (20, 50, 100) for n in (2000, 20000) for e in ("bayes", "knn", "pc-softmax")])
    paired = pd.DataFrame([{"estimator": e, "n_samples": n, "mean_difference": -1 / n, "se_difference": 0.001}
                           for e in ("pc-softmax", "knn", "mine") for n in (1000, 3000, 10000)])
    floor = pd.Series([0.003, 0.002, 0.001], index=[1000, 3000, 10000])
    probes = pd.DataFrame([{"protocol": p, "method": m, "seed": s, "avg_per_class_accuracy": 40 + s}
                           for p in ("balanced", "imbalanced") for m in three for s in range(3)])
    gains = pd.DataFrame({"dataset": ["mnist"] * 3 + ["fashion-mnist"] * 3, "ratio": [1, 10, 100] * 2,
                          "test_set": ["paper split"] * 6, "mean_pp": [0, 1.4, 13.5, 0, 2.9, 15.6],
                          "ci95_low_pp": [0, 0.9, 10.6, 0, 2.5, 12.8], "ci95_high_pp": [0, 2, 16.5, 0, 3.2, 18.3]})
    names = {"estimate_mi": "estimate_mi (PC-softmax)"}
    return {
        "plot_estimator_errors": lambda: figures.plot_estimator_errors(errors),
        "plot_error_against_n": lambda: plot_error_against_n(sweep(), names),
        "plot_per_class_accuracy": lambda: figures.plot_per_class_accuracy(per_class),
        "plot_accuracy_by_ratio": lambda: figures.plot_accuracy_by_ratio(runs, [1, 10, 100]),
        "plot_error_by_dimension": lambda: figures.plot_error_by_dimension(wins, [2000, 20000]),
        "plot_paired_errors": lambda: figures.plot_paired_errors(paired, floor, [1000, 3000, 10000]),
        "plot_probe_accuracies": lambda: figures.plot_probe_accuracies(probes, 200, "stand-in: probes"),
        "gain_by_ratio_figure": lambda: figures.gain_by_ratio_figure(gains),
    }


def smallest_text_pt(fig) -> float:
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes)


@pytest.mark.parametrize("name", list(figure_cases()))
def test_figures_read_at_their_displayed_size(name, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.image import imread

    from pcsm.book.glue import use_book_style

    use_book_style()
    fig = figure_cases()[name]()
    target = tmp_path / "figure.png"
    fig.savefig(target, bbox_inches="tight")  # as the notebooks' inline backend saves it
    width_px = imread(target).shape[1]
    text_px = smallest_text_pt(fig) * fig.dpi / 72
    plt.close(fig)
    for screen, column in COLUMNS.items():
        shown = text_px * min(1.0, column / width_px)
        assert shown >= MIN_TEXT_PX, (f"{name}: its smallest text shows {shown:.1f} px high at {screen} "
                                      f"px (drawn {text_px:.1f} px in a {width_px}-px image)")


def test_bars_compare_magnitudes_from_zero():
    """The per-class figure draws dots, not bars (its axis spans the data); the probe figure's bars
    start at zero."""
    from matplotlib.patches import Rectangle

    cases = figure_cases()
    per_class = cases["plot_per_class_accuracy"]()
    bars = [p for ax in per_class.axes for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
    assert not bars
    probes = cases["plot_probe_accuracies"]()
    assert probes.axes[0].get_ylim()[0] == 0
