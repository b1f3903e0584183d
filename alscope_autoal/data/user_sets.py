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

A user dataset joins the dataset registry under its name for the life of the process (`register`). Its content
hash (`UserSource.sha256`) is part of every job's identity, its path is not: an edited file makes new jobs, a moved
one does not. Every check runs when the sweep is planned, so bad input stops it before any job runs.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, UserError
from .base import DatasetInfo, ImageDataset, TextDataset, sha256_file, to_tensors

IMAGE_KEYS = ("x_train", "y_train", "x_test", "y_test")
EMBEDDING_KEYS = ("train_embeddings", "y_train", "test_embeddings", "y_test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PATH_SUFFIXES = (".npz", ".csv", ".tsv")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
SHORT = 16  # hex digits of the content hash in a job's identity
SPLITS = ("train", "test")
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


def unreadable(path: Path, name: str, reason: object) -> DataError:
    return DataError(f"dataset {name!r}: cannot read {path} ({reason}); check the file (see docs/own-dataset.md)")


def bad(source: UserSource, problem: str) -> DataError:
    return DataError(f"dataset {source.name!r} ({source.path}): {problem}")


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


# ---- loading and checking ----------------------------------------------------------------------------------------

def load_source(source: UserSource, root: Path | None = None) -> ImageDataset | TextDataset:
    """Read and check a user dataset (`root`, the data dir, is not used: the source knows its path)."""
    loaders = {"images": load_images, "embeddings": load_embeddings, "image-folder": load_image_folder,
               "text": load_text}
    return loaders[source.format](source)


def read_npz(source: UserSource, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(source.path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise bad(source, f"missing arrays {', '.join(missing)}; the file needs {', '.join(keys)}")
            return {key: npz[key] for key in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise unreadable(path, source.name, exc) from None


def labels(source: UserSource, y: np.ndarray, key: str) -> np.ndarray:
    """One integer label per sample, 0 or more."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise bad(source, f"{key} has shape {y.shape}: expected one label per sample (N, or N x 1)")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise bad(source, f"{key} holds {y.dtype} values: labels must be integer classes 0..C-1")
    if len(y) and y.min() < 0:
        raise bad(source, f"{key} holds the label {y.min()}: labels must be integer classes 0..C-1")
    return y.astype(np.int64)


def check_lengths(source: UserSource, x: np.ndarray, y: np.ndarray, x_key: str, y_key: str) -> None:
    if len(x) != len(y):
        raise bad(source, f"{x_key} has {len(x)} samples but {y_key} has {len(y)} labels")
    if len(y) == 0:
        raise bad(source, f"{x_key} is empty")


def class_count(source: UserSource, y_train: np.ndarray, y_test: np.ndarray) -> int:
    """C = the largest training label + 1; every class 0..C-1 must have a training sample, and the test set only
    classes the training set has."""
    n_classes = int(y_train.max()) + 1
    empty = np.flatnonzero(np.bincount(y_train, minlength=n_classes) == 0)
    if len(empty):
        raise bad(source, f"class {empty[0]} has no training sample (the largest label {n_classes - 1} implies "
                          f"classes 0..{n_classes - 1}): number the classes 0..C-1 without gaps")
    if n_classes < 2:
        raise bad(source, "the training set holds one class; a classifier needs at least two")
    unknown = sorted(set(np.unique(y_test).tolist()) - set(range(n_classes)))
    if unknown:
        raise bad(source, f"the test set holds class {unknown[0]}, which no training sample has (classes "
                          f"0..{n_classes - 1})")
    return n_classes


def channels_first(source: UserSource, x: np.ndarray, key: str) -> np.ndarray:
    """N x H x W, N x H x W x C or N x C x H x W uint8 (C = 1 or 3) -> N x C x H x W."""
    if x.dtype != np.uint8:
        raise bad(source, f"{key} holds {x.dtype} values: images must be uint8 pixels 0-255 (from floats in 0-1: "
                          "(x * 255).round().astype('uint8'))")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3):
        return x.transpose(0, 3, 1, 2)
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return x
    raise bad(source, f"{key} has shape {x.shape}: expected N x H x W (grey), N x H x W x C or N x C x H x W with "
                      "C = 1 or 3 channels")


def load_images(source: UserSource) -> ImageDataset:
    arrays = read_npz(source, IMAGE_KEYS)
    split = {}
    for name in SPLITS:
        y = labels(source, arrays[f"y_{name}"], f"y_{name}")
        check_lengths(source, arrays[f"x_{name}"], y, f"x_{name}", f"y_{name}")
        split[name] = (channels_first(source, arrays[f"x_{name}"], f"x_{name}"), y)
    if split["train"][0].shape[1:] != split["test"][0].shape[1:]:
        raise bad(source, f"x_train's images are {shape_text(split['train'][0])} but x_test's are "
                          f"{shape_text(split['test'][0])}: both need one shape")
    return image_dataset(source, split)


def shape_text(x: np.ndarray) -> str:
    return f"{x.shape[2]}x{x.shape[3]} with {x.shape[1]} channel(s)"


def image_dataset(source: UserSource, split: dict[str, tuple[np.ndarray, np.ndarray]],
                  classes: list[str] | None = None) -> ImageDataset:
    n_classes = class_count(source, split["train"][1], split["test"][1])
    train, test = (to_tensors(*split[name]) for name in SPLITS)
    return ImageDataset(source.name, *train, *test, classes=classes or [str(c) for c in range(n_classes)],
                        fingerprint=file_fingerprint(source))


def file_fingerprint(source: UserSource) -> dict[str, str]:
    """What the result footer records of the files read: each file's sha256, or a folder's content hash."""
    path = Path(source.path)
    if source.format == "image-folder":
        return {f"{path.name}/ (train and test images)": content_hash(
            tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in source.files()), str(path))}
    return {p.name: sha256_file(p) for p in source.files()}


def load_embeddings(source: UserSource) -> ImageDataset:
    arrays = read_npz(source, EMBEDDING_KEYS)
    split = {}
    for name in SPLITS:
        x, key = arrays[f"{name}_embeddings"], f"{name}_embeddings"
        y = labels(source, arrays[f"y_{name}"], f"y_{name}")
        if not np.issubdtype(x.dtype, np.floating) or x.ndim != 2:
            raise bad(source, f"{key} is {x.dtype} of shape {x.shape}: expected float features, N x D")
        check_lengths(source, x, y, key, f"y_{name}")
        if not np.isfinite(x).all():
            raise bad(source, f"{key} holds NaN or infinite values")
        split[name] = (x, y)
    if split["train"][0].shape[1] != split["test"][0].shape[1]:
        raise bad(source, f"train_embeddings have {split['train'][0].shape[1]} dimensions but test_embeddings "
                          f"{split['test'][0].shape[1]}")
    n_classes = class_count(source, split["train"][1], split["test"][1])
    as_float = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # noqa: E731
    as_labels = lambda y: torch.from_numpy(y.copy())  # noqa: E731
    return ImageDataset(source.name, as_float(split["train"][0]), as_labels(split["train"][1]),
                        as_float(split["test"][0]), as_labels(split["test"][1]),
                        classes=[str(c) for c in range(n_classes)], fingerprint=file_fingerprint(source))


# ---- image folder trees ------------------------------------------------------------------------------------------

def class_folders(root: Path, split: str) -> list[Path]:
    return sorted(p for p in (root / split).iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(root: Path, split: str) -> list[tuple[str, Path]]:
    """(class name, image path) of one split, in class then file-name order."""
    if not (root / split).is_dir():
        raise DataError(f"dataset folder {root} has no {split}/ folder: expected train/<class>/<image> and "
                        "test/<class>/<image>")
    return [(folder.name, path) for folder in class_folders(root, split) for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")]


def load_image_folder(source: UserSource) -> ImageDataset:
    from PIL import Image, UnidentifiedImageError

    root = Path(source.path)
    classes = [folder.name for folder in class_folders(root, "train")]
    files = {split: image_files(root, split) for split in SPLITS}
    check_folder_classes(source, classes, files)
    headers = {}
    for _, path in files["train"] + files["test"]:
        try:
            with Image.open(path) as image:
                headers[path] = (image.size, image.mode)
        except (OSError, UnidentifiedImageError) as exc:
            raise unreadable(path, source.name, exc) from None
    check_one_size(source, headers)
    mode = "L" if all(m in ("L", "1", "I", "I;16", "F") for _, m in headers.values()) else "RGB"
    split = {name: (np.stack([read_image(path, mode) for _, path in files[name]]),
                    np.array([classes.index(c) for c, _ in files[name]], dtype=np.int64)) for name in SPLITS}
    return image_dataset(source, {name: (channels_first(source, x, f"{name}/ images"), y)
                                  for name, (x, y) in split.items()}, classes)


def check_folder_classes(source: UserSource, classes: list[str], files: dict) -> None:
    counts = {c: 0 for c in classes}
    for c, _ in files["train"]:
        counts[c] += 1
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise bad(source, f"train/{empty[0]}/ holds no image ({', '.join(sorted(IMAGE_SUFFIXES))}): every class "
                          "needs training images")
    if len(classes) < 2:
        raise bad(source, f"train/ holds {len(classes)} class folder(s); a classifier needs at least two")
    unknown = sorted({c for c, _ in files["test"]} - set(classes))
    if unknown:
        raise bad(source, f"test/{unknown[0]}/ is a class that train/ does not have")
    if not files["test"]:
        raise bad(source, "test/ holds no image")


def check_one_size(source: UserSource, headers: dict[Path, tuple[tuple[int, int], str]]) -> None:
    sizes: dict[tuple[int, int], Path] = {}
    for path, (size, _) in headers.items():
        sizes.setdefault(size, path)
    if len(sizes) > 1:
        (a, pa), (b, pb) = list(sizes.items())[:2]
        raise bad(source, f"images of different sizes: {pa.relative_to(source.path)} is {a[0]}x{a[1]}, "
                          f"{pb.relative_to(source.path)} is {b[0]}x{b[1]}; resize them to one size first (e.g. "
                          "with PIL's Image.resize)")


def read_image(path: Path, mode: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert(mode), dtype=np.uint8)


# ---- text ------------------------------------------------------------------------------------------------------

def text_file(root: Path, split: str, name: str) -> Path:
    for suffix in TEXT_SUFFIXES:
        if (root / f"{split}{suffix}").is_file():
            return root / f"{split}{suffix}"
    raise DataError(f"dataset {name!r}: the folder {root} has no {split}.csv or {split}.tsv")


def read_rows(source: UserSource, path: Path) -> tuple[list[str], list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=TEXT_SUFFIXES[path.suffix])
            missing = [c for c in ("text", "label") if c not in (reader.fieldnames or [])]
            if missing:
                raise bad(source, f"{path.name} has no {' or '.join(missing)} column (its header: "
                                  f"{', '.join(reader.fieldnames or ['none'])}); it needs 'text' and 'label'")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise unreadable(path, source.name, exc) from None
    if not rows:
        raise bad(source, f"{path.name} holds no rows")
    for number, row in enumerate(rows, 2):
        if not (row["text"] or "").strip() or not (row["label"] or "").strip():
            raise bad(source, f"{path.name} line {number} has an empty text or label")
    return [row["text"] for row in rows], [row["label"].strip() for row in rows]


def text_labels(source: UserSource, train: list[str], test: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Integer labels are classes 0..C-1; any other labels are class names, numbered in sorted order."""
    if all(re.fullmatch(r"-?\d+", label) for label in train + test):
        y_train = labels(source, np.array([int(v) for v in train]), "train's label column")
        y_test = labels(source, np.array([int(v) for v in test]), "test's label column")
        n_classes = class_count(source, y_train, y_test)
        return y_train, y_test, [str(c) for c in range(n_classes)]
    classes = sorted(set(train))
    unknown = sorted(set(test) - set(classes))
    if unknown:
        raise bad(source, f"the test set holds the label {unknown[0]!r}, which no training row has")
    if len(classes) < 2:
        raise bad(source, "the training rows hold one label; a classifier needs at least two")
    index = {c: i for i, c in enumerate(classes)}
    return (np.array([index[v] for v in train], dtype=np.int64), np.array([index[v] for v in test], dtype=np.int64),
            classes)


def load_text(source: UserSource) -> TextDataset:
    train_path, test_path = source.files()
    train_texts, train_labels = read_rows(source, train_path)
    test_texts, test_labels = read_rows(source, test_path)
    y_train, y_test, classes = text_labels(source, train_labels, test_labels)
    return TextDataset(source.name, train_texts, torch.from_numpy(y_train), test_texts, torch.from_numpy(y_test),
                       classes, fingerprint=file_fingerprint(source))


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
