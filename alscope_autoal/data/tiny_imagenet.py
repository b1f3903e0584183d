"""Tiny ImageNet (200 classes, 64x64), read from the official `tiny-imagenet-200/` folder of JPEG files.

The official test split has no labels, so the labelled `val/` split serves as the test set, as is customary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ImageDataset, corrupt, require_file, sha256_file, to_tensors

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
LAYOUT = f"{FOLDER}/wnids.txt, {FOLDER}/train/<wnid>/images/*.JPEG and {FOLDER}/val/val_annotations.txt"


def read_images(paths: list[Path]) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(paths), 3, 64, 64), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                out[i] = np.asarray(img.convert("RGB").resize((64, 64))).transpose(2, 0, 1)
        except OSError as exc:
            raise corrupt(path, "tiny-imagenet", exc) from None
    return out


def load_tiny_imagenet(data_dir: Path) -> ImageDataset:
    root = data_dir / FOLDER
    wnids_file = require_file(root / "wnids.txt", "tiny-imagenet", LAYOUT)
    annotations = require_file(root / "val" / "val_annotations.txt", "tiny-imagenet", LAYOUT)
    wnids = wnids_file.read_text().split()
    train = sorted((path, label) for label, wnid in enumerate(wnids)
                   for path in (root / "train" / wnid / "images").glob("*.JPEG"))
    if not train:
        require_file(root / "train" / wnids[0] / "images" / "<any>.JPEG", "tiny-imagenet", LAYOUT)
    index = {wnid: i for i, wnid in enumerate(wnids)}
    rows = [line.split("\t")[:2] for line in annotations.read_text().splitlines() if line.strip()]
    test = [(root / "val" / "images" / name, index[wnid]) for name, wnid in rows]
    words = root / "words.txt"
    names = dict(line.split("\t", 1) for line in words.read_text().splitlines()) if words.is_file() else {}
    train_x, test_x = read_images([p for p, _ in train]), read_images([p for p, _ in test])
    return ImageDataset(
        "tiny-imagenet", *to_tensors(train_x, [y for _, y in train]), *to_tensors(test_x, [y for _, y in test]),
        classes=[names.get(w, w) for w in wnids], flips_ok=True,
        fingerprint={"wnids.txt": sha256_file(wnids_file), "val_annotations.txt": sha256_file(annotations)},
    )


def download_tiny_imagenet(data_dir: Path) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(URL, str(data_dir))
