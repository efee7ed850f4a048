"""CUB-200-2011: download, verify, extract safely, parse the index files, and draw the paper's splits.

The archive is fetched with resume (HTTP Range on a ``.part`` file), checked against its md5, and
unpacked into a temporary folder beside the target that is renamed into place only when complete.
``make_standin`` writes a small generated dataset in the same layout, so the whole path runs without
the 1.1 GB download.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from tqdm import tqdm

from pcsm.core._checks import check_choice, check_positive_int
from pcsm.experiments.results import atomic_write_bytes, check_file, data_root

CUB_URL = "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz"
CUB_MD5 = "97eceeb196236b17998738112f37df78"
FOLDER = "CUB_200_2011"
INDEX_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
PROTOCOLS = ("balanced", "imbalanced")
# (train, test) images per class of the paper's imbalanced protocol: odd class ids, even class ids
PAPER_QUOTAS = ((10, 5), (30, 15))
REAL_IMAGES = 11788  # images in CUB-200-2011
REAL_CLASSES = 200
ARCHIVE_GB = 1.1  # approximate size of CUB_200_2011.tgz
REPRODUCE_COMMAND = "pcsm run 04-cub --profile paper"
CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(check_file(path, "archive"), "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, md5: str, progress: bool = True, attempts: int = 3) -> Path:
    """Fetch ``url`` to ``dest`` unless it is already there with the right md5.

    Bytes go to ``dest.part``. A connection that ends early keeps the partial file and resumes it
    with an HTTP Range request, up to ``attempts`` connections in all; a partial file the server
    refuses to extend (HTTP 416: it is as long as the file or longer, yet its md5 is wrong) cannot be
    right and is fetched again from the start, as when the server ignores the Range request. ``dest``
    appears only once the md5 matches; a complete download with another md5 deletes the partial file
    and raises ``ValueError``. Never loops: at most ``attempts`` requests per call.
    """
    check_positive_int(attempts, "attempts")
    dest = Path(dest)
    if dest.exists():
        verify_md5(dest, md5)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if part.is_file() and part.stat().st_size and file_md5(part) == md5.lower():  # a Range request gets 416
        os.replace(part, dest)
        return dest
    for _ in range(attempts):
        if _fetch(url, part, dest.name, progress):
            break
    else:
        raise RuntimeError(f"{url}: the connection ended early {attempts} times; "
                           f"run again to resume from {part}")
    try:
        verify_md5(part, md5)
    except ValueError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def _fetch(url: str, part: Path, name: str, progress: bool) -> bool:
    """One request for the rest of ``part`` (all of it when absent); True when the server sent the whole
    file, False when ``part`` must be fetched again (connection ended early, or HTTP 416)."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the partial file is not shorter than the file: start over
            part.unlink()
            return False
        raise RuntimeError(f"{url}: download failed ({error})") from error
    except OSError as error:  # URLError: no network, unknown host, missing file
        raise RuntimeError(f"{url}: download failed ({error}); run again to resume from {part}") from error
    with response:
        resumed = offset > 0 and getattr(response, "status", None) == 206
        offset = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=name, disable=not progress,
            file=sys.stderr, leave=False,  # live progress: the runner keeps stderr out of the saved page
        ) as bar:
            try:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException):  # reset, timed out or cut mid-way: resume it
                return False
    return total is None or part.stat().st_size >= total


def verify_md5(path: Path, md5: str) -> None:
    """Raise ``ValueError`` naming ``path`` unless its md5 equals ``md5``."""
    actual = file_md5(path)
    if actual != md5.lower():
        raise ValueError(f"{path}: md5 {actual} does not match the expected {md5} (corrupt or tampered)")


