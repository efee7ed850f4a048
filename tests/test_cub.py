"""The CUB loader on the generated stand-in: download, checksum, safe extraction, index, splits."""

from __future__ import annotations

import http.server
import io
import shutil
import tarfile
import threading
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from pcsm.experiments.cub import data, page
from pcsm.experiments.paper import TABLE_2_CUB
from pcsm.experiments.results import REPO_ROOT


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> data.StandIn:
    return data.make_standin(tmp_path_factory.mktemp("server"), seed=0)


@pytest.fixture(scope="module")
def index(standin: data.StandIn, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("data")
    folder = data.fetch_and_extract(root, url=standin.archive.as_uri(), md5=standin.md5,
                                    download_missing=True, progress=False)
    return data.load_index(folder)


def leftovers(root: Path) -> list[str]:
    """Anything extraction may have left: the dataset folder or a temporary extraction folder."""
    prefixes = (data.FOLDER, f".{data.FOLDER}")
    return sorted(p.name for p in root.iterdir() if p.name.startswith(prefixes) and p.is_dir())


def write_tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def index_members(skip: str = "") -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [(tarfile.TarInfo(f"{data.FOLDER}/{name}"), b"1 x\n") for name in data.INDEX_FILES if name != skip]


def test_standin_is_deterministic(standin: data.StandIn, tmp_path: Path) -> None:
    again = data.make_standin(tmp_path, seed=0)
    assert again.md5 == standin.md5 == data.file_md5(standin.archive)
    assert data.make_standin(tmp_path / "other", seed=1).md5 != standin.md5


def test_index_of_the_standin(index) -> None:
    assert len(index) == data.STANDIN_CLASSES * data.STANDIN_IMAGES_PER_CLASS
    assert list(index["image_id"]) == list(range(1, len(index) + 1))
    assert index["class_name"].str.match(r"^\d{3}\.").all()


def test_balanced_split_is_the_official_one(index) -> None:
    split = data.make_split(index, "balanced")
    official = ((index["is_train"] == 1).sum(), (index["is_train"] == 0).sum())
    assert (len(split.train), len(split.test)) == official
    assert split.n_classes == data.STANDIN_CLASSES
    assert set(split.train["image_id"]).isdisjoint(split.test["image_id"])


def test_imbalanced_split_takes_min_of_quota_and_available(index) -> None:
    split = data.make_split(index, "imbalanced", data.STANDIN_QUOTAS, seed=3)
    counts = split.counts()
    (odd_train, odd_test), (even_train, even_test) = data.STANDIN_QUOTAS
    # class 002 has 11 training images
    assert list(counts["train"]) == [odd_train, even_train - 1] + [odd_train, even_train] * 3
    assert list(counts["test"]) == [odd_test, even_test] * 4
    assert set(split.train["image_id"]) <= set(index.loc[index["is_train"] == 1, "image_id"])
    assert set(split.test["image_id"]) <= set(index.loc[index["is_train"] == 0, "image_id"])
    again = data.make_split(index, "imbalanced", data.STANDIN_QUOTAS, seed=3)
    assert again.train.equals(split.train) and again.test.equals(split.test)
    other = data.make_split(index, "imbalanced", data.STANDIN_QUOTAS, seed=4)
    assert not other.test["image_id"].equals(split.test["image_id"])


def test_bad_protocol_is_named(index) -> None:
    with pytest.raises(ValueError, match="protocol"):
        data.make_split(index, "long-tailed")


def test_missing_dataset_without_download_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="download"):
        data.fetch_and_extract(tmp_path)


def test_tampered_archive_is_refused(standin: data.StandIn, tmp_path: Path) -> None:
    tampered = tmp_path / "server" / "CUB_200_2011.tgz"
    tampered.parent.mkdir()
    payload = bytearray(standin.archive.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    tampered.write_bytes(bytes(payload))
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="md5"):
        data.fetch_and_extract(root, url=tampered.as_uri(), md5=standin.md5, download_missing=True,
                               progress=False)
    assert not any(root.iterdir())  # neither the archive, its .part, nor a dataset folder


