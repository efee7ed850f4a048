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
    assert labels == ["estimate_mi (PC-softmax)", "kNN (KSG)"]
    assert set(BENCH_COLOURS.values()) <= set(PALETTE.values())
