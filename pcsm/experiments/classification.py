"""Softmax vs PC-softmax classifiers under class imbalance: training, evaluation, aggregation.

Three methods share one experiment:

* ``softmax``: trained with softmax cross-entropy, predicts argmax_y f_y(x);
* ``pc-softmax``: trained with PC-softmax cross-entropy under the training prior P(y), predicts
  argmax_y f_y(x) (its logits estimate log p(x|y) up to a constant);
* ``post-hoc``: the softmax network, corrected at test time, predicts argmax_y f_y(x) - log P(y).

The metric is the average per-class accuracy (mean per-class recall), in percent. The functions take
tensors and factories, so any data set and network fit (LeNet on MNIST, a linear head on features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from pcsm.core.estimators import label_frequencies
from pcsm.core.losses import posthoc_corrected_logits
from pcsm.core.metrics import per_class_accuracy
from pcsm.core.training import predict_logits, seed_everything, train_classifier
from pcsm.experiments.formatting import mean_std_text, number_text
from pcsm.experiments.paper import TABLE_2_MNIST

METHODS = ("softmax", "pc-softmax", "post-hoc")
# Short names of test sets and methods in glue names.
TEST_SET_KEYS = {"paper split": "split", "official test": "official"}
METHOD_KEYS = {"softmax": "softmax", "pc-softmax": "pc", "post-hoc": "posthoc"}
Split = tuple[torch.Tensor, torch.Tensor]



@dataclass
class TrainedMethods:
    """The training prior and the two trained networks; with a uniform prior PC-softmax's loss is
    softmax's plus the constant log M, so the two trainings coincide and one network serves both."""

    prior: np.ndarray
    softmax: nn.Module
    pc_softmax: nn.Module


def is_uniform(prior: np.ndarray) -> bool:
    """Whether every class has the same prior probability."""
    return bool(np.all(prior == prior[0]))


def train_methods(
    model_factory: Callable[[], nn.Module],
    train: Split,
    n_classes: int,
    *,
    seed: int = 0,
    progress: str | bool = False,
    **train_kwargs: Any,
) -> TrainedMethods:
    """Train a softmax and a PC-softmax network from the same seeded initialisation and batch order.

    ``train_kwargs`` go to ``train_classifier`` (optimizer, epochs, batch_size, device, ...).
    """
    x, y = train
    prior = label_frequencies(y, n_classes)
    models = {}
    for loss in ("softmax", "pc-softmax"):
        if loss == "pc-softmax" and is_uniform(prior):
            models[loss] = models["softmax"]
            continue
        seed_everything(seed)
        model = model_factory()
        desc = f"{progress} {loss}" if isinstance(progress, str) else progress
        train_classifier(
            model, x, y, loss=loss, prior=prior if loss == "pc-softmax" else None,
            seed=seed, progress=desc, **train_kwargs,
        )
        models[loss] = model
    return TrainedMethods(prior=prior, softmax=models["softmax"], pc_softmax=models["pc-softmax"])


