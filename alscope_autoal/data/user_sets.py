"""Datasets from outside the package: a user's own files, named by path on `--datasets` (docs/own-dataset.md).

What the path holds decides the format:
- `images`: one `.npz` with `x_train`, `y_train`, `x_test`, `y_test`; uint8 images N x H x W (grey), N x H x W x C
  or N x C x H x W (C = 1 or 3), integer labels 0..C-1 (shape N or N x 1, as MedMNIST's files);
- `embeddings`: one `.npz` with `train_embeddings`, `y_train`, `test_embeddings`, `y_test`; float N x D features
  the `linear` profile learns on as they are (no encoder);
- `image-folder`: a folder with `train/<class>/<image>` and `test/<class>/<image>` (torchvision's ImageFolder:
  classes are the train folder names in sorted order), every image one size;
- `text`: a folder with `train.csv` and `test.csv` (or `.tsv`) holding `text` and `label` columns, for the text
  encoders.

The formats are read and checked in `user_formats.py`. A user dataset joins the dataset registry under its name for the life of the process (`register`). Its content
hash (`UserSource.sha256`) is part of every job's identity, its path is not: an edited file makes new jobs, a moved
one does not. Every check runs when the sweep is planned, so bad input stops it before any job runs.
"""

from __future__ import annotations

import functools
import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UserError
from .base import DatasetInfo, ImageDataset, TextDataset, sha256_file
from .user_formats import (TEXT_SUFFIXES, SPLITS, image_files, load_embeddings, load_image_folder, load_images,
                           load_text, text_file, unreadable)

PATH_SUFFIXES = (".npz", ".csv", ".tsv")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
SHORT = 16  # hex digits of the content hash in a job's identity
MODALITY = {"images": "image", "image-folder": "image", "embeddings": "embeddings", "text": "text"}


@dataclass(frozen=True)
class UserSource:
    """A user's dataset: the name results show, where its file or folder is (absolute) and its format."""

    name: str
    path: str
    format: str

    def files(self) -> list[Path]:
        """The files the loader reads, in a fixed order (their bytes make the content hash)."""
        path = Path(self.path)
        if self.format == "text":
            return [text_file(path, split, self.name) for split in SPLITS]
        if self.format == "image-folder":
            return [file for split in SPLITS for _, file in image_files(path, split)]
        return [path]

    def sha256(self) -> str:
        """The short content hash of its files (and, for folders, their relative paths)."""
        root = Path(self.path)
        stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in self.files())
        return content_hash(stamps, str(root) if root.is_dir() else "")[:SHORT]

    def describe(self) -> str:
        return f"your {self.format} dataset at {self.path}"


@functools.lru_cache(maxsize=64)
def content_hash(stamps: tuple[tuple[str, int, int], ...], root: str) -> str:
    """A file's sha256 (what `sha256sum` prints); for a folder, the sha256 over each file's relative path and
    sha256. Hashed once per process and file version (size and mtime in the key)."""
    if not root:
        return sha256_file(Path(stamps[0][0]))
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        digest.update(str(Path(name).relative_to(root)).encode() + b"\0")
        digest.update(bytes.fromhex(sha256_file(Path(name))))
    return digest.hexdigest()


# ---- naming: what --datasets entries mean ------------------------------------------------------------------------

def looks_like_path(entry: str) -> bool:
    """A `--datasets` entry that names a user's file: NAME=PATH, anything with '/', a data file's suffix, or a folder."""
    return "=" in entry or "/" in entry or entry.endswith(PATH_SUFFIXES) or Path(entry).is_dir()


def parse_entry(entry: str, base: Path | str | None = None) -> UserSource:
    """`[NAME=]PATH` -> its source; PATH is relative to `base` (the current folder by default), NAME defaults to the
    file or folder name without its suffix."""
    name, sep, path_text = entry.partition("=")
    if not sep:
        name, path_text = "", entry
    path = (Path(base or Path.cwd()) / Path(path_text.strip()).expanduser()).resolve()
    name = name.strip() or (path.stem if path.suffix in PATH_SUFFIXES else path.name)
    check_name(name, entry)
    if not path.exists():
        raise DataError(f"dataset {name!r}: no file or folder at {path}; check the path after --datasets "
                        f"(relative paths start from {Path(base or Path.cwd())})")
    return UserSource(name, str(path), detect_format(path, name))


