"""The MNIST chapter's experiment: ``plan_runs`` validates the notebook's parameters into a run plan,
``train_and_evaluate`` trains the three methods per data set, imbalance setting and seed (each an
independent run, dispatched through joblib to worker processes, serially on a GPU), and
``table2_tables`` / ``sweep_runs`` / ``save_by_dataset`` shape and write results. The data sets come
from :mod:`pcsm.experiments.mnist.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from pcsm.core._checks import check_choice, check_positive_int, check_seeds
from pcsm.core.models import LeNet
from pcsm.core.training import resolve_device, set_threads
from pcsm.experiments.classification import (
    average_accuracy,
    evaluate_run,
    gains,
    join_paper_numbers,
    sgd_factory,
    summarise,
)
from pcsm.experiments.config import Chapter, ChapterConfig, Metric
from pcsm.experiments.imbalance import PROTOCOLS, long_tail_sizes, step_caps
from pcsm.experiments.mnist.data import (PAPER_TEST, PAPER_TRAIN, Data, check_datasets, paper_splits,
                                         split_class_counts)
from pcsm.experiments.parallel import jobs_from_env, map_runs
from pcsm.experiments.results import save_table

# The minibatch of every LeNet run (the authors').
BATCH_SIZE = 64
# Table 2's settings: the step profile at ratio 1 ("balanced") and 10 ("imbalanced").
PAPER_SPLITS = {1: "balanced", 10: "imbalanced"}
RESULT_PREFIX = {"mnist": "mnist", "fashion-mnist": "fashion"}


@dataclass(frozen=True)
class RunPlan:
    """The checked parameters of the MNIST page and the (protocol, ratio) settings it trains."""

    datasets: list[str]
    settings: list[tuple[str, Any]]
    protocol: str
    ratios: list[Any]
    n_max: int
    test_n_max: int
    epochs: int
    optimizer: Callable[[Any], torch.optim.Optimizer]
    seeds: list[int]
    device: torch.device
    n_jobs: int = 1


@dataclass(frozen=True)
class Run:
    """One independent run of the page: a data set, an imbalance setting and a seed."""

    dataset: str
    protocol: str
    ratio: Any
    seed: int

    def __str__(self) -> str:
        return f"{self.dataset} {self.protocol} r={self.ratio} seed {self.seed}"


# The parameters that make up the authors' MNIST protocol, and how the page names them.
PROTOCOL_LABELS = {"n_max": "largest training class", "test_n_max": "largest test class", "epochs": "epochs",
                   "lr": "SGD learning rate", "momentum": "SGD momentum"}
PAPER_COMMAND = "pcsm run 03-mnist --profile paper"


def protocol_note(n_seeds: int, authors: Mapping[str, Any], **parameters: Any) -> str:
    """A sentence for the page saying whether ``parameters`` (the keys of ``PROTOCOL_LABELS``) are the
    authors' protocol ``authors`` (the chapter's paper profile), and naming each value that differs."""
    if set(parameters) != set(PROTOCOL_LABELS):
        raise ValueError(f"parameters: expected {sorted(PROTOCOL_LABELS)}, got {sorted(parameters)}")
    missing = sorted(set(PROTOCOL_LABELS) - set(authors))
    if missing:
        raise ValueError(f"authors: the paper profile lacks {missing}")
    differ = [f"{label} {parameters[name]} instead of {authors[name]}"
              for name, label in PROTOCOL_LABELS.items() if parameters[name] != authors[name]]
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if not differ:
        return f"This page ran the authors' protocol exactly, over {seeds}."
    return (f"This page ran a reduced protocol over {seeds} so that it runs in minutes on a CPU ("
            + "; ".join(differ) + f"); the paper profile ({PAPER_COMMAND}) restores the authors' protocol.")


def imbalance_settings(protocol: str, ratios: Sequence[Any]) -> list[tuple[str, Any]]:
    """Table 2's step settings, then the sweep's (``protocol``, ratio) settings not among them."""
    paper = [("step", ratio) for ratio in PAPER_SPLITS]
    return paper + [(protocol, ratio) for ratio in ratios if (protocol, ratio) not in paper]


def check_ratios(ratios: object) -> list[Any]:
    """Require a non-empty list of imbalance ratios (each checked by the profiles)."""
    if isinstance(ratios, str) or not isinstance(ratios, (list, tuple)) or not ratios:
        raise ValueError(f"ratios: expected a non-empty list, got {ratios!r}")
    return list(ratios)


def plan_runs(
    datasets: object,
    protocol: str,
    ratios: object,
    n_max: int,
    test_n_max: int,
    official_test_size: int,
    epochs: int,
    lr: float,
    momentum: float,
    seeds: object,
    device: str,
    n_jobs: int = 0,
) -> RunPlan:
    """Check the MNIST page's parameters (a ValueError names the bad one) before any training;
    ``n_jobs`` as in ``resolve_jobs``."""
    names = check_datasets(datasets)
    check_choice(protocol, "protocol", PROTOCOLS)
    ratios = check_ratios(ratios)
    for name, value in (("n_max", n_max), ("test_n_max", test_n_max),
                        ("official_test_size", official_test_size), ("epochs", epochs)):
        check_positive_int(value, name)
    settings = imbalance_settings(protocol, ratios)
    for setting_protocol, ratio in settings:  # a bad ratio, n_max or test_n_max fails here
        for largest in (n_max, test_n_max):
            step_caps(largest, ratio) if setting_protocol == "step" else long_tail_sizes(largest, ratio)
    optimizer = sgd_factory(lr, momentum)
    torch_device = resolve_device(device)
    seeds = check_seeds(seeds)
    n_runs = len(names) * len(seeds) * len(settings)
    return RunPlan(names, settings, protocol, ratios, n_max, test_n_max, epochs, optimizer,
                   seeds, torch_device, resolve_jobs(n_jobs, torch_device, n_runs))


@dataclass(frozen=True)
class MNISTConfig(ChapterConfig):
    """The parameters of chapter 03 (the defaults: a reduced protocol, minutes on a CPU), checked when
    the record is built by :func:`plan_runs`: a ``ValueError`` names the first bad one."""

    PROFILES = {
        "smoke": {"ratios": [1, 10], "n_max": 60, "test_n_max": 60, "official_test_size": 500, "epochs": 1,
                  "seeds": [0]},
        # the authors' protocol: LeNet, SGD lr 0.01 momentum 0.5, 8 epochs, classes capped at 3000 (odd)
        # and 300 (even) images; 5 seeds for the paired per-seed gains
        "paper": {"n_max": 3000, "epochs": 8, "lr": 0.01, "momentum": 0.5, "seeds": [0, 1, 2, 3, 4]},
    }

    datasets: Sequence[str] = ("mnist", "fashion-mnist")  # must include "mnist" (Table 2)
    protocol: str = "step"  # the ratio sweep's imbalance profile: "step" or "long-tail"
    ratios: Sequence[Any] = (1, 10, 100)  # largest class / smallest class; 1 and 10 are Table 2's
    n_max: int = 500  # the largest training class (the paper: 3000)
    test_n_max: int = 3000  # the largest class of the paper's test split
    official_test_size: int = 10000  # images of the official test set evaluated
    epochs: int = 2  # the paper: 8
    lr: float = 0.05  # SGD learning rate (the paper: 0.01)
    momentum: float = 0.9  # SGD momentum (the paper: 0.5)
    seeds: Sequence[int] = (0, 1, 2)
    device: str = "auto"  # "auto" (the GPU when present), "cpu" or "cuda"
    n_jobs: int = 0  # worker processes; 0: PCSM_JOBS (pcsm.experiments.parallel.jobs_from_env)

    def __post_init__(self) -> None:
        self.plan()
        for name in ("datasets", "ratios", "seeds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def plan(self) -> RunPlan:
        """The checked run plan of :func:`plan_runs`."""
        return plan_runs(**{name: getattr(self, name) for name in self.fields()})




def resolve_jobs(n_jobs: int, device: torch.device, n_runs: int | None = None) -> int:
    """Worker processes for the independent runs: :func:`~pcsm.experiments.parallel.jobs_from_env`
    (``n_jobs`` >= 1, or 0 for ``PCSM_JOBS``, at most ``n_runs`` and the cores); always 1 on a GPU, where
    the runs go one after another on the device."""
    jobs = jobs_from_env(n_jobs, n_runs)
    return 1 if device.type == "cuda" else jobs


PER_CLASS_COLUMNS = ["dataset", "protocol", "ratio", "seed", "n_train", "test_set", "method", "class",
                     "n_test", "accuracy_pct"]


def plan_tasks(plan: RunPlan) -> list[Run]:
    """Every run of ``plan``, data set by data set, seed by seed, setting by setting."""
    return [Run(name, protocol, ratio, seed) for name in plan.datasets for seed in plan.seeds
            for protocol, ratio in plan.settings]


def train_run(run: Run, arrays: tuple[np.ndarray, ...], plan: RunPlan, batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """Train and evaluate one run on one torch thread (the same in a worker process and in this one):
    ``arrays`` are the data set's (train images, train labels, official x, official y) as numpy arrays,
    which joblib hands to worker processes as shared memory maps. Returns the run's per-class rows."""
    set_threads(1)
    images, labels, official_x, official_y = (torch.from_numpy(np.array(a)) for a in arrays)
    train, paper_test = paper_splits(images, labels, run.dataset, run.protocol, run.ratio, plan.n_max,
                                     plan.test_n_max, seed=run.seed)
    rows = evaluate_run(
        LeNet, train, {"paper split": paper_test, "official test": (official_x, official_y)}, n_classes=10,
        seed=run.seed, optimizer=plan.optimizer, epochs=plan.epochs, batch_size=batch_size,
        device=plan.device,
    )
    return rows.assign(dataset=run.dataset, protocol=run.protocol, ratio=run.ratio)


