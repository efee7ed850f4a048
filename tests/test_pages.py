"""How the chapters read: code that fits the page, parameters and imports out of the way, one style."""

from __future__ import annotations

import nbformat
import pytest

from pcsm.book import runner

PLAN = runner.load_plan()
MAX_CODE_LINE = 100


def code_cells(name: str) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(PLAN[name].path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("name", PLAN)
def test_no_code_line_scrolls_sideways(name: str) -> None:
    long = [
        f"cell {index}: {len(line)} characters: {line[:60]}..."
        for index, cell in enumerate(code_cells(name))
        for line in cell.source.splitlines()
        if len(line) > MAX_CODE_LINE
    ]
    assert not long, f"{name}: code lines over {MAX_CODE_LINE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("name", PLAN)
def test_imports_are_collapsed(name: str) -> None:
    """The first code cell that imports pcsm is shown behind a toggle (tag hide-input or hide-cell)."""
    importing = [cell for cell in code_cells(name) if "from pcsm" in cell.source or "import pcsm" in cell.source]
    assert importing, f"{name}: no cell imports pcsm"
    tags = set(importing[0].metadata.get("tags", []))
    assert tags & {"hide-input", "hide-cell"}, f"{name}: tag the imports cell hide-input (it has {sorted(tags)})"


@pytest.mark.parametrize("name", PLAN)
def test_every_figure_cell_carries_alt_text(name: str) -> None:
    """A cell that draws a figure says in words what it shows (``mystnb.image.alt``, which MyST-NB puts on
    the image, and pcsm.book.alt_text on a copy pasted on another page): at least a sentence, not a file
    name."""
    missing = [
        f"cell {index}" for index, cell in enumerate(code_cells(name))
        if any("image/png" in output.get("data", {}) for output in cell.outputs)
        and len(cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "").split()) < 8
    ]
    assert not missing, f"{name}: figures without alt text in {missing}; set the cell's mystnb.image.alt"


@pytest.mark.parametrize("name", PLAN)
def test_figures_share_the_book_style(name: str) -> None:
    sources = "\n".join(cell.source for cell in code_cells(name))
    if "plt." in sources or "sns." in sources:
        assert "use_book_style()" in sources, f"{name} draws figures without pcsm.book.glue.use_book_style()"


@pytest.mark.parametrize("name", PLAN)
def test_nbval_markers_are_cell_tags(name: str) -> None:
    """nbval's markers are cell tags (nbval-check-output, ...), not comments a reader sees in the code."""
    marked = [index for index, cell in enumerate(code_cells(name)) if "NBVAL" in cell.source]
    assert not marked, f"{name}: code cells {marked} carry an NBVAL comment; tag them nbval-check-output"


def test_tables_read_as_people_write_them() -> None:
    """show_table: no index column, rounded numbers, no "-0.00" (in text too), "—" for a gap, and a
    value "a ± b" on one line."""
    import re

    import pandas as pd

    from pcsm.book.figures import show_table

    table = pd.DataFrame({"dim": [1, 2], "error": [-0.0004, 0.1234], "gain": ["-0.00 ± 0.01", None]},
                         index=pd.Index([7, 8]))
    html = show_table(table, digits=2, signed=["error"], columns={"dim": "d"}, caption="nats").to_html()
    assert "row_heading" not in html, "the index is shown"
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]
    assert cells == ["1", "0.00", "0.00\u00a0±\u00a00.01", "2", "+0.12", "—"], cells  # ± never breaks
    assert re.findall(r"<th[^>]*col_heading[^>]*>(.*?)</th>", html) == ["d", "error", "gain"]
    assert "<caption>nats</caption>" in html


def test_figures_label_what_was_asked() -> None:
    """d ticks at the d values, the requested n (not the drawn count) and one colour per method."""
    import matplotlib
    import pandas as pd
    from matplotlib.colors import to_hex

    from pcsm.book.figures import plot_error_by_dimension
    from pcsm.book.glue import PALETTE

    matplotlib.use("Agg")
    summary = pd.DataFrame([{"dim": d, "n_samples": n, "estimator": e, "error": -0.01 * d / n}
                            for d in (20, 50, 100) for n in (2000, 7999) for e in ("knn", "pc-softmax")])
    fig = plot_error_by_dimension(summary, sizes=[2000, 8000])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["20", "50", "100"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "8000" in legend and "7999" not in legend and "PC-softmax" in legend, legend
    colours = {line.get_label(): to_hex(line.get_color()) for line in fig.axes[0].get_lines()}
    assert colours.get("pc-softmax") == PALETTE["pc-softmax"], colours


def test_the_landing_figure_shows_each_data_set_s_gain_with_its_interval() -> None:
    """The landing page's figure (glued by 05-results): one line per data set on the paper's test split,
    the ratios as plain ticks, error bars spanning the 95 % interval."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from pcsm.book.figures import gain_by_ratio_figure

    sweep = pd.DataFrame({
        "dataset": ["mnist"] * 3 + ["fashion-mnist"] * 3 + ["mnist"], "ratio": [1, 10, 100] * 2 + [100],
        "test_set": ["paper split"] * 6 + ["official test"], "mean_pp": [0, 1.4, 13.5, 0, 2.9, 15.6, 99.0],
        "ci95_low_pp": [0, 0.9, 10.6, 0, 2.5, 12.8, 98.0], "ci95_high_pp": [0, 2.0, 16.5, 0, 3.2, 18.3, 100.0]})
    ax = gain_by_ratio_figure(sweep).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["MNIST", "Fashion-MNIST"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "10", "100"]
    assert ax.get_ylim()[1] < 50  # the official-test row is not drawn
    tops = sorted(max(seg[:, 1].max() for seg in bars.get_segments()) for bars in ax.collections
                  if hasattr(bars, "get_segments") and len(bars.get_segments()) == 3)
    assert tops == pytest.approx([16.5, 18.3])


def test_a_figure_pasted_on_another_page_takes_the_alt_text_of_the_cell_that_glued_it() -> None:
    """What pcsm.book.alt_text puts on the landing page's figure (MyST-NB's cross-page paste drops it)."""
    from pcsm.book.alt_text import glued_alt

    path = PLAN["05-results"].path
    cell = next(c for c in nbformat.read(path, as_version=4).cells
                if c.cell_type == "code" and 'glue_figure("landing_gain_figure"' in c.source)
    assert glued_alt(path, "landing_gain_figure") == cell.metadata["mystnb"]["image"]["alt"]
    assert glued_alt(path, "no_such_key") is None
