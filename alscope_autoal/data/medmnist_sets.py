"""Every single-label 2D MedMNIST set at 28x28, read from the official `.npz` files.

Names, classes and channels come from the `medmnist` package's metadata, so new sets appear without code.
The multi-label ChestMNIST and the 3D sets are left out: the loop is single-label classification on images.
"""

from __future__ import annotations

import functools
import importlib.util
import zipfile
from pathlib import Path

import numpy as np

from .base import DatasetInfo, ImageDataset, corrupt, require_file, sha256_file, to_tensors

SINGLE_LABEL_TASKS = {"multi-class", "binary-class", "ordinal-regression"}
SPLITS = ("train", "val", "test")


@functools.lru_cache(maxsize=1)
def medmnist_table() -> dict:
    """`medmnist.INFO`, read from its own module: importing the package costs seconds (it imports sklearn)."""
    package_dir = importlib.util.find_spec("medmnist").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location("_medmnist_info", Path(package_dir) / "info.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.INFO


def medmnist_names() -> list[str]:
    INFO = medmnist_table()
    return [name for name, info in INFO.items()
            if info["task"] in SINGLE_LABEL_TASKS and not name.endswith("3d")]


def medmnist_file(data_dir: Path, name: str) -> Path:
    """The official file name; `medmnist/` under the data dir is preferred, the data dir itself accepted."""
    nested = data_dir / "medmnist" / f"{name}.npz"
    flat = data_dir / f"{name}.npz"
    return flat if flat.is_file() and not nested.is_file() else nested


def read_npz(path: Path, name: str) -> dict[str, np.ndarray]:
    keys = [f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels")]
    try:
        with np.load(path) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            return {k: npz[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise corrupt(path, name, exc) from None


def load_medmnist(name: str, data_dir: Path) -> ImageDataset:
    info = medmnist_table()[name]
    path = require_file(medmnist_file(data_dir, name), name, f"the official medmnist/{name}.npz under the data dir")
    arrays = read_npz(path, name)
    tensors = {}
    for split in SPLITS:
        images = arrays[f"{split}_images"]
        if images.ndim == 4:  # (N, H, W, C) colour sets
            images = images.transpose(0, 3, 1, 2)
        tensors[split] = to_tensors(images, arrays[f"{split}_labels"])
    classes = [info["label"][str(i)] for i in range(len(info["label"]))]
    return ImageDataset(name, *tensors["train"], *tensors["test"], classes=classes,
                        fingerprint={path.name: sha256_file(path)}, val_x=tensors["val"][0],
                        val_y=tensors["val"][1])


def medmnist_info(name: str) -> DatasetInfo:
    def load(data_dir: Path) -> ImageDataset:
        return load_medmnist(name, data_dir)

    def download(data_dir: Path) -> None:
        import medmnist

        root = data_dir / "medmnist"
        root.mkdir(parents=True, exist_ok=True)
        getattr(medmnist, medmnist_table()[name]["python_class"])(split="train", root=str(root), download=True)

    return DatasetInfo(load, f"medmnist/{name}.npz", download)


def medmnist_description(name: str) -> str:
    info = medmnist_table()[name]
    return f"MedMNIST {info['python_class']} 28x28, {len(info['label'])} classes ({info['task']})"