def test_truncated_archive_is_refused(standin: data.StandIn, tmp_path: Path) -> None:
    truncated = tmp_path / "CUB_200_2011.tgz"
    truncated.write_bytes(standin.archive.read_bytes()[:-5000])
    with pytest.raises(ValueError, match="md5"):
        data.verify_md5(truncated, standin.md5)
    target = tmp_path / "target"
    with pytest.raises(RuntimeError, match="truncated"):
        data.safe_extract(truncated, target)
    assert leftovers(target) == []


def test_interrupted_download_completes(standin: data.StandIn, tmp_path: Path) -> None:
    dest = tmp_path / "CUB_200_2011.tgz"
    (tmp_path / "CUB_200_2011.tgz.part").write_bytes(standin.archive.read_bytes()[:1000])
    data.download(standin.archive.as_uri(), dest, standin.md5, progress=False)
    assert data.file_md5(dest) == standin.md5
    assert not (tmp_path / "CUB_200_2011.tgz.part").exists()


@pytest.mark.parametrize(
    "evil",
    [
        (tarfile.TarInfo(f"{data.FOLDER}/../../escaped.txt"), b"x"),
        (tarfile.TarInfo("/tmp/absolute.txt"), b"x"),
    ],
    ids=["dotdot", "absolute"],
)
def test_escaping_member_is_refused(evil, tmp_path: Path) -> None:
    archive = write_tgz(tmp_path / "evil.tgz", index_members() + [evil])
    target = tmp_path / "target"
    with pytest.raises(RuntimeError, match="outside"):
        data.safe_extract(archive, target)
    assert leftovers(target) == [] and not (tmp_path / "escaped.txt").exists()


def test_escaping_symlink_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo(f"{data.FOLDER}/images")
    link.type, link.linkname = tarfile.SYMTYPE, "../../.."
    archive = write_tgz(tmp_path / "evil.tgz", index_members() + [(link, None)])
    target = tmp_path / "target"
    with pytest.raises(RuntimeError, match="outside"):
        data.safe_extract(archive, target)
    assert leftovers(target) == []


def test_missing_index_file_is_named(tmp_path: Path, index) -> None:
    archive = write_tgz(tmp_path / "partial.tgz", index_members(skip="classes.txt"))
    target = tmp_path / "target"
    with pytest.raises(ValueError, match="classes.txt"):
        data.safe_extract(archive, target)
    assert leftovers(target) == []


