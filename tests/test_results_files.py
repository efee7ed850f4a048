"""The one reader of the files the command line and the chapters read: a bad file is named (and its row),
a published table truncated or changed since is refused before anything reads it, and data files or
folders in the wrong place are named before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pcsm.book import summary
from pcsm.experiments import results
from pcsm.experiments.results import REPO_ROOT, read_json, read_table, table_entry

RESULTS = REPO_ROOT / "results"
TABLE = "method,mean,n\nsoftmax,1.5,3\npc-softmax,2.5,3\n"


def write(folder: Path, text: str, name: str = "t.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def publish_record(folder: Path, notebook: str, *tables: str) -> None:
    """A provenance record as the runner writes it at publish time, listing ``tables`` of ``folder``."""
    path = folder / f"{notebook}{results.PROVENANCE_SUFFIX}"
    record = json.loads(path.read_text()) if path.exists() else {"notebook": notebook, "profile": "smoke"}
    record[results.TABLES_KEY] = {t: table_entry((folder / t).read_bytes()) for t in tables}
    path.write_text(json.dumps(record))


def test_a_good_table_is_read_with_its_numbers(tmp_path):
    table = read_table(write(tmp_path, TABLE), ["method"], numeric=["mean", "n"], min_rows=2)
    assert list(table.method) == ["softmax", "pc-softmax"] and table["mean"].sum() == 4.0


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    (TABLE[:-1], "truncated"),
    (TABLE.rsplit("\n", 2)[0] + "\npc-softmax,2.5\n", r"row 3: 2 fields where the header has 3"),
    ("method,mean,n\nsoftmax,abc,3\n", r"row 2, column 'mean': 'abc' is not a number"),
    ("method,n\nsoftmax,3\n", "lacks the column"),
    ("method,mean,n\n", "no rows"),
    (b"method\n\xff\xfe\n", "not UTF-8"),
])
def test_a_bad_table_is_named_with_its_row(tmp_path, text, message):
    path = tmp_path / "t.csv"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    with pytest.raises(ValueError, match=message) as error:
        read_table(path, ["method"], numeric=["mean"])
    assert str(error.value).startswith(str(path))


@pytest.mark.parametrize("make, message", [
    (lambda path: path.mkdir(), "is a folder, not a result table"),
    (lambda path: None, "no such result table"),
])
def test_a_table_that_is_a_folder_or_missing_is_named(tmp_path, make, message):
    make(tmp_path / "t.csv")
    with pytest.raises(ValueError, match=f"{tmp_path / 't.csv'}: {message}"):
        read_table(tmp_path / "t.csv")


def test_a_published_table_truncated_at_a_line_end_is_refused(tmp_path):
    """Each row is well formed, so only the record of what was published can tell."""
    path = write(tmp_path, TABLE)
    publish_record(tmp_path, "toy", "t.csv")
    assert len(read_table(path)) == 2
    path.write_text(TABLE.rsplit("\n", 2)[0] + "\n")
    with pytest.raises(ValueError, match=r"t\.csv: not the table toy published \(1 rows where "
                                         r"toy\.provenance\.json records 2.*pcsm run toy"):
        read_table(path)


@pytest.mark.parametrize("text, message", [("{not json", "not JSON"), ("[1]", "not an object"),
                                           ('{"a": 1}', "no 'profile'")])
def test_a_bad_json_record_is_named(tmp_path, text, message):
    path = write(tmp_path, text, "r.json")
    with pytest.raises(ValueError, match=f"{path}: not a provenance record .*{message}"):
        read_json(path, "provenance record", ["profile"])


def test_a_truncated_gains_table_stops_the_claims_naming_the_file(tmp_path, monkeypatch, capsys):
    """`pcsm claims` (and 05, which reads through the same summary) fails instead of leaving the MNIST rows
    out: the truncation is found against the provenance record 03 wrote when it published the table."""
    shutil.copytree(RESULTS, tmp_path, dirs_exist_ok=True)
    publish_record(tmp_path, "03-mnist", "mnist_gains.csv")
    claims = summary.claims(summary.paper_vs_book(tmp_path), tmp_path)
    assert claims.claim.str.startswith("MNIST").sum() == 3  # PC-softmax on both test sets, post-hoc
    gains = tmp_path / "mnist_gains.csv"
    gains.write_text("".join(gains.read_text().splitlines(keepends=True)[:5]))  # the imbalanced rows lost
    with pytest.raises(ValueError, match=r"mnist_gains\.csv: not the table 03-mnist published"):
        summary.claims(summary.paper_vs_book(tmp_path), tmp_path)
    monkeypatch.setattr(summary, "published_results_dir", lambda: tmp_path)
    from pcsm.__main__ import main

    with pytest.raises(SystemExit) as raised:
        main(["claims"])
    assert raised.value.code == 2 and f"{gains}: not the table 03-mnist published" in capsys.readouterr().err


def test_a_gains_table_cut_mid_row_is_named_without_a_record(tmp_path):
    shutil.copytree(RESULTS, tmp_path, dirs_exist_ok=True)
    gains = tmp_path / "mnist_gains.csv"
    gains.write_text(gains.read_text()[:-30])
    with pytest.raises(ValueError, match=r"mnist_gains\.csv"):
        summary.claims(summary.paper_vs_book(tmp_path), tmp_path)


def test_an_mnist_raw_file_that_is_a_folder_is_named(tmp_path):
    from pcsm.experiments.mnist import data

    raw = data.raw_folder("mnist", tmp_path)
    (raw / data.RAW_FILES["train"][0]).mkdir(parents=True)
    folder = raw / data.RAW_FILES["train"][0]
    with pytest.raises(ValueError, match=f"{folder}: is a folder, not a mnist IDX file"):
        data.load_split("mnist", "train", root=tmp_path)
    assert [p.name for p in raw.iterdir()] == [data.RAW_FILES["train"][0]]  # nothing written beside it
    with pytest.raises(ValueError, match="is a folder, not a mnist IDX file"):
        data.check_idx_file(raw / data.RAW_FILES["train"][0], "mnist")


def test_a_cub_archive_path_that_is_a_folder_is_named(tmp_path):
    from pcsm.experiments.cub import data

    archive = tmp_path / "CUB_200_2011.tgz"
    archive.mkdir()
    with pytest.raises(ValueError, match=f"{archive}: is a folder, not a archive"):
        data.fetch_and_extract(tmp_path, download_missing=True, progress=False)


def test_a_features_cache_folder_that_is_a_file_is_refused_before_the_work(tmp_path, monkeypatch):
    from pcsm.experiments.cub import features

    def no_work(*args, **kwargs):
        raise AssertionError("the backbone was built before the cache folder was checked")

    monkeypatch.setattr(features, "build_backbone", no_work)
    cache = write(tmp_path, "a file", "cache")
    with pytest.raises(ValueError, match=f"cache_dir: {cache} is a file, not a folder"):
        features.extract_features(tmp_path, ["a.jpg"], weights="random", cache_dir=cache, progress=False)
    with pytest.raises(ValueError, match=f"lies inside the file {cache}"):
        features.extract_features(tmp_path, ["a.jpg"], weights="random", cache_dir=cache / "sub",
                                  progress=False)