def train_and_evaluate(data: Data, plan: RunPlan, batch_size: int = BATCH_SIZE, scheduler: str | None = None,
                       progress: bool = True) -> pd.DataFrame:
    """Train LeNet for every data set, seed and setting of ``plan`` and return the tidy per-class
    accuracy of the three methods on the paper split and the official test set.

    The runs are independent: :func:`pcsm.experiments.parallel.map_runs` runs them in ``plan.n_jobs``
    worker processes, or on the Dask cluster at ``scheduler`` / ``PCSM_SCHEDULER``, with a progress bar
    on stderr. Each run seeds itself, so the table is the same, bit for bit, wherever it runs.
    """
    missing = [name for name in plan.datasets if name not in data]
    if missing:
        raise ValueError(f"data: no arrays for {missing}; load them with load_experiment_data")
    arrays = {name: tuple(t.numpy() for t in tensors) for name, tensors in data.items()}
    runs = plan_tasks(plan)
    results = map_runs(train_run, [(run, arrays[run.dataset], plan, batch_size) for run in runs],
                       n_jobs=plan.n_jobs, scheduler=scheduler, desc="LeNet runs", progress=progress)
    return pd.concat(results, ignore_index=True)[PER_CLASS_COLUMNS]


def save_by_dataset(table: pd.DataFrame, suffix: str = "") -> None:
    """Write each data set's rows of ``table`` as ``results/<prefix><suffix>.csv`` (prefix "mnist" or
    "fashion")."""
    for name, rows in table.groupby("dataset", sort=False):
        save_table(rows, f"{RESULT_PREFIX[name]}{suffix}")