def test_load_index_names_a_missing_file(standin: data.StandIn, tmp_path: Path) -> None:
    folder = data.safe_extract(standin.archive, tmp_path)
    (folder / "train_test_split.txt").unlink()
    with pytest.raises(ValueError, match="train_test_split.txt"):
        data.load_index(folder)
    shutil.rmtree(folder)


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload, honouring ``Range: bytes=N-`` with 206 Partial Content (416 when N is not
    inside the payload); records the header. While ``cuts`` holds numbers, each response announces the
    full length but sends only that many bytes and closes the connection."""

    payload = b""
    ranges: list[str | None] = []
    cuts: list[int] = []

    def do_GET(self) -> None:
        requested = self.headers.get("Range")
        RangeHandler.ranges.append(requested)
        start = int(requested.removeprefix("bytes=").rstrip("-")) if requested else 0
        if start >= len(self.payload):
            self.send_response(416)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.payload[start:]
        self.send_response(206 if requested else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: RangeHandler.cuts.pop(0)] if RangeHandler.cuts else body)
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(standin: data.StandIn):
    """A local HTTP server of the stand-in archive; yields its URL."""
    RangeHandler.payload, RangeHandler.ranges, RangeHandler.cuts = standin.archive.read_bytes(), [], []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/CUB_200_2011.tgz"
    httpd.shutdown()
    thread.join()


def test_download_resumes_with_a_range_request(standin: data.StandIn, server: str, tmp_path: Path) -> None:
    dest = tmp_path / "CUB_200_2011.tgz"
    (tmp_path / "CUB_200_2011.tgz.part").write_bytes(RangeHandler.payload[:1000])
    data.download(server, dest, standin.md5, progress=False)
    assert RangeHandler.ranges == ["bytes=1000-"]
    assert data.file_md5(dest) == standin.md5


@pytest.mark.parametrize("extra", [b"", b"trailing bytes"], ids=["full-size", "oversized"])
def test_a_corrupt_part_the_server_cannot_extend_is_fetched_again(standin, server, tmp_path, extra) -> None:
    corrupt = bytearray(RangeHandler.payload + extra)
    corrupt[100] ^= 0xFF
    (tmp_path / "CUB_200_2011.tgz.part").write_bytes(bytes(corrupt))
    dest = data.download(server, tmp_path / "CUB_200_2011.tgz", standin.md5, progress=False)
    assert RangeHandler.ranges == [f"bytes={len(corrupt)}-", None]  # one 416, then the whole file
    assert data.file_md5(dest) == standin.md5 and not (tmp_path / "CUB_200_2011.tgz.part").exists()


def test_a_connection_that_ends_early_is_resumed(standin: data.StandIn, server: str, tmp_path: Path) -> None:
    RangeHandler.cuts = [3000, 2000]
    dest = data.download(server, tmp_path / "CUB_200_2011.tgz", standin.md5, progress=False)
    assert RangeHandler.ranges == [None, "bytes=3000-", "bytes=5000-"]
    assert data.file_md5(dest) == standin.md5


def test_a_download_that_keeps_ending_early_stops_and_keeps_its_part(standin, server, tmp_path) -> None:
    RangeHandler.cuts = [1000] * 5
    with pytest.raises(RuntimeError, match="ended early 3 times; run again to resume"):
        data.download(server, tmp_path / "CUB_200_2011.tgz", standin.md5, progress=False)
    assert len(RangeHandler.ranges) == 3
    assert (tmp_path / "CUB_200_2011.tgz.part").stat().st_size == 3000


def test_unreachable_url_is_named(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="download failed"):
        data.download((tmp_path / "nowhere.tgz").as_uri(), tmp_path / "x.tgz", "0" * 32, progress=False)


def test_load_dataset_runs_the_standin_through_the_real_path(tmp_path: Path) -> None:
    folder, quotas = data.load_dataset("stand-in", tmp_path, progress=False)
    assert quotas == data.STANDIN_QUOTAS and folder.name == data.FOLDER
    assert (folder.parent / "CUB_200_2011.tgz").exists()  # fetched from the generated archive's URL
    assert data.load_dataset("stand-in", tmp_path, progress=False)[0] == folder
    with pytest.raises(ValueError, match="^dataset"):
        data.load_dataset("cub", tmp_path)
    with pytest.raises(ValueError, match="^download"):
        data.load_dataset("CUB-200-2011", tmp_path, download_missing=False)


def test_complete_part_file_is_not_fetched_again(standin: data.StandIn, tmp_path: Path) -> None:
    (tmp_path / "CUB_200_2011.tgz.part").write_bytes(standin.archive.read_bytes())
    dest = data.download((tmp_path / "nowhere.tgz").as_uri(), tmp_path / "CUB_200_2011.tgz", standin.md5,
                         progress=False)
    assert data.file_md5(dest) == standin.md5


GOOD_CONFIG = dict(
    dataset="stand-in", backbone="inception_v3", backbone_weights="random", input_size=75,
    standardize_features=True, protocols=["balanced", "imbalanced"], epochs=30, seeds=[0, 1, 2],
    split_seed=0, timing_images=4,
)


def test_good_config_passes() -> None:
    config = page.CUBConfig.for_profile(**GOOD_CONFIG)
    assert config.seeds == tuple(GOOD_CONFIG["seeds"]) and config.data_root == ""


@pytest.mark.parametrize(
    "name, value",
    [
        ("dataset", "cub"),
        ("backbone", "vgg"),
        ("backbone_weights", "inat"),
        ("input_size", 64),
        ("standardize_features", 1),
        ("download", "yes"),
        ("data_root", 3),
        ("cache", True),
        ("protocols", []),
        ("protocols", ["balanced", "long-tailed"]),
        ("protocols", "balanced"),
        ("epochs", 0),
        ("epochs", 2.5),
        ("seeds", []),
        ("seeds", [0, 0]),
        ("seeds", [-1]),
        ("seeds", 0),
        ("split_seed", -1),
        ("timing_images", 0),
    ],
)
def test_bad_config_is_named(name: str, value) -> None:
    with pytest.raises(ValueError, match=f"^{name}"):
        page.CUBConfig.for_profile(**{**GOOD_CONFIG, name: value})


def test_paper_table2_holds_the_cub_numbers() -> None:
    paper = TABLE_2_CUB.set_index(["protocol", "method"])["paper_pct"]
    assert paper.to_dict() == {
        ("balanced", "softmax"): 89.21, ("balanced", "pc-softmax"): 89.16,
        ("imbalanced", "softmax"): 84.63, ("imbalanced", "pc-softmax"): 87.69,
    }


def test_standin_notice_is_a_warning_with_the_paper_numbers_and_the_command() -> None:
    notice = page.data_notice("stand-in", "inception_v3", "random init", 75)
    assert notice.startswith(":::{admonition} Stand-in data") and ":class: warning" in notice
    assert notice.rstrip().endswith(":::")
    assert "not reproduced" in notice and f"`{data.REPRODUCE_COMMAND}`" in notice
    assert "Reproducing the paper's table" in notice  # the command and its caveats are said there, once
    assert all(f"{pct:.2f}" in notice for pct in TABLE_2_CUB["paper_pct"])
    assert f"{data.STANDIN_CLASSES * data.STANDIN_IMAGES_PER_CLASS}" in notice and "75x75" in notice
    (odd_train, odd_test), _ = data.STANDIN_QUOTAS
    assert f"odd classes {odd_train} train / {odd_test} test" in notice


def test_real_data_notice_is_a_note_without_the_standin_warning() -> None:
    notice = page.data_notice("CUB-200-2011", "inception_v3", "IMAGENET1K_V1", 299)
    assert notice.startswith(":::{admonition} Data: CUB-200-2011") and ":class: note" in notice
    assert notice.rstrip().endswith(":::")
    assert "stand-in" not in notice and "not reproduced" not in notice
    assert f"{data.REAL_IMAGES} images of {data.REAL_CLASSES}" in notice and "IMAGENET1K_V1" in notice


def test_split_summary_counts_each_protocol(index) -> None:
    splits = {p: data.make_split(index, p, data.STANDIN_QUOTAS) for p in data.PROTOCOLS}
    summary = page.split_summary(splits).set_index("protocol")
    assert summary.loc["imbalanced", "train per class"] == "4-12"
    assert summary.loc["balanced", "train"] == (index["is_train"] == 1).sum()


def fake_results() -> pd.DataFrame:
    rows = [
        {"protocol": protocol, "method": method, "seed": seed, "avg_per_class_accuracy": base + seed}
        for protocol, base in (("balanced", 90.0), ("imbalanced", 80.0))
        for method in ("softmax", "pc-softmax", "post-hoc")
        for seed in (0, 1, 2)
    ]
    return pd.DataFrame(rows)


def test_accuracy_summary_is_mean_and_std_over_seeds() -> None:
    summary = page.accuracy_summary(fake_results()).set_index(["protocol", "method"])
    assert summary.loc[("imbalanced", "softmax"), "mean"] == 81.0
    assert summary.loc[("imbalanced", "softmax"), "std"] == 1.0
    one_seed = page.accuracy_summary(fake_results().query("seed == 0"))
    assert (one_seed["std"] == 0).all()


def test_cub_against_paper_on_real_data_gives_the_difference() -> None:
    table = page.cub_against_paper(fake_results(), standin=False).set_index(["protocol", "method"])
    assert table.loc[("imbalanced", "pc-softmax")].to_dict() == {
        "ours (%)": "81.00 ± 1.00", "paper (%)": "87.69", "ours − paper": "-6.69",
    }
    assert table.loc[("balanced", "softmax"), "ours − paper"] == "+1.79"
    assert table.loc[("balanced", "post-hoc"), "paper (%)"] == "—"


def test_cub_against_paper_on_the_standin_says_not_reproduced() -> None:
    table = page.cub_against_paper(fake_results(), standin=True).set_index(["protocol", "method"])
    assert table.loc[("balanced", "softmax"), "paper (%)"] == "89.21"
    assert table.loc[("balanced", "softmax"), "ours − paper"] == "not reproduced here"
    assert table.loc[("imbalanced", "post-hoc"), "ours − paper"] == "—"


def test_download_progress_is_live_progress_on_stderr(standin: data.StandIn, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """The bar shows while the archive downloads (stderr, as every progress bar of the book) and is not
    a result: the runner keeps stderr out of the saved page, so 04's page shows no bar."""
    data.download(standin.archive.as_uri(), tmp_path / "CUB_200_2011.tgz", standin.md5, progress=True)
    captured = capsys.readouterr()
    assert "CUB_200_2011.tgz" in captured.err and "CUB_200_2011.tgz" not in captured.out


