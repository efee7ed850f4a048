"""Frozen-backbone features and the linear probe trained on them with softmax or PC-softmax.

Pooled features are extracted once per image list and cached on disk (a ``.pt`` file named by a hash
of the image list, the backbone, its weights and the input size); only a linear layer is trained.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torchvision
from torch import nn
from tqdm import tqdm

from pcsm.core._checks import check_choice, check_positive_int
from pcsm.core.metrics import average_per_class_accuracy
from pcsm.core.training import default_device
from pcsm.experiments.classification import METHODS  # noqa: F401  (the page plots them as features.METHODS)
from pcsm.experiments.classification import predictions, train_methods
from pcsm.experiments.cub.data import Split
from pcsm.experiments.results import atomic_write, check_folder

BACKBONES = ("inception_v3", "resnet50")
WEIGHTS = ("imagenet", "random")
MIN_INPUT_SIZE = {"inception_v3": 75, "resnet50": 32}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CALIBRATION_BATCH = 16
# the authors' linear-probe optimiser: SGD with momentum, lr x lr_decay every lr_step_epochs, batches of 64
PROBE_OPTIMISER = {"lr": 0.01, "momentum": 0.9, "weight_decay": 4e-5, "lr_step_epochs": 10, "lr_decay": 0.1,
                   "batch_size": 64}
GPU_SECONDS_PER_IMAGE = 0.01  # an estimate, not measured: JPEG decoding and resizing on one CPU core dominate


def check_backbone(backbone: str, weights: str, input_size: int) -> None:
    """Validate the backbone name, its weights ("imagenet" or "random") and the input size."""
    check_choice(backbone, "backbone", BACKBONES)
    check_choice(weights, "backbone_weights", WEIGHTS)
    check_positive_int(input_size, "input_size", MIN_INPUT_SIZE[backbone])


def weights_identity(backbone: str, weights: str, seed: int = 0) -> str:
    """A readable name of the backbone's weights, recorded in the results and the cache key."""
    if weights == "random":
        return f"random init (seed {seed}, BatchNorm calibrated on noise)"
    return str(_imagenet_weights(backbone))


def _imagenet_weights(backbone: str) -> Any:
    return {
        "inception_v3": torchvision.models.Inception_V3_Weights.IMAGENET1K_V1,
        "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V2,
    }[backbone]


def build_backbone(backbone: str, weights: str, input_size: int, seed: int = 0) -> nn.Module:
    """The backbone without its classifier (``fc`` = identity), in eval mode, outputs pooled features.

    ``"imagenet"`` downloads torchvision's ImageNet weights (needs a network the first time).
    ``"random"`` is a seeded random initialisation whose BatchNorm statistics are set from one batch
    of seeded Gaussian noise at ``input_size``, so the activations stay of order one through the depth.
    """
    check_backbone(backbone, weights, input_size)
    constructor = getattr(torchvision.models, backbone)
    if weights == "imagenet":
        try:
            model = constructor(weights=_imagenet_weights(backbone))
        except OSError as error:  # no network and nothing in torch's cache
            raise RuntimeError(
                f"backbone_weights: cannot obtain torchvision's ImageNet weights for {backbone} ({error}); "
                "connect to a network once, or use backbone_weights='random'"
            ) from error
    else:
        torch.manual_seed(seed)
        extra = {"aux_logits": False, "init_weights": True} if backbone == "inception_v3" else {}
        model = constructor(weights=None, **extra)
    model.fc = nn.Identity()
    if weights == "random":
        _calibrate_batchnorm(model, input_size, seed)
    return model.eval()