def predictions(trained: TrainedMethods, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Predicted labels of each method on ``x``."""
    softmax_logits = predict_logits(trained.softmax, x)
    shared = trained.pc_softmax is trained.softmax
    pc_logits = softmax_logits if shared else predict_logits(trained.pc_softmax, x)
    return {
        "softmax": softmax_logits.argmax(1).numpy(),
        "pc-softmax": pc_logits.argmax(1).numpy(),
        "post-hoc": posthoc_corrected_logits(softmax_logits, trained.prior).argmax(1).numpy(),
    }


def per_class_table(trained: TrainedMethods, tests: Mapping[str, Split], n_classes: int) -> pd.DataFrame:
    """Tidy per-class accuracy: one row per (test_set, method, class) with n_test and accuracy_pct."""
    rows = []
    for test_set, (x, y) in tests.items():
        labels = y.cpu().numpy()
        counts = np.bincount(labels, minlength=n_classes)
        for method, predicted in predictions(trained, x).items():
            accuracy = per_class_accuracy(labels, predicted, n_classes)
            rows += [
                {"test_set": test_set, "method": method, "class": k, "n_test": int(counts[k]),
                 "accuracy_pct": 100 * accuracy[k]}
                for k in range(n_classes) if counts[k] > 0
            ]
    return pd.DataFrame(rows)


def evaluate_run(
    model_factory: Callable[[], nn.Module],
    train: Split,
    tests: Mapping[str, Split],
    n_classes: int,
    *,
    seed: int = 0,
    progress: str | bool = False,
    **train_kwargs: Any,
) -> pd.DataFrame:
    """Train the networks for one seed and return the per-class table of the three methods, with the
    training size n_train and the seed."""
    trained = train_methods(model_factory, train, n_classes, seed=seed, progress=progress, **train_kwargs)
    table = per_class_table(trained, tests, n_classes)
    return table.assign(seed=seed, n_train=len(train[1]))


def average_accuracy(per_class: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Average per-class accuracy (%) of each run: the mean of ``accuracy_pct`` over classes per
    ``keys`` + (seed, test_set, method)."""
    by = [*keys, "seed", "test_set", "method"]
    return per_class.groupby(by, sort=False, as_index=False)["accuracy_pct"].mean()


def summarise(averages: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1) and number of seeds of ``accuracy_pct`` per ``keys`` +
    (test_set, method)."""
    by = [*keys, "test_set", "method"]
    grouped = averages.groupby(by, sort=False)["accuracy_pct"]
    return grouped.agg(mean_pct="mean", std_pct="std", n_seeds="count").reset_index()


def student_ci95(mean: pd.Series, std: pd.Series, n: pd.Series) -> tuple[pd.Series, pd.Series]:
    """95 % confidence interval of a mean over n paired seeds (Student t):
    mean ± t_{0.975, n-1} · std / sqrt(n); NaN for n < 2."""
    n = n.astype(float)
    half = pd.Series(stats.t.ppf(0.975, n - 1), index=n.index) * std / np.sqrt(n)
    half[n < 2] = np.nan
    return mean - half, mean + half


def gains(averages: pd.DataFrame, keys: Sequence[str], baseline: str = "softmax") -> pd.DataFrame:
    """Per-seed gain of each method over ``baseline`` (percentage points), paired on the same seed and
    split, then mean, std, min, max over seeds and the 95 % Student-t interval of the mean gain
    (``ci95_low_pp``, ``ci95_high_pp``) per ``keys`` + (test_set, method)."""
    by = [*keys, "seed", "test_set"]
    base = averages[averages["method"] == baseline].set_index(by)["accuracy_pct"]
    others = averages[averages["method"] != baseline].copy()
    others["gain_pp"] = others["accuracy_pct"].to_numpy() - base.loc[
        pd.MultiIndex.from_frame(others[by])
    ].to_numpy()
    grouped = others.groupby([*keys, "test_set", "method"], sort=False)["gain_pp"]
    table = grouped.agg(mean_pp="mean", std_pp="std", min_pp="min", max_pp="max", n_seeds="count")
    table = table.reset_index()
    low, high = student_ci95(table["mean_pp"], table["std_pp"], table["n_seeds"])
    return table.assign(ci95_low_pp=low, ci95_high_pp=high)


def join_paper_numbers(summary: pd.DataFrame, paper: pd.DataFrame = TABLE_2_MNIST) -> pd.DataFrame:
    """``summary`` rows joined with the paper's numbers (on the paper's columns other than
    ``paper_pct``), with ``diff_pp`` = ours - paper; NaN where the paper has no number. The one place
    ours meets the paper's MNIST numbers: the chapter and the summary both read it."""
    keys = [c for c in paper.columns if c != "paper_pct"]
    table = summary.merge(paper, on=keys, how="left")
    return table.assign(diff_pp=table["mean_pct"] - table["paper_pct"])


