"""The dataset registry: names -> loaders of the official on-disk formats, plus the data-dir convention.

The data dir is a root that holds the official layouts side by side (`MNIST/raw/`, `cifar-10-batches-py/`,
`medmnist/organamnist.npz`, ...), like ../shared/data. Nothing is downloaded unless asked for.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ..errors import DataError
from ..registry import Entry, Registry
from .base import DatasetInfo, ImageDataset, TextDataset
from .digits import load_digits
from .medmnist_sets import medmnist_description, medmnist_info, medmnist_names
from .presence import PRESENT, availability
from .text_sets import TEXT_DATASETS
from .tiny_imagenet import download_tiny_imagenet, load_tiny_imagenet
from .torchvision_sets import (download_with, load_cifar10, load_cifar100, load_fashionmnist, load_mnist,
                               load_svhn)

__all__ = ["DATASETS", "ImageDataset", "TextDataset", "default_data_dir", "load_dataset"]


class DatasetRegistry(Registry[DatasetInfo]):
    """The built-in datasets, plus the user's own (`user_sets.register`), which join for the life of the process."""

    def put(self, name: str, info: DatasetInfo, description: str) -> None:
        """Add or replace a user dataset (`user_sets.check_name` has made sure it is no built-in)."""
        self._entries[name] = Entry(name, description, info)


DATASETS = DatasetRegistry("dataset")
DATASETS.add("digits", DatasetInfo(load_digits, "nothing: bundled with scikit-learn"),
             "scikit-learn's 8x8 handwritten digits, 10 classes; ships with the install (the default)")
DATASETS.add("mnist", DatasetInfo(load_mnist, "MNIST/raw/*-ubyte", download_with("MNIST")),
             "MNIST handwritten digits 28x28, 10 classes")
DATASETS.add("fashionmnist",
             DatasetInfo(load_fashionmnist, "FashionMNIST/raw/*-ubyte", download_with("FashionMNIST")),
             "Fashion-MNIST clothing 28x28, 10 classes")
DATASETS.add("cifar10", DatasetInfo(load_cifar10, "cifar-10-batches-py/", download_with("CIFAR10")),
             "CIFAR-10 natural images 32x32 RGB, 10 classes")
DATASETS.add("cifar100", DatasetInfo(load_cifar100, "cifar-100-python/", download_with("CIFAR100")),
             "CIFAR-100 natural images 32x32 RGB, 100 fine classes")
DATASETS.add("svhn", DatasetInfo(load_svhn, "svhn/*_32x32.mat",
                                 download_with("SVHN", "svhn", splits=({"split": "train"}, {"split": "test"}))),
             "SVHN street-view house numbers 32x32 RGB, 10 classes")
DATASETS.add("tiny-imagenet", DatasetInfo(load_tiny_imagenet, "tiny-imagenet-200/", download_tiny_imagenet),
             "Tiny ImageNet 64x64 RGB, 200 classes (val split as test set)")
for _name in medmnist_names():
    DATASETS.add(_name, medmnist_info(_name), medmnist_description(_name))
for _name, (_info, _description) in TEXT_DATASETS.items():
    DATASETS.add(_name, _info, f"{_description} [text: needs --encoder] ({_info.citation})")


def default_data_dir() -> Path:
    """`AUTOAL_DATA_DIR` if set, else the user's cache folder."""
    if os.environ.get("AUTOAL_DATA_DIR"):
        return Path(os.environ["AUTOAL_DATA_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "alscope-autoal" / "data"


def load_dataset(name: str, data_dir: Path | str | None = None,
                 download: bool = False) -> ImageDataset | TextDataset:
    """Read a registered dataset from `data_dir`, fetching it first when `download` is set."""
    from .user_sets import dataset_key

    DATASETS.check(name)
    key = dataset_key(name)
    root = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    if key:  # a user's file: read the same whatever the data dir, never downloaded
        return _load_cached(name, Path("/"), False, key)
    return _load_cached(name, root, download, key)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, root: Path, download: bool, key: str) -> ImageDataset | TextDataset:
    """`key`: a user dataset's path and content hash, so an edited or renamed file is read again."""
    info = DATASETS.get(name)
    if download and info.download is not None and availability(info, root) != PRESENT:  # fetched once, not per run
        try:
            root.mkdir(parents=True, exist_ok=True)
            info.download(root)
        except (OSError, RuntimeError) as exc:
            raise DataError(f"could not download {name!r} into {root}: {exc}") from None
    return info.load(root)
