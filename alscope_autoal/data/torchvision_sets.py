"""MNIST, Fashion-MNIST, CIFAR-10/100 and SVHN, read from the files torchvision's downloaders write.

The files are parsed directly instead of through torchvision's dataset classes: those check a table of MD5 sums
that valid rebuilt copies (such as the CIFAR-10 in ../shared/data) fail. Every file read is fingerprinted instead.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from .base import ImageDataset, corrupt, require_file, sha256_file, to_tensors

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
IDX_DTYPE = {0x08: np.uint8}


def read_idx(path: Path, dataset: str) -> np.ndarray:
    """Parse one idx file (plain or .gz): magic 0x0000 <dtype> <ndim>, big-endian dims, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        if raw[:2] != b"\x00\x00" or raw[2] not in IDX_DTYPE:
            raise ValueError("bad idx magic number")
        ndim = raw[3]
        dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
        data = np.frombuffer(raw, dtype=IDX_DTYPE[raw[2]], offset=4 + 4 * ndim)
        return data.reshape(dims)
    except (OSError, ValueError, EOFError) as exc:
        raise corrupt(path, dataset, exc) from None


def find_idx(raw_dir: Path, stem: str, dataset: str, layout: str) -> Path:
    gz = raw_dir / f"{stem}.gz"
    return gz if gz.is_file() and not (raw_dir / stem).is_file() else require_file(raw_dir / stem, dataset, layout)


def load_idx_set(data_dir: Path, folder: str, dataset: str, classes: list[str]) -> ImageDataset:
    raw_dir = data_dir / folder / "raw"
    layout = f"the idx files {folder}/raw/train-images-idx3-ubyte etc. under the data dir"
    arrays, fingerprint = {}, {}
    for split, stems in IDX_FILES.items():
        paths = [find_idx(raw_dir, stem, dataset, layout) for stem in stems]
        images, labels = (read_idx(p, dataset) for p in paths)
        if len(images) != len(labels):
            raise corrupt(paths[0], dataset, f"{len(images)} images but {len(labels)} labels")
        arrays[split] = to_tensors(images, labels)
        fingerprint.update({p.name: sha256_file(p) for p in paths})
    return ImageDataset(dataset, *arrays["train"], *arrays["test"], classes=classes, fingerprint=fingerprint)


def load_mnist(data_dir: Path) -> ImageDataset:
    return load_idx_set(data_dir, "MNIST", "mnist", MNIST_CLASSES)


def load_fashionmnist(data_dir: Path) -> ImageDataset:
    return load_idx_set(data_dir, "FashionMNIST", "fashionmnist", FASHION_CLASSES)


def read_pickle(path: Path, dataset: str) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise corrupt(path, dataset, exc) from None


def cifar_arrays(batches: list[dict], label_key: str, path: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(b[label_key]) for b in batches])
    except (KeyError, ValueError) as exc:
        raise corrupt(path, dataset, f"unexpected batch content: {exc}") from None
    return x, y


def load_cifar(data_dir: Path, dataset: str, folder: str, train_files: list[str], test_file: str,
               meta_file: str, label_key: str, names_key: str) -> ImageDataset:
    root = data_dir / folder
    layout = f"the pickled batches {folder}/{train_files[0]}, ..., {folder}/{test_file} under the data dir"
    paths = {name: require_file(root / name, dataset, layout) for name in [*train_files, test_file, meta_file]}
    train = cifar_arrays([read_pickle(paths[n], dataset) for n in train_files], label_key, root, dataset)
    test = cifar_arrays([read_pickle(paths[test_file], dataset)], label_key, paths[test_file], dataset)
    meta = read_pickle(paths[meta_file], dataset)
    if names_key not in meta:
        raise corrupt(paths[meta_file], dataset, f"no {names_key!r} entry")
    return ImageDataset(dataset, *to_tensors(*train), *to_tensors(*test), classes=list(meta[names_key]),
                        fingerprint={n: sha256_file(p) for n, p in paths.items()}, flips_ok=True)


def load_cifar10(data_dir: Path) -> ImageDataset:
    batches = [f"data_batch_{i}" for i in range(1, 6)]
    return load_cifar(data_dir, "cifar10", "cifar-10-batches-py", batches, "test_batch", "batches.meta",
                      "labels", "label_names")


def load_cifar100(data_dir: Path) -> ImageDataset:
    return load_cifar(data_dir, "cifar100", "cifar-100-python", ["train"], "test", "meta", "fine_labels",
                      "fine_label_names")


def read_svhn_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        x = np.transpose(mat["X"], (3, 2, 0, 1))  # (32, 32, 3, N) -> (N, 3, 32, 32)
        y = mat["y"].astype(np.int64).reshape(-1) % 10  # the digit 0 is stored as label 10
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise corrupt(path, "svhn", exc) from None
    return x, y


def load_svhn(data_dir: Path) -> ImageDataset:
    layout = "svhn/train_32x32.mat and svhn/test_32x32.mat under the data dir"
    paths = [require_file(data_dir / "svhn" / f"{s}_32x32.mat", "svhn", layout) for s in ("train", "test")]
    (train_x, train_y), (test_x, test_y) = (read_svhn_split(p) for p in paths)
    return ImageDataset("svhn", *to_tensors(train_x, train_y), *to_tensors(test_x, test_y),
                        classes=MNIST_CLASSES, fingerprint={p.name: sha256_file(p) for p in paths})


def download_with(cls_name: str, subdir: str = "", **kwargs):
    """A downloader that calls torchvision's dataset class for every split (it writes the official layout)."""

    def download(data_dir: Path) -> None:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        for split_kw in kwargs.get("splits", ({"train": True}, {"train": False})):
            cls(str(data_dir / subdir), download=True, **split_kw)

    return download
