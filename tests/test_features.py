"""Frozen features: the on-disk cache, the seeded random backbone, and the three-method linear probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pcsm.core.training import set_threads
from pcsm.experiments.cub import data, features

set_threads()
SIZE = features.MIN_INPUT_SIZE["inception_v3"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    standin = data.make_standin(tmp_path_factory.mktemp("server"))
    folder = data.safe_extract(standin.archive, tmp_path_factory.mktemp("data"))
    paths = list(data.load_index(folder)["path"])
    return folder / "images", paths[:: len(paths) // 6][:6]


def test_second_extraction_is_a_cache_hit(images, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image_dir, paths = images
    calls = {"build": 0, "forward": 0}
    real_build = features.build_backbone

    def counting_build(*args, **kwargs):
        calls["build"] += 1
        model = real_build(*args, **kwargs)
        model.register_forward_hook(lambda *_: calls.__setitem__("forward", calls["forward"] + 1))
        return model

    monkeypatch.setattr(features, "build_backbone", counting_build)
    options = dict(backbone="inception_v3", weights="random", input_size=SIZE, cache_dir=tmp_path,
                   batch_size=4, progress=False)
    first = features.extract_features(image_dir, paths, **options)
    assert first.shape == (6, 2048) and torch.isfinite(first).all()
    assert calls == {"build": 1, "forward": 2}
    second = features.extract_features(image_dir, paths, **options)
    assert calls == {"build": 1, "forward": 2}
    assert torch.equal(first, second)
    features.extract_features(image_dir, paths[:3], **options)  # another image list: a miss
    assert calls["build"] == 2
    assert len(list(tmp_path.glob("inception_v3-*.pt"))) == 2



def tiny_backbone(*args, **kwargs) -> torch.nn.Module:
    """Mean colour per channel: a fast stand-in for the backbone when only the cache is under test."""
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


def _good(key: str, n: int) -> dict:
    return {"key": key, "features": torch.ones(n, 3)}


BAD_CACHES = {
    "truncated": lambda file, key, n: file.write_bytes(file.read_bytes()[:40]),
    "empty": lambda file, key, n: file.write_bytes(b""),
    "garbage": lambda file, key, n: file.write_bytes(b"not a torch file \x00\xff" * 10),
    "wrong rows": lambda file, key, n: torch.save(_good(key, n + 1), file),
    "NaN": lambda file, key, n: torch.save({"key": key, "features": torch.full((n, 3), float("nan"))}, file),
    "a list": lambda file, key, n: torch.save([key, torch.ones(n, 3)], file),
    "wrong dtype": lambda file, key, n: torch.save({"key": key, "features": torch.ones(n, 3).double()}, file),
    "wrong key": lambda file, key, n: torch.save(_good("another key", n), file),
}


@pytest.mark.parametrize("damage", list(BAD_CACHES))
def test_a_bad_cache_is_rebuilt_with_a_warning_naming_it(images, tmp_path, monkeypatch, damage) -> None:
    image_dir, paths = images
    monkeypatch.setattr(features, "build_backbone", tiny_backbone)
    options = dict(backbone="inception_v3", weights="random", input_size=SIZE, cache_dir=tmp_path,
                   progress=False)
    fresh = features.extract_features(image_dir, paths, **options)
    cache_file = features.cache_path(tmp_path, paths, "inception_v3", "random", SIZE)
    key = features.cache_key(paths, "inception_v3", "random", SIZE, 0)
    BAD_CACHES[damage](cache_file, key, len(paths))
    with pytest.warns(UserWarning, match=f"features cache {cache_file}"):
        rebuilt = features.extract_features(image_dir, paths, **options)
    assert torch.equal(rebuilt, fresh)
    assert torch.equal(features.load_cached_features(cache_file, key, len(paths)), fresh)

def test_cache_key_names_what_the_features_depend_on() -> None:
    key = features.cache_key(["a.jpg"], "inception_v3", "random", 75, 0)
    assert key != features.cache_key(["b.jpg"], "inception_v3", "random", 75, 0)
    assert key != features.cache_key(["a.jpg"], "inception_v3", "random", 99, 0)
    assert key != features.cache_key(["a.jpg"], "inception_v3", "random", 75, 1)
    assert key != features.cache_key(["a.jpg"], "resnet50", "random", 75, 0)


def test_random_backbone_is_seeded() -> None:
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = features.build_backbone("inception_v3", "random", SIZE, seed=1)(x)
        b = features.build_backbone("inception_v3", "random", SIZE, seed=1)(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "arguments, name",
    [(("vgg", "random", 299), "backbone"), (("inception_v3", "inat", 299), "backbone_weights"),
     (("inception_v3", "random", 64), "input_size")],
)
def test_bad_backbone_options_are_named(arguments, name) -> None:
    with pytest.raises(ValueError, match=f"^{name}"):
        features.check_backbone(*arguments)


def imbalanced_gaussians(seed: int) -> tuple[torch.Tensor, ...]:
    """Three overlapping 2-D classes, 2000/400/100 training points, 100 test points each."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])

    def sample(counts):
        y = np.repeat(np.arange(3), counts)
        return torch.tensor(means[y] + rng.normal(size=(len(y), 2)), dtype=torch.float32), torch.tensor(y)

    return (*sample([2000, 400, 100]), *sample([100, 100, 100]))