def test_extraction_never_deletes_a_users_file_in_an_existing_folder(standin, tmp_path: Path) -> None:
    folder = data.safe_extract(standin.archive, tmp_path)
    notes = folder / "images" / "my-notes.txt"
    notes.write_text("mine")
    with pytest.raises(RuntimeError, match=f"^{notes}: not part of the dataset archive"):
        data.safe_extract(standin.archive, tmp_path)
    assert notes.read_text() == "mine" and leftovers(tmp_path) == [data.FOLDER]
    notes.unlink()
    assert data.safe_extract(standin.archive, tmp_path) == folder  # an earlier extraction is replaced


def test_an_existing_file_in_place_of_the_folder_is_named(standin, tmp_path: Path) -> None:
    (tmp_path / data.FOLDER).write_text("not a folder")
    with pytest.raises(RuntimeError, match="exists and is not a folder"):
        data.safe_extract(standin.archive, tmp_path)
    assert (tmp_path / data.FOLDER).read_text() == "not a folder"


def test_an_archive_whose_folder_is_a_symlink_is_refused(tmp_path: Path) -> None:
    inner = [(tarfile.TarInfo(f"real/{name}"), b"1 x\n") for name in data.INDEX_FILES]
    link = tarfile.TarInfo(data.FOLDER)
    link.type, link.linkname = tarfile.SYMTYPE, "real"
    archive = write_tgz(tmp_path / "linked.tgz", inner + [(link, None)])
    target = tmp_path / "target"
    with pytest.raises(RuntimeError, match=f"{data.FOLDER} is a link, not a folder"):
        data.safe_extract(archive, target)
    assert leftovers(target) == []


