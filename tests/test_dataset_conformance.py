"""One conformance suite over every registered dataset, image and text: each is read from a tiny file in its
official format written here, and checked for shapes, label range, class names, a deterministic fingerprint, and
a one-line error when a file is truncated. A newly registered dataset fails `test_every_dataset_has_a_fixture`
until it gets a writer below."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from alscope_autoal.data import DATASETS, ImageDataset, TextDataset
from alscope_autoal.data.medmnist_sets import medmnist_names, medmnist_table
from alscope_autoal.errors import DataError
from official_formats import (write_cifar10, write_cifar100, write_imdb, write_medmnist, write_mnist, write_mr,
                              write_sst, write_svhn, write_tiny_imagenet, write_trec, write_zhang_csv)


def medmnist_writer(name: str):
    info = medmnist_table()[name]
    return lambda root: write_medmnist(root, name, info["n_channels"], len(info["label"]))


def idx_writer(folder: str):
    def write(root: Path) -> Path:
        write_mnist(root, folder)
        return root / folder / "raw" / "train-images-idx3-ubyte"

    return write


def cifar10(root: Path) -> Path:
    write_cifar10(root)
    return root / "cifar-10-batches-py" / "data_batch_3"


def cifar100(root: Path) -> Path:
    write_cifar100(root)
    return root / "cifar-100-python" / "train"


def svhn(root: Path) -> Path:
    write_svhn(root)
    return root / "svhn" / "train_32x32.mat"


def tiny_imagenet(root: Path) -> Path:
    write_tiny_imagenet(root)
    return next((root / "tiny-imagenet-200" / "train").rglob("*.JPEG"))


# name -> writer of an official-format fixture under a data dir; it returns the file the truncation test cuts
WRITERS = {
    "mnist": idx_writer("MNIST"), "fashionmnist": idx_writer("FashionMNIST"), "cifar10": cifar10,
    "cifar100": cifar100, "svhn": svhn, "tiny-imagenet": tiny_imagenet,
    **{name: medmnist_writer(name) for name in medmnist_names()},
    "mr": write_mr, "trec": write_trec, "imdb": write_imdb, "sst5": write_sst,
    "agnews": lambda root: write_zhang_csv(root, "ag_news_csv", 4, fields=3),
    "yelp": lambda root: write_zhang_csv(root, "yelp_review_full_csv", 5),
    "dbpedia": lambda root: write_zhang_csv(root, "dbpedia_csv", 14, fields=3),
}
BUNDLED = {"digits"}  # ships with scikit-learn: read from the install, nothing to write or truncate


def load(name: str, root: Path):
    return DATASETS.get(name).load(root)


@pytest.fixture
def fixture_root(tmp_path):
    return tmp_path / "data"


def test_every_dataset_has_a_fixture():
    assert set(WRITERS) | BUNDLED == set(DATASETS.names())


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_loads_with_shapes_labels_and_class_names(fixture_root, name):
    WRITERS[name](fixture_root)
    data = load(name, fixture_root)
    assert data.name == name
    assert all(isinstance(c, str) and c for c in data.classes) and len(set(data.classes)) == len(data.classes)
    for split in ("train", "test"):
        y = getattr(data, f"{split}_y")
        assert y.dtype == torch.int64 and y.ndim == 1 and len(y) > 0
        assert 0 <= int(y.min()) and int(y.max()) < data.n_classes
        if isinstance(data, TextDataset):
            texts = getattr(data, f"{split}_texts")
            assert len(texts) == len(y) and all(isinstance(t, str) and t.strip() for t in texts)
        else:
            x = getattr(data, f"{split}_x")
            assert isinstance(data, ImageDataset) and x.dtype == torch.uint8 and x.ndim == 4 and len(x) == len(y)
            assert x.shape[1] in (1, 3)
    assert DATASETS.get(name).modality == ("text" if isinstance(data, TextDataset) else "image")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_fingerprint_is_deterministic_and_follows_the_bytes(fixture_root, name):
    cut = WRITERS[name](fixture_root)
    first, second = load(name, fixture_root).fingerprint, load(name, fixture_root).fingerprint
    assert first and first == second
    assert all(len(digest) == 64 for digest in first.values())
    if name == "tiny-imagenet":
        return  # its fingerprint covers the index files; a changed image shows in the loaded pixels
    cut.write_bytes(cut.read_bytes() + b"")  # same bytes, new mtime: same fingerprint
    assert load(name, fixture_root).fingerprint == first


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_truncated_file_is_one_line_error(fixture_root, name):
    cut = WRITERS[name](fixture_root)
    raw = cut.read_bytes()
    # half a file; an IMDB review holds free text that no truncation can be told from, so it is cut to nothing
    cut.write_bytes(b"" if name == "imdb" else raw[: len(raw) // 2 + 1])
    with pytest.raises(DataError) as err:
        load(name, fixture_root)
    assert "\n" not in str(err.value) and str(cut.name) in str(err.value)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_missing_files_say_how_to_get_them(tmp_path, name):
    with pytest.raises(DataError) as err:
        load(name, tmp_path)
    assert "\n" not in str(err.value) and "--download" in str(err.value)


def test_text_sets_read_the_official_layout_details(fixture_root):
    write_mr(fixture_root)
    mr = load("mr", fixture_root)
    assert any("café" in t for t in mr.train_texts + mr.test_texts)  # latin-1 decoded
    assert len(mr.train_texts) + len(mr.test_texts) == 40 and len(mr.test_texts) == 4  # the 90/10 split
    write_zhang_csv(fixture_root, "ag_news_csv", 4, fields=3)
    agnews = load("agnews", fixture_root)
    assert agnews.classes == ["World", "Sports", "Business", "Sci/Tech"]
    assert agnews.test_texts[0] == 'field 0 of "row" 0 class 0 field 1 of "row" 0 class 0'
    assert np.bincount(agnews.train_y.numpy()).tolist() == [4, 4, 4, 4]
    write_sst(fixture_root)
    sst = load("sst5", fixture_root)
    assert sst.test_texts[4] == "Sentence number superb" and sst.test_y.tolist() == [0, 1, 2, 3, 4]
