"""The four formats of a user's own dataset (`user_sets.py`), read and checked: each problem is a one-line
`DataError` that names the dataset, its path and what to change."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import ImageDataset, TextDataset, to_tensors

IMAGE_KEYS = ("x_train", "y_train", "x_test", "y_test")
EMBEDDING_KEYS = ("train_embeddings", "y_train", "test_embeddings", "y_test")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t"}
SPLITS = ("train", "test")


def unreadable(path: Path, name: str, reason: object) -> DataError:
    return DataError(f"dataset {name!r}: cannot read {path} ({reason}); check the file (see docs/own-dataset.md)")


def bad(source, problem: str) -> DataError:
    """`source`: a `user_sets.UserSource`."""
    return DataError(f"dataset {source.name!r} ({source.path}): {problem}")


def read_npz(source, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    path = Path(source.path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise bad(source, f"missing arrays {', '.join(missing)}; the file needs {', '.join(keys)}")
            return {key: npz[key] for key in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise unreadable(path, source.name, exc) from None


def labels(source, y: np.ndarray, key: str) -> np.ndarray:
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


def check_lengths(source, x: np.ndarray, y: np.ndarray, x_key: str, y_key: str) -> None:
    if len(x) != len(y):
        raise bad(source, f"{x_key} has {len(x)} samples but {y_key} has {len(y)} labels")
    if len(y) == 0:
        raise bad(source, f"{x_key} is empty")


def class_count(source, y_train: np.ndarray, y_test: np.ndarray) -> int:
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


def channels_first(source, x: np.ndarray, key: str) -> np.ndarray:
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


def load_images(source) -> ImageDataset:
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


def image_dataset(source, split: dict[str, tuple[np.ndarray, np.ndarray]],
                  classes: list[str] | None = None) -> ImageDataset:
    n_classes = class_count(source, split["train"][1], split["test"][1])
    train, test = (to_tensors(*split[name]) for name in SPLITS)
    return ImageDataset(source.name, *train, *test, classes=classes or [str(c) for c in range(n_classes)])


def load_embeddings(source) -> ImageDataset:
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
                        classes=[str(c) for c in range(n_classes)])


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


def load_image_folder(source) -> ImageDataset:
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


def check_folder_classes(source, classes: list[str], files: dict) -> None:
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


def check_one_size(source, headers: dict[Path, tuple[tuple[int, int], str]]) -> None:
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


def read_rows(source, path: Path) -> tuple[list[str], list[str]]:
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


def text_labels(source, train: list[str], test: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
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


def load_text(source) -> TextDataset:
    train_path, test_path = source.files()
    train_texts, train_labels = read_rows(source, train_path)
    test_texts, test_labels = read_rows(source, test_path)
    y_train, y_test, classes = text_labels(source, train_labels, test_labels)
    return TextDataset(source.name, train_texts, torch.from_numpy(y_train), test_texts, torch.from_numpy(y_test),
                       classes)