@pytest.mark.parametrize("inside", [False, True], ids=["file", "below-a-file"])
def test_pcsm_data_pointing_at_a_file_is_named(tmp_path: Path, monkeypatch, inside: bool) -> None:
    a_file = tmp_path / "data.txt"
    a_file.write_text("x")
    monkeypatch.setenv("PCSM_DATA", str(a_file / "sub" if inside else a_file))
    with pytest.raises(ValueError, match="^PCSM_DATA: "):
        data.load_dataset("stand-in", progress=False)


def test_an_index_file_that_is_not_utf8_is_named(standin, tmp_path: Path) -> None:
    folder = data.safe_extract(standin.archive, tmp_path)
    (folder / "classes.txt").write_bytes(b"1 \xff\xfeBird\n")
    with pytest.raises(ValueError, match=f"^{folder / 'classes.txt'}: not UTF-8"):
        data.load_index(folder)


def test_data_sentence_says_plainly_which_data_the_page_ran_on() -> None:
    assert page.data_sentence("stand-in").startswith("This page runs on a generated stand-in (192 ")
    assert "not the paper's claim" in page.data_sentence("stand-in")
    real = "This page runs on the real CUB-200-2011 (11788 images of 200 species)."
    assert page.data_sentence("CUB-200-2011") == real


def test_paper_glue_values_are_the_paper_table() -> None:
    values = page.paper_glue_values()
    assert values["cub_paper_imbalanced_pc-softmax"] == 87.69
    assert values["cub_paper_balanced_softmax"] == 89.21
    assert len(values) == len(TABLE_2_CUB)