def table2_tables(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 (mean, std and the paper's numbers per dataset, split, test_set, method) and the per-seed
    gains over softmax, from the average accuracies ``runs`` of ``average_accuracy``."""
    paper_runs = runs[(runs["protocol"] == "step") & runs["ratio"].isin(list(PAPER_SPLITS))]
    paper_runs = paper_runs.assign(split=paper_runs["ratio"].map(PAPER_SPLITS))
    table2 = join_paper_numbers(summarise(paper_runs, ["dataset", "split"]))
    return table2, gains(paper_runs, ["dataset", "split"])


def sweep_runs(runs: pd.DataFrame, plan: RunPlan) -> pd.DataFrame:
    """The rows of ``runs`` in the ratio sweep: ``plan.protocol`` at ``plan.ratios``."""
    return runs[(runs["protocol"] == plan.protocol) & runs["ratio"].isin(plan.ratios)]


def experiment_runs(per_class: pd.DataFrame) -> pd.DataFrame:
    """Average per-class accuracy of each run (dataset, protocol, ratio, seed, test_set, method)."""
    return average_accuracy(per_class, ["dataset", "protocol", "ratio"])


def _count(n: int) -> str:
    """An integer as the pages write it: thousands separated by a space (40 000)."""
    return f"{n:,}".replace(",", " ")


def _range(indices: range) -> str:
    return f"{_count(indices.start)}–{_count(indices.stop - 1)}"


def split_description(counts: pd.DataFrame, n_max: int, test_n_max: int) -> str:
    """The protocol's sentences on the paper's splits, from the caps and the measured class sizes
    ``counts`` (:func:`pcsm.experiments.mnist.data.split_class_counts` of MNIST for the page's settings,
    Table 2's step settings at ratios 1 and 10 among them): where the splits come from, each class's
    cap, and the measured imbalance ratio (largest class / smallest class) of every step test split,
    which is lower than the nominal one where the test range holds fewer images than the caps."""
    step = counts[counts["protocol"] == "step"]

    def row(ratio: Any, split: str) -> pd.Series:
        found = step[(step["ratio"] == ratio) & (step["split"] == split)]
        if found.empty:
            raise ValueError(f"counts: no step split '{split}' at ratio {ratio}")
        return found.iloc[0]

    balanced, imbalanced = (ratio for ratio, name in sorted(PAPER_SPLITS.items()))
    caps = {split: step_caps(largest, imbalanced) for split, largest in
            (("train", n_max), ("test", test_n_max))}
    if caps["train"] == caps["test"]:
        capped = (f"the even digits keep their first {_count(caps['train'][0])} examples and the odd digits "
                  f"their first {_count(caps['train'][1])}, in both splits")
    else:
        capped = (f"the even digits keep their first {_count(caps['train'][0])} examples and the odd digits "
                  f"their first {_count(caps['train'][1])} in the training split, and their first "
                  f"{_count(caps['test'][0])} and {_count(caps['test'][1])} in the test split")
    full = (f"{_count(n_max)}" if n_max == test_n_max
            else f"{_count(n_max)} in the training split and {_count(test_n_max)} in the test split")
    text = (f"The authors take both splits from MNIST's training images: indices {_range(PAPER_TRAIN)} for "
            f"training and {_range(PAPER_TEST)} for testing. In the imbalanced setting (nominal ratio "
            f"{imbalanced}) {capped}; in the balanced setting (ratio {balanced}) every digit keeps its "
            f"first {full}.")
    test, train = row(imbalanced, "test"), row(imbalanced, "train")
    classes = [c for c in counts.columns if str(c).startswith("class ")]
    per_class = row(balanced, "test")[classes].astype(int)
    if int(per_class.max()) < test_n_max:
        sizes = (_count(int(per_class.max()))) if per_class.min() == per_class.max() else \
            f"{_count(int(per_class.min()))} to {_count(int(per_class.max()))}"
        text += (f" The test range holds only {sizes} images of each digit, fewer than the cap of "
                 f"{_count(test_n_max)}, so the test split keeps every image of the larger classes: its "
                 f"measured imbalance ratio (largest class / smallest class) is {test.measured_ratio:.1f}, "
                 f"against {train.measured_ratio:.1f} in the training split")
    else:
        text += (f" Measured, the imbalance ratio (largest class / smallest class) of the test split is "
                 f"{test.measured_ratio:.1f}, and {train.measured_ratio:.1f} in the training split")
    others = sorted(r for r in step["ratio"].unique() if r not in PAPER_SPLITS)
    if others:
        text += "; at the sweep's " + ", ".join(
            f"ratio {r} it is {row(r, 'test').measured_ratio:.1f} (training: "
            f"{row(r, 'train').measured_ratio:.1f})" for r in others)
    return text + ". Each ratio has its own test split, a subset of that range, not the official test set."


def training_sentence(epochs: int, lr: float, momentum: float, path: str,
                      batch_size: int = BATCH_SIZE) -> str:
    """The protocol's sentence on how the LeNet was trained: epochs, SGD settings, the minibatch and the
    numeric path that ran (:func:`pcsm.core.training.describe_training_path`)."""
    return (f"The network is LeNet, trained for {epochs} epoch{'s' if epochs != 1 else ''} with SGD "
            f"(learning rate {lr:g}, momentum {momentum:g}, batch {batch_size}) on this book's training "
            f"path: {path}.")


#: The columns of :func:`split_counts` a page shows, and how it names them.
SPLIT_COUNT_COLUMNS = {"dataset": "data set", "protocol": "imbalance", "ratio": "nominal ratio", "split": "split",
                       "images": "images", "smallest": "smallest class", "largest": "largest class",
                       "measured_ratio": "measured ratio (largest / smallest)"}


def split_counts(data: Data, plan: RunPlan) -> pd.DataFrame:
    """The measured class sizes of every data set's paper splits for each setting of ``plan``
    (:func:`pcsm.experiments.mnist.data.split_class_counts`, with the plan's caps), data set first."""
    missing = [name for name in plan.datasets if name not in data]
    if missing:
        raise ValueError(f"data: no arrays for {missing}; load them with load_experiment_data")
    tables = [split_class_counts(data[name][1], plan.settings, plan.n_max, plan.test_n_max).assign(dataset=name)
              for name in plan.datasets]
    table = pd.concat(tables, ignore_index=True)
    return table[["dataset", *[c for c in table.columns if c != "dataset"]]]


CHAPTER = Chapter(
    config=MNISTConfig,
    results=("mnist", "mnist_gains", "mnist_ratio", "mnist_per_class", "fashion", "fashion_gains", "fashion_ratio",
             "fashion_per_class"),
    timeout=10800,
    published="paper",
    # seed 0 on MNIST of Table 2's settings (ratios 1 and 10, always run) and of ratio 100, where
    # PC-softmax's gain (13.5 points) is 5 seed spreads wide; 6 LeNet runs
    validate={"datasets": ["mnist"], "ratios": [10, 100], "seeds": [0]},
    metrics=(
        Metric(table="mnist", keys=("dataset", "split", "test_set", "method"), value="mean_pct", std="std_pct",
               n="n_seeds", k=3.0, floor=0.5,
               reason="one fresh seed's average per-class accuracy within 3 committed seed spreads (training is "
                      "chaotic across CPUs: points, not ulps); tight enough that PC-softmax and softmax rows "
                      "swapped fail"),
        Metric(table="mnist_gains", keys=("dataset", "split", "test_set", "method"), value="mean_pp",
               std="std_pp", n="n_seeds", where={"test_set": ["paper split"]}, k=2.5, floor=0.1,
               reason="one fresh seed's paired gain over softmax on the paper's test split within 2.5 committed "
                      "seed spreads; a lost gain (0) fails: each committed gain exceeds its bound "
                      "(`pcsm mutants --power` says by how many bounds)",
               null=0.0,
               detects="a lost gain at ratio 10 (1.1-1.2 bounds); the clear margin for a lost gain comes from "
                       "mnist_ratio at ratio 100"),
        Metric(table="mnist_gains", keys=("dataset", "split", "test_set", "method"), value="mean_pp",
               std="std_pp", n="n_seeds", where={"test_set": ["official test"]}, k=3.0, floor=0.5,
               reason="the same gains on the official test set spread more: one fresh seed cannot tell a lost "
                      "gain from a low draw there (the bound exceeds the gain), so no null; ratio 100 carries "
                      "that"),
        Metric(table="mnist_ratio", keys=("dataset", "ratio", "test_set", "method"), value="mean_pct",
               std="std_pct", n="n_seeds", where={"ratio": [100]}, k=3.0, floor=0.5,
               reason="one fresh seed at ratio 100 within 3 committed seed spreads (softmax's spread is 2.6 "
                      "points there)",
               detects="PC-softmax trained as softmax (-13.5 points, 7 bounds), the post-hoc correction's sign "
                       "flipped (below softmax's 81.2, 4.8 bounds), the imbalanced split built balanced "
                       "(softmax at 98.0, 2.0 bounds)"),
        Metric(table="fashion", keys=("dataset", "split", "test_set", "method"), value="mean_pct",
               std="std_pct", n="n_seeds", k=3.0, floor=1.5,
               reason="as for MNIST; Fashion-MNIST's seeds spread more (about 2 points)"),
        Metric(table="fashion_gains", keys=("dataset", "split", "test_set", "method"), value="mean_pp",
               std="std_pp", n="n_seeds", k=3.0, floor=1.0,
               reason="paired gains, compared when a subset runs Fashion-MNIST (the declared subset runs MNIST "
                      "only); Fashion-MNIST's seeds spread more"),
    ),
)