def _escapes(name: str) -> bool:
    """Whether an archive path is absolute or climbs out of the extraction folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        return True
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


def check_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    """Refuse (``RuntimeError``) absolute paths, ``..`` escapes, escaping links and special files."""
    for member in members:
        if _escapes(member.name):
            raise RuntimeError(f"{archive}: member {member.name!r} would be written outside the target")
        if member.issym() or member.islnk():
            link = member.linkname
            base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
            if PurePosixPath(link).is_absolute() or _escapes(str(base / link)):
                raise RuntimeError(f"{archive}: link {member.name!r} -> {link!r} points outside the target")
        elif not (member.isfile() or member.isdir()):
            raise RuntimeError(f"{archive}: member {member.name!r} is a special file")


def safe_extract(archive: Path, target: Path, folder: str = FOLDER) -> Path:
    """Unpack ``folder`` of the .tgz ``archive`` to ``target / folder`` and return that path.

    Every member is checked before anything is written; extraction goes to a temporary folder beside
    the target (with ``tarfile``'s ``"data"`` filter as a second guard) that is renamed into place only
    after it completed and holds the index files, so no half-extracted folder is ever left behind.
    A truncated or unreadable archive, an archive whose ``folder`` is not a folder (e.g. a symlink), or
    an existing ``target / folder`` holding a file the archive does not (a user's file, never deleted)
    raises ``RuntimeError`` naming it.
    """
    target = Path(target)
    final = target / folder
    target.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target, prefix=f".{folder}.extracting-"))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                check_members(archive, members)
                check_top_folder(archive, members, folder)
                tar.extractall(scratch, members=members, filter="data")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            message = f"{archive}: cannot read the archive (truncated or corrupt): {error}"
            raise RuntimeError(message) from error
        if (scratch / folder).is_symlink() or not (scratch / folder).is_dir():
            raise RuntimeError(f"{archive}: {folder} is not a folder in the archive")
        check_index_files(scratch / folder)
        if final.exists() or final.is_symlink():
            check_replaceable(final, scratch / folder)
            shutil.rmtree(final)
        os.replace(scratch / folder, final)
        return final
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_top_folder(archive: Path, members: list[tarfile.TarInfo], folder: str) -> None:
    """Refuse (``RuntimeError``) an archive whose ``folder`` entry is a link or a file, not a folder."""
    for member in members:
        if PurePosixPath(member.name) == PurePosixPath(folder) and not member.isdir():
            kind = "link" if member.issym() or member.islnk() else "file"
            raise RuntimeError(f"{archive}: {folder} is a {kind}, not a folder")


def check_replaceable(existing: Path, extracted: Path) -> None:
    """Refuse (``RuntimeError`` naming the path) to replace ``existing`` unless it is a real folder
    whose every file is also in the fresh extraction ``extracted`` (an earlier extraction)."""
    if existing.is_symlink() or not existing.is_dir():
        raise RuntimeError(f"{existing}: exists and is not a folder; move it away to extract the dataset")
    for path in sorted(existing.rglob("*")):
        relative = path.relative_to(existing)
        fresh = extracted / relative
        same_kind = fresh.is_dir() if path.is_dir() else fresh.is_file()
        if path.is_symlink() or not same_kind:
            raise RuntimeError(f"{path}: not part of the dataset archive; move it out of {existing} "
                               "before extracting (nothing was changed)")


def check_index_files(folder: Path) -> None:
    """Raise ``ValueError`` naming the first index file missing from ``folder``."""
    for name in INDEX_FILES:
        if not (Path(folder) / name).is_file():
            raise ValueError(f"{Path(folder) / name}: missing CUB index file {name}")


def fetch_and_extract(
    root: Path, url: str = CUB_URL, md5: str = CUB_MD5, download_missing: bool = False, progress: bool = True
) -> Path:
    """The extracted ``CUB_200_2011`` folder under ``root``; downloaded and extracted when
    ``download_missing`` and not yet there. Without it a missing dataset raises ``ValueError``."""
    root = Path(root)
    folder = root / FOLDER
    if folder.is_dir():
        check_index_files(folder)
        return folder
    archive = root / PurePosixPath(url).name
    if not archive.exists() and not download_missing:
        raise ValueError(f"download: {folder} is missing; set download=True to fetch {url}")
    download(url, archive, md5, progress=progress)
    return safe_extract(archive, root)


def _read_columns(folder: Path, name: str, columns: list[str]) -> pd.DataFrame:
    """One whitespace-separated index file (first column an integer id, the last may hold anything)."""
    path = Path(folder) / name
    if not path.is_file():
        raise ValueError(f"{path}: missing CUB index file {name}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    rows = [line.split(maxsplit=len(columns) - 1) for line in text.splitlines() if line.strip()]
    if any(len(row) != len(columns) for row in rows):
        raise ValueError(f"{path}: expected {len(columns)} columns per line")
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({c: int for c in columns if c.endswith("_id") or c == "is_train"})


def load_index(folder: Path) -> pd.DataFrame:
    """One row per image: image_id, path (relative to ``images/``), class_id (1-based), class_name,
    is_train (official split), sorted by image_id."""
    images = _read_columns(folder, "images.txt", ["image_id", "path"])
    labels = _read_columns(folder, "image_class_labels.txt", ["image_id", "class_id"])
    split = _read_columns(folder, "train_test_split.txt", ["image_id", "is_train"])
    classes = _read_columns(folder, "classes.txt", ["class_id", "class_name"])
    index = images.merge(labels, on="image_id", how="outer", indicator="labels_found")
    index = index.merge(split, on="image_id", how="outer", indicator="split_found")
    if (index["labels_found"] != "both").any() or (index["split_found"] != "both").any():
        raise ValueError(f"{folder}: images.txt, image_class_labels.txt and train_test_split.txt list "
                         "different image ids")
    index = index.merge(classes, on="class_id", how="left")
    if index["class_name"].isna().any():
        raise ValueError(f"{Path(folder) / 'classes.txt'}: some class ids of image_class_labels.txt are "
                         "missing")
    return index.drop(columns=["labels_found", "split_found"]).sort_values("image_id", ignore_index=True)


@dataclass(frozen=True)
class Split:
    """Train and test rows of the index (with a 0-based ``label`` column) for one protocol."""

    protocol: str
    train: pd.DataFrame
    test: pd.DataFrame
    class_names: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> pd.DataFrame:
        """Images per class in train and test."""
        return pd.DataFrame(
            {
                "class_name": self.class_names,
                "train": np.bincount(self.train["label"], minlength=self.n_classes),
                "test": np.bincount(self.test["label"], minlength=self.n_classes),
            }
        )


def _draw(rows: pd.DataFrame, quota: int, rng: np.random.Generator) -> pd.DataFrame:
    """``min(quota, len(rows))`` rows drawn without replacement, kept in image_id order."""
    take = min(quota, len(rows))
    return rows.iloc[np.sort(rng.permutation(len(rows))[:take])]


def make_split(
    index: pd.DataFrame,
    protocol: str,
    quotas: tuple[tuple[int, int], tuple[int, int]] = PAPER_QUOTAS,
    seed: int = 0,
) -> Split:
    """The ``"balanced"`` (official train/test split) or ``"imbalanced"`` protocol.

    Imbalanced: classes with odd ids (001, 003, ...) keep ``quotas[0]`` = (train, test) images, even
    ids ``quotas[1]``; train images are drawn from the official train split and test images from the
    official test split, ``min(available, quota)`` each, with a seeded generator (same seed, same split).
    """
    check_choice(protocol, "protocol", PROTOCOLS)
    class_ids = sorted(index["class_id"].unique())
    names = index.drop_duplicates("class_id").set_index("class_id")["class_name"]
    labelled = index.assign(label=index["class_id"].map({c: i for i, c in enumerate(class_ids)}))
    train = labelled[labelled["is_train"] == 1]
    test = labelled[labelled["is_train"] == 0]
    if protocol == "imbalanced":
        for quota in quotas:
            for value in quota:
                check_positive_int(value, "quotas")
        rng = np.random.default_rng(seed)
        train_parts, test_parts = [], []
        for class_id in class_ids:
            n_train, n_test = quotas[0] if class_id % 2 == 1 else quotas[1]
            train_parts.append(_draw(train[train["class_id"] == class_id], n_train, rng))
            test_parts.append(_draw(test[test["class_id"] == class_id], n_test, rng))
        train, test = pd.concat(train_parts), pd.concat(test_parts)
    return Split(
        protocol=protocol,
        train=train.reset_index(drop=True),
        test=test.reset_index(drop=True),
        class_names=[str(names[c]) for c in class_ids],
    )


# ----------------------------------------------------------------------------------------------------
# The stand-in: a few generated classes in the official layout, packed the way the real archive is.

STANDIN_CLASSES = 8
STANDIN_IMAGES_PER_CLASS = 24
STANDIN_IMAGE_SIZE = 80
# the paper's quotas divided by 2.5: odd classes (4 train, 2 test), even classes (12, 6)
STANDIN_QUOTAS = ((4, 2), (12, 6))


@dataclass(frozen=True)
class StandIn:
    """A generated archive in the official layout, its md5, and the scaled imbalanced quotas."""

    archive: Path
    md5: str
    quotas: tuple[tuple[int, int], tuple[int, int]] = STANDIN_QUOTAS


def _standin_image(class_index: int, rng: np.random.Generator) -> bytes:
    """A JPEG whose colour and stripe direction depend on the class, with seeded noise and jitter."""
    from io import BytesIO

    from PIL import Image

    size = STANDIN_IMAGE_SIZE
    hue = class_index / STANDIN_CLASSES
    base = 255 * (0.5 + 0.1 * np.cos(2 * np.pi * (hue + np.array([0.0, 1 / 3, 2 / 3]))))
    yy, xx = np.mgrid[0:size, 0:size]
    angle = np.pi * (class_index % 4) / 4 + rng.normal(0, 0.15)
    frequency = 0.2 + 0.05 * (class_index // 4)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * frequency + rng.uniform(0, 6.3))
    pixels = base[None, None, :] * (0.75 + 0.25 * stripes[..., None]) + rng.normal(0, 70, (size, size, 3))
    buffer = BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _standin_files(seed: int) -> dict[str, bytes]:
    """Relative path -> content of every file of the stand-in's ``CUB_200_2011`` folder."""
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    images, labels, split, classes = [], [], [], []
    image_id = 0
    for c in range(STANDIN_CLASSES):
        class_dir = f"{c + 1:03d}.Standin_Bird_{c + 1}"
        classes.append(f"{c + 1} {class_dir}")
        # class 002 has one training image fewer, as some real classes do: quotas become min(available, quota)
        n_train = STANDIN_IMAGES_PER_CLASS // 2 - (1 if c == 1 else 0)
        for k in range(STANDIN_IMAGES_PER_CLASS):
            image_id += 1
            path = f"{class_dir}/Standin_Bird_{c + 1}_{k + 1:04d}.jpg"
            files[f"images/{path}"] = _standin_image(c, rng)
            images.append(f"{image_id} {path}")
            labels.append(f"{image_id} {c + 1}")
            split.append(f"{image_id} {int(k < n_train)}")
    for name, lines in zip(INDEX_FILES, (images, labels, split, classes)):
        files[name] = ("\n".join(lines) + "\n").encode()
    return files


def make_standin(root: Path, seed: int = 0) -> StandIn:
    """Write ``root/CUB_200_2011.tgz``, a small generated dataset in the official layout, and return
    it with its md5. Byte-identical for the same seed (fixed timestamps and ordering)."""
    import gzip
    from io import BytesIO

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "CUB_200_2011.tgz"
    files = _standin_files(seed)
    buffer = BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        directories = sorted({str(PurePosixPath(FOLDER, p).parent) for p in files} | {FOLDER})
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(f"{FOLDER}/{path}")
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, BytesIO(content))
    atomic_write_bytes(archive, buffer.getvalue())
    return StandIn(archive=archive, md5=hashlib.md5(buffer.getvalue()).hexdigest())


DATASETS = ("stand-in", "CUB-200-2011")


def load_dataset(
    dataset: str, root: Path | str = "", download_missing: bool = False, standin_seed: int = 0,
    progress: bool = True,
) -> tuple[Path, tuple[tuple[int, int], tuple[int, int]]]:
    """The extracted folder of ``dataset`` under ``root`` (default ``data_root()``) and its imbalanced
    quotas. The stand-in is generated, "downloaded" from its own file URL, checked and extracted like
    the real archive, into ``root/stand-in/<md5 prefix>/``."""
    check_choice(dataset, "dataset", DATASETS)
    if not isinstance(download_missing, bool):
        raise ValueError(f"download: expected True or False, got {download_missing!r}")
    root = Path(root) if root else data_root()
    if dataset == "CUB-200-2011":
        return fetch_and_extract(root, download_missing=download_missing, progress=progress), PAPER_QUOTAS
    standin = make_standin(root / "stand-in" / "source", standin_seed)
    folder = fetch_and_extract(
        root / "stand-in" / standin.md5[:12], url=standin.archive.as_uri(), md5=standin.md5,
        download_missing=True, progress=progress,
    )
    return folder, standin.quotas