@torch.no_grad()
def _calibrate_batchnorm(model: nn.Module, input_size: int, seed: int) -> None:
    """Set every BatchNorm's running mean/variance to the statistics of one seeded noise batch."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(CALIBRATION_BATCH, 3, input_size, input_size, generator=generator)
    model.train()
    model(noise)
    model.eval()


def image_transform(input_size: int) -> Any:
    """Resize the shorter side, centre-crop to ``input_size``, scale with ImageNet mean and std."""
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize(input_size),
            transforms.CenterCrop(input_size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def cache_key(paths: Sequence[str], backbone: str, weights: str, input_size: int, seed: int) -> str:
    """Hash of what the features depend on: the image list, backbone, weights and input size."""
    payload = json.dumps([list(paths), backbone, weights_identity(backbone, weights, seed), input_size])
    return hashlib.sha256(payload.encode()).hexdigest()


def cache_path(
    cache_dir: Path, paths: Sequence[str], backbone: str, weights: str, input_size: int, seed: int = 0
) -> Path:
    """The file ``extract_features`` caches these features in: ``cache_dir/<backbone>-<hash>.pt``."""
    return Path(cache_dir) / f"{backbone}-{cache_key(paths, backbone, weights, input_size, seed)[:20]}.pt"


def cache_problem(cached: object, key: str, n_rows: int) -> str | None:
    """What is wrong with a loaded cache (None when nothing): it must be a dict whose ``key`` is
    ``key`` and whose ``features`` are a finite float32 tensor of shape (``n_rows``, d), d >= 1."""
    if not isinstance(cached, dict) or set(cached) != {"key", "features"}:
        return f"expected a dict with 'key' and 'features', found {type(cached).__name__}"
    if cached["key"] != key:
        return "its key does not match the image list, backbone, weights and input size"
    x = cached["features"]
    if not isinstance(x, torch.Tensor):
        return f"features are a {type(x).__name__}, not a tensor"
    if x.dtype != torch.float32 or x.ndim != 2 or x.shape[0] != n_rows or x.shape[1] < 1:
        return f"features are {x.dtype} of shape {tuple(x.shape)}, expected float32 of shape ({n_rows}, d)"
    if not torch.isfinite(x).all():
        return "features hold NaN or infinite values"
    return None


def load_cached_features(cache_file: Path, key: str, n_rows: int) -> torch.Tensor | None:
    """The cached features of ``cache_file`` when it exists and passes ``cache_problem``'s checks;
    otherwise None, with a warning naming the file when it exists but is unreadable or wrong."""
    if not cache_file.exists():
        return None
    try:
        cached = torch.load(cache_file, weights_only=True)
        problem = cache_problem(cached, key, n_rows)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on bad files
        problem = f"unreadable ({type(error).__name__})"
    if problem is None:
        return cached["features"]
    warnings.warn(f"features cache {cache_file}: {problem}; rebuilding it", stacklevel=3)
    return None


def extract_features(
    image_dir: Path,
    paths: Sequence[str],
    *,
    backbone: str = "inception_v3",
    weights: str = "imagenet",
    input_size: int = 299,
    seed: int = 0,
    cache_dir: Path,
    batch_size: int = 32,
    device: torch.device | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Pooled features (n, d) of the images ``image_dir / path``, from the cache when present.

    The cache file ``cache_dir/<backbone>-<hash>.pt`` is written atomically after a complete pass; a
    cache that fails ``load_cached_features``'s checks is rebuilt, with a warning naming it.
    """
    check_backbone(backbone, weights, input_size)
    check_positive_int(batch_size, "batch_size")
    check_folder(cache_dir, "cache_dir")
    key = cache_key(paths, backbone, weights, input_size, seed)
    cache_file = cache_path(cache_dir, paths, backbone, weights, input_size, seed)
    cached = load_cached_features(cache_file, key, len(paths))
    if cached is not None:
        return cached
    from PIL import Image

    device = device or default_device()
    model = build_backbone(backbone, weights, input_size, seed).to(device)
    transform = image_transform(input_size)
    batches = []
    with torch.no_grad():
        starts = range(0, len(paths), batch_size)
        for start in tqdm(starts, desc=f"{backbone} features", disable=not progress, file=sys.stderr, leave=False):
            images = []
            for path in paths[start : start + batch_size]:
                with Image.open(Path(image_dir) / path) as image:
                    images.append(transform(image.convert("RGB")))
            batches.append(model(torch.stack(images).to(device)).float().cpu())
    features = torch.cat(batches)
    atomic_write(cache_file, lambda handle: torch.save({"key": key, "features": features}, handle))
    return features


