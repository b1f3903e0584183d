"""scikit-learn's bundled 8x8 digits: the embedded default, shipped with the install and read with no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import ImageDataset, sha256_file, to_tensors

# Digits has no official test split; a fixed stratified one (seed 0, 30 % test) plays that role so that every
# repetition is scored on the same test set, as with the official splits of the other datasets.
TEST_FRACTION = 0.3
SPLIT_SEED = 0


def load_digits(data_dir: Path) -> ImageDataset:
    from sklearn import datasets as skd
    from sklearn.model_selection import train_test_split

    bunch = skd.load_digits()
    images = np.clip(bunch.images * 16, 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    idx_train, idx_test = train_test_split(
        np.arange(len(images)), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=bunch.target
    )
    source = Path(skd.__file__).parent / "data" / "digits.csv.gz"
    train_x, train_y = to_tensors(images[idx_train], bunch.target[idx_train])
    test_x, test_y = to_tensors(images[idx_test], bunch.target[idx_test])
    return ImageDataset(
        name="digits",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        classes=[str(d) for d in range(10)],
        fingerprint={source.name: sha256_file(source)} if source.is_file() else {},
    )