def test_probe_corrections_help_the_minority_classes() -> None:
    sample = imbalanced_gaussians(0)
    scores = features.evaluate_methods(*sample, 3, epochs=30, seed=0, standardize=True)
    assert set(scores) == set(features.METHODS)
    assert all(0 <= v <= 100 for v in scores.values())
    assert scores["pc-softmax"] > scores["softmax"] and scores["post-hoc"] > scores["softmax"]
    assert features.evaluate_methods(*sample, 3, epochs=30, seed=0, standardize=True) == scores


class FakeSplit:
    """Rows with ``path`` and ``label`` columns, as ``data.Split`` has."""

    def __init__(self, train_paths: list[str], test_paths: list[str], label_of: dict[str, int]) -> None:
        self.train = pd.DataFrame({"path": train_paths, "label": [label_of[p] for p in train_paths]})
        self.test = pd.DataFrame({"path": test_paths, "label": [label_of[p] for p in test_paths]})
        self.n_classes = 3


def test_run_protocols_gives_one_tidy_row_per_protocol_seed_and_method() -> None:
    x_train, y_train, x_test, y_test = imbalanced_gaussians(1)
    all_features = torch.cat([x_train, x_test])
    labels = torch.cat([y_train, y_test]).tolist()
    paths = [f"{i}.jpg" for i in range(len(labels))]
    label_of = dict(zip(paths, labels))
    train, test = paths[: len(y_train)], paths[len(y_train) :]
    splits = {"balanced": FakeSplit(train[::5], test, label_of),
              "imbalanced": FakeSplit(train, test, label_of)}
    results = features.run_protocols(
        splits, all_features, paths, seeds=[0, 1], epochs=2, standardize=True, labels={"data": "gaussians"}
    )
    assert len(results) == 2 * 2 * len(features.METHODS)
    assert list(results.columns) == [
        "data", "standardized", "protocol", "n_train", "n_test", "epochs", "seed", "method",
        "avg_per_class_accuracy",
    ]
    assert set(results.loc[results["protocol"] == "balanced", "n_train"]) == {len(train[::5])}
    assert results["avg_per_class_accuracy"].between(0, 100).all()
    first = results[(results["protocol"] == "imbalanced") & (results["seed"] == 0)]
    expected = features.evaluate_methods(x_train, y_train, x_test, y_test, 3, epochs=2, seed=0,
                                         standardize=True)
    assert dict(zip(first["method"], first["avg_per_class_accuracy"])) == expected


def test_feature_pass_estimate_scales_with_the_images() -> None:
    estimate = features.feature_pass_estimate(0.5, 7200)
    assert estimate["cpu_ms_per_image"] == 500
    assert estimate["cpu_hours"] == 1.0
    assert estimate["gpu_minutes"] == pytest.approx(features.GPU_SECONDS_PER_IMAGE * 7200 / 60)


def test_extraction_progress_is_a_live_bar_kept_out_of_the_page(images, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    """The bar goes to stderr (the runner drops stderr from the published page) and clears itself."""
    image_dir, paths = images
    features.extract_features(
        image_dir, paths[:2], backbone="inception_v3", weights="random", input_size=SIZE, cache_dir=tmp_path
    )
    captured = capsys.readouterr()
    assert "inception_v3 features" in captured.err and "inception_v3 features" not in captured.out