def check_name(name: str, entry: str) -> None:
    from . import DATASETS

    if not NAME.match(name):
        raise UserError(f"cannot name a dataset {name!r} (from {entry!r}): name it with --datasets NAME=PATH, NAME "
                        "made of letters, digits, '.', '_', '+' or '-'")
    if name in DATASETS and user_source(name) is None:
        raise UserError(f"{name!r} is a built-in dataset: name yours another way, e.g. --datasets my-{name}={entry}")


def detect_format(path: Path, name: str) -> str:
    if path.is_dir():
        if any((path / f"train{suffix}").is_file() for suffix in TEXT_SUFFIXES):
            return "text"
        if (path / "train").is_dir():
            return "image-folder"
        raise DataError(f"dataset {name!r}: the folder {path} holds neither train/<class>/ image folders nor "
                        "train.csv and test.csv (see docs/own-dataset.md)")
    if path.suffix in TEXT_SUFFIXES:
        raise DataError(f"dataset {name!r}: a text dataset is a folder with train{path.suffix} and "
                        f"test{path.suffix}: give the folder {path.parent} instead of the file")
    if path.suffix != ".npz":
        raise DataError(f"dataset {name!r}: cannot tell the format of {path}: give a .npz file, an image folder "
                        "tree or a folder with train.csv and test.csv (see docs/own-dataset.md)")
    keys = npz_keys(path, name)
    if "train_embeddings" in keys:
        return "embeddings"
    if "x_train" in keys:
        return "images"
    raise DataError(f"dataset {name!r}: {path} holds neither x_train, y_train, x_test, y_test (images) nor "
                    f"train_embeddings, y_train, test_embeddings, y_test (embeddings); it has {', '.join(keys)}")


def npz_keys(path: Path, name: str) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return list(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise unreadable(path, name, exc) from None


# ---- the process's user datasets ---------------------------------------------------------------------------------

_SOURCES: dict[str, UserSource] = {}


def user_source(name: str) -> UserSource | None:
    return _SOURCES.get(name)


def register(source: UserSource) -> None:
    """Make `source` a dataset of this process's registry (replacing an earlier user dataset of that name)."""
    from . import DATASETS

    check_name(source.name, source.path)
    _SOURCES[source.name] = source
    DATASETS.put(source.name, DatasetInfo(functools.partial(load_source, source), source.path,
                                          modality=MODALITY[source.format]), source.describe())


def register_all(sources) -> None:
    for source in sources:
        if _SOURCES.get(source.name) != source:
            register(source)


def dataset_key(name: str) -> str:
    """'' for a built-in dataset; for a user's, its content hash (so caches never mix two versions of one name)."""
    source = user_source(name)
    return f"{source.path}@{source.sha256()}" if source else ""


# ---- loading ------------------------------------------------------------------------------------------------

def load_source(source: UserSource, root: Path | None = None) -> ImageDataset | TextDataset:
    """Read and check a user dataset (`root`, the data dir, is not used: the source knows its path)."""
    loaders = {"images": load_images, "embeddings": load_embeddings, "image-folder": load_image_folder,
               "text": load_text}
    data = loaders[source.format](source)
    data.fingerprint = file_fingerprint(source)
    return data


def file_fingerprint(source: UserSource) -> dict[str, str]:
    """What the result footer records of the files read: each file's sha256, or a folder's content hash."""
    path = Path(source.path)
    if source.format == "image-folder":
        return {f"{path.name}/ (train and test images)": content_hash(
            tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in source.files()), str(path))}
    return {p.name: sha256_file(p) for p in source.files()}


def summary(source: UserSource, data: ImageDataset | TextDataset) -> str:
    """One line for `--dry-run`: what was read, its size and classes, its content hash."""
    if isinstance(data, TextDataset):
        shape = "text"
    elif data.train_x.ndim == 2:
        shape = f"{data.train_x.shape[1]}-d embeddings"
    else:
        shape = f"{data.train_x.shape[2]}x{data.train_x.shape[3]}x{data.train_x.shape[1]} images"
    return (f"{source.name}: {source.format} from {source.path}; {len(data.train_y):,} train / {len(data.test_y):,} "
            f"test, {data.n_classes} classes, {shape}; sha256 {source.sha256()}")


def source_record(name: str) -> dict[str, dict[str, str]]:
    """What a result footer records of a user dataset (`dataset_source`: format, path, content hash); {} for a
    built-in."""
    source = user_source(name)
    if source is None:
        return {}
    return {"dataset_source": {"format": source.format, "path": source.path, "sha256": source.sha256()}}


def sources_of(names) -> tuple[UserSource, ...]:
    """The user datasets among `names`, for the workers that will read them."""
    return tuple(dict.fromkeys(s for name in names if (s := user_source(name)) is not None))
