"""The imbalance sweep of the MNIST chapter as the pages show it: the paired gain of PC-softmax over
softmax per data set, imbalance ratio and test set (chapter 03 computes it from its runs, chapter 05 from
the committed tables), a table for the page and the names its prose glues."""

from __future__ import annotations

import pandas as pd

from pcsm.book.figures import DATASET_NAMES, TEST_SET_NAMES
from pcsm.experiments.classification import TEST_SET_KEYS, gains, summarise
from pcsm.experiments.formatting import number_text
from pcsm.experiments.mnist.experiment import RESULT_PREFIX


def ratio_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """The imbalance sweep, one row per (dataset, protocol, ratio, test_set): mean average per-class
    accuracy (%) of softmax and PC-softmax over seeds, and the paired per-seed gain of PC-softmax
    over softmax, mean_pp with its 95 % Student-t interval (``classification.gains``)."""
    keys = ["dataset", "protocol", "ratio", "test_set"]
    means = summarise(runs, keys[:-1]).pivot_table(index=keys, columns="method", values="mean_pct")
    gain = gains(runs, keys[:-1])
    gain = gain[gain.method == "pc-softmax"].set_index(keys)
    means = means.rename(columns={"softmax": "softmax_pct", "pc-softmax": "pc_pct"})
    table = gain[["mean_pp", "ci95_low_pp", "ci95_high_pp", "n_seeds"]].join(means[["softmax_pct", "pc_pct"]])
    return table.reset_index()  # in the runs' order (gains groups without sorting)


def ratio_display(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep as text for a page: accuracies to one decimal, the gain with its 95 % interval."""
    return pd.DataFrame({
        "data set": sweep.dataset, "ratio": sweep.ratio, "test set": sweep.test_set,
        "softmax (%)": [number_text(v, 1) for v in sweep.softmax_pct],
        "PC-softmax (%)": [number_text(v, 1) for v in sweep.pc_pct],
        "gain (points)": [number_text(v, signed=True) for v in sweep.mean_pp],
        "95 % CI": [f"{number_text(lo, signed=True)} to {number_text(hi, signed=True)}"
                    for lo, hi in zip(sweep.ci95_low_pp, sweep.ci95_high_pp)],
        "seeds": sweep.n_seeds,
    })


def ratio_glue_values(sweep: pd.DataFrame) -> dict[str, float | str]:
    """Glue names for the sweep's prose: ``ratio<r>_<prefix>_<test>_<softmax|pc|gain|ci95_low|ci95_high>``
    (prefix "mnist" or "fashion", test "split" or "official"), the same at the largest ratio swept as
    ``ratiomax_...`` with ``ratio_max`` its value, and ``ratio_largest``, where the largest gain lies."""
    values: dict[str, float | str] = {"ratio_max": int(sweep.ratio.max())}
    for row in sweep.itertuples(index=False):
        names = [f"ratio{row.ratio}"] + (["ratiomax"] if row.ratio == values["ratio_max"] else [])
        for name in (f"{n}_{RESULT_PREFIX[row.dataset]}_{TEST_SET_KEYS[row.test_set]}" for n in names):
            values |= {f"{name}_softmax": row.softmax_pct, f"{name}_pc": row.pc_pct, f"{name}_gain": row.mean_pp,
                       f"{name}_ci95_low": row.ci95_low_pp, f"{name}_ci95_high": row.ci95_high_pp}
    top = sweep.loc[sweep.mean_pp.idxmax()]
    values["ratio_largest"] = (f"ratio {top.ratio} on {DATASET_NAMES[top.dataset]}, scored on "
                               f"the {TEST_SET_NAMES[top.test_set].removeprefix('the ')}")
    return values