def sgd_factory(lr: float, momentum: float) -> Callable[[Any], torch.optim.Optimizer]:
    """Optimiser factory for ``train_classifier``: SGD with learning rate ``lr`` > 0 and momentum in
    [0, 1) (the authors' MNIST code: lr 0.01, momentum 0.5)."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr: must be a positive number, got {lr!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum: must be a number in [0, 1), got {momentum!r}")
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum)


def paper_gain(
    method: str = "pc-softmax", split: str = "imbalanced", paper: pd.DataFrame = TABLE_2_MNIST
) -> float:
    """The paper's gain of ``method`` over softmax on MNIST's ``split`` (percentage points)."""
    rows = paper[(paper["dataset"] == "mnist") & (paper["split"] == split)].set_index("method")["paper_pct"]
    return float(rows[method] - rows["softmax"])


def select_value(table: pd.DataFrame, column: str, **keys: str) -> float:
    """The single value of ``column`` in the row of ``table`` matching every ``keys`` column."""
    mask = np.ones(len(table), dtype=bool)
    for key, value in keys.items():
        mask &= (table[key] == value).to_numpy()
    if mask.sum() != 1:
        raise ValueError(f"{column}: expected one row for {keys}, found {int(mask.sum())}")
    return float(table.loc[mask, column].iloc[0])


def table2_display(table2: pd.DataFrame, dataset: str = "mnist") -> pd.DataFrame:
    """Compact Table 2 of ``dataset`` for the page: one row per (split, method); columns ours on the
    paper split (mean ± std, %), the paper's number and ours − paper (only where the paper has
    numbers), and ours on the official test set. ``table2`` is ``join_paper_numbers``'s output."""
    rows = table2[table2["dataset"] == dataset]
    if rows.empty:
        raise ValueError(f"dataset: no rows for {dataset!r}")
    ours = rows.assign(text=[mean_std_text(m, s) for m, s in zip(rows["mean_pct"], rows["std_pct"])])
    keys = ["split", "method"]
    split_rows = ours[ours["test_set"] == "paper split"].set_index(keys)
    official = ours[ours["test_set"] == "official test"].set_index(keys)["text"]
    display = pd.DataFrame({"ours, paper split (%)": split_rows["text"]})
    if split_rows["paper_pct"].notna().any():
        blank = split_rows["paper_pct"].isna()  # no paper number: a blank cell (the page shows "—")
        display["paper (%)"] = split_rows["paper_pct"].map(number_text).mask(blank, "")
        difference = split_rows["diff_pp"].map(lambda d: number_text(d, signed=True))
        display["ours − paper (pp)"] = difference.mask(blank, "")
    display["ours, official test (%)"] = official.reindex(display.index).fillna("")
    return display


def gains_display(table2_gains: pd.DataFrame, split: str = "imbalanced") -> pd.DataFrame:
    """Compact gains over softmax on ``split``: one row per (dataset, test_set, method) with the
    per-seed gain as "mean ± std", its 95 % interval "[low, high]" and "min .. max" text (percentage
    points), and the number of seeds."""
    rows = table2_gains[table2_gains["split"] == split]
    if rows.empty:
        raise ValueError(f"split: no gains for {split!r}")
    index = pd.MultiIndex.from_frame(rows[["dataset", "test_set", "method"]])
    mean_std = [mean_std_text(m, s, signed=True) for m, s in zip(rows["mean_pp"], rows["std_pp"])]
    ci = ["" if pd.isna(lo) else f"[{number_text(lo, signed=True)}, {number_text(hi, signed=True)}]"
          for lo, hi in zip(rows["ci95_low_pp"], rows["ci95_high_pp"])]
    span = [f"{number_text(lo, signed=True)} .. {number_text(hi, signed=True)}"
            for lo, hi in zip(rows["min_pp"], rows["max_pp"])]
    return pd.DataFrame({"gain, mean ± std (pp)": mean_std, "95 % CI (pp)": ci, "min .. max (pp)": span,
                         "seeds": rows["n_seeds"].to_numpy()}, index=index)


def table2_glue_values(
    table2: pd.DataFrame, table2_gains: pd.DataFrame, dataset: str = "mnist", split: str = "imbalanced"
) -> dict[str, float]:
    """The numbers the page's prose cites, by glue name: the paper's ``paper_acc_<method>`` (%) and
    ``paper_gain`` (pp); ours ``acc_<method>_<test>`` and ``acc_<method>_<test>_std`` (mean and std, %)
    and ``gain_<method>_<test>_<mean|std|min|max|ci95_low|ci95_high>`` (pp), <test> "split" (paper
    split) or "official"; ``n_seeds_gain``, the seeds behind the gains."""
    paper = TABLE_2_MNIST[TABLE_2_MNIST["split"] == split]
    values = {f"paper_acc_{METHOD_KEYS[m]}": select_value(paper, "paper_pct", method=m)
              for m in paper["method"]}
    values["paper_gain"] = paper_gain(split=split)
    for test_set, test_key in TEST_SET_KEYS.items():
        keys = {"dataset": dataset, "split": split, "test_set": test_set}
        for method in ("softmax", "pc-softmax"):
            name = f"acc_{METHOD_KEYS[method]}_{test_key}"
            values[name] = select_value(table2, "mean_pct", method=method, **keys)
            values[f"{name}_std"] = select_value(table2, "std_pct", method=method, **keys)
        for method in ("pc-softmax", "post-hoc"):
            for stat in ("mean", "std", "min", "max", "ci95_low", "ci95_high"):
                name = f"gain_{METHOD_KEYS[method]}_{test_key}_{stat}"
                values[name] = select_value(table2_gains, f"{stat}_pp", method=method, **keys)
    values["n_seeds_gain"] = select_value(table2_gains, "n_seeds", method="pc-softmax", dataset=dataset,
                                          split=split, test_set="paper split")
    return values