def seconds_per_image(backbone: str, input_size: int, n_images: int, seed: int = 0) -> float:
    """Forward time per image of a randomly initialised backbone on random inputs, in one batch on the
    CPU (threads as set by ``set_threads``); excludes JPEG decoding and resizing."""
    import time

    check_positive_int(n_images, "n_images")
    model = build_backbone(backbone, "random", input_size, seed)
    batch = torch.randn(n_images, 3, input_size, input_size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model(batch[:1])
        start = time.perf_counter()
        model(batch)
    return (time.perf_counter() - start) / n_images


def sgd(params: Any) -> torch.optim.Optimizer:
    """The authors' optimiser: SGD, lr 0.01, momentum 0.9, weight decay 4e-5 (``PROBE_OPTIMISER``)."""
    options = PROBE_OPTIMISER
    return torch.optim.SGD(params, lr=options["lr"], momentum=options["momentum"],
                           weight_decay=options["weight_decay"])


def step_decay(optimizer: torch.optim.Optimizer) -> Any:
    """Learning rate x0.1 every 10 epochs (``PROBE_OPTIMISER``)."""
    options = PROBE_OPTIMISER
    return torch.optim.lr_scheduler.StepLR(optimizer, options["lr_step_epochs"], options["lr_decay"])


def standardize_features(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets minus the training mean, divided by the training standard deviation (per feature)."""
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    return (x_train - mean) / std, (x_test - mean) / std


def evaluate_methods(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    n_classes: int,
    *,
    epochs: int,
    seed: int,
    batch_size: int = PROBE_OPTIMISER["batch_size"],
    standardize: bool = False,
) -> dict[str, float]:
    """Average per-class test accuracy (%) of softmax, PC-softmax and post-hoc corrected softmax, each a
    linear layer on the features trained by :func:`pcsm.experiments.classification.train_methods` (the
    comparison LeNet goes through on MNIST) with the authors' optimiser and schedule.

    Predictions are the argmax of the raw logits; post-hoc is argmax of f - log P(y) of the softmax
    model, with P(y) the training label frequencies (also the PC-softmax prior). ``standardize``
    scales every feature by the training mean and standard deviation first (the authors did not; a
    random backbone's features are too large for SGD at lr 0.01 without it).
    """
    if standardize:
        x_train, x_test = standardize_features(x_train, x_test)
    trained = train_methods(
        lambda: nn.Linear(x_train.shape[1], n_classes), (x_train, y_train), n_classes, seed=seed,
        optimizer=sgd, scheduler=step_decay, epochs=epochs, batch_size=batch_size,
    )
    truth = np.asarray(y_test)
    return {name: 100 * average_per_class_accuracy(truth, predicted)
            for name, predicted in predictions(trained, x_test).items()}


def split_tensors(
    all_features: torch.Tensor, row_of: Mapping[str, int], rows: pd.DataFrame
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and labels of the split's ``rows`` (columns ``path`` and ``label``)."""
    x = all_features[[row_of[path] for path in rows["path"]]]
    return x, torch.tensor(rows["label"].to_numpy())


def run_protocols(
    splits: Mapping[str, Split],
    all_features: torch.Tensor,
    paths: Sequence[str],
    *,
    seeds: Sequence[int],
    epochs: int,
    standardize: bool,
    labels: Mapping[str, Any],
) -> pd.DataFrame:
    """One row per protocol, seed and method: ``labels`` (e.g. data and backbone), the protocol, split
    sizes, epochs, seed, method and its average per-class accuracy (%). ``all_features[i]`` belongs to
    ``paths[i]``."""
    row_of = {path: i for i, path in enumerate(paths)}
    rows = []
    for protocol, split in splits.items():
        x_train, y_train = split_tensors(all_features, row_of, split.train)
        x_test, y_test = split_tensors(all_features, row_of, split.test)
        for seed in seeds:
            scores = evaluate_methods(
                x_train, y_train, x_test, y_test, split.n_classes, epochs=epochs, seed=seed,
                standardize=standardize,
            )
            common = {
                **labels, "standardized": standardize, "protocol": protocol, "n_train": len(split.train),
                "n_test": len(split.test), "epochs": epochs, "seed": seed,
            }
            rows += [{**common, "method": method, "avg_per_class_accuracy": acc}
                     for method, acc in scores.items()]
    return pd.DataFrame(rows)


def feature_pass_estimate(seconds_per_image: float, n_images: int) -> dict[str, float]:
    """The feature pass over ``n_images``: measured CPU ms per image, CPU hours, estimated GPU minutes."""
    return {
        "cpu_ms_per_image": 1000 * seconds_per_image,
        "cpu_hours": seconds_per_image * n_images / 3600,
        "gpu_minutes": GPU_SECONDS_PER_IMAGE * n_images / 60,
    }
