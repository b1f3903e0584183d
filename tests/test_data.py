"""Loaders: real offline copies from ../shared/data, tiny official-format files for the rest, and bad files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from alscope_autoal.data import DATASETS, load_dataset
from alscope_autoal.errors import DataError, UserError
import official_formats as fmt


def test_digits_is_embedded_and_split_is_fixed():
    data = load_dataset("digits")
    assert data.train_x.shape == (1257, 1, 8, 8) and data.test_x.shape == (540, 1, 8, 8)
    assert data.n_classes == 10 and data.train_x.dtype.is_floating_point is False
    assert "digits.csv.gz" in data.fingerprint
    assert np.array_equal(load_dataset("digits").test_y, data.test_y)


@pytest.mark.parametrize("name, sizes, n_classes, channels", [
    ("organamnist", (34561, 6491, 17778), 11, 1),
    ("breastmnist", (546, 78, 156), 2, 1),
])
@pytest.mark.slow
def test_shared_medmnist(shared_data, name, sizes, n_classes, channels):
    data = load_dataset(name, shared_data)
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == sizes
    assert data.n_classes == n_classes and data.n_channels == channels and data.image_size == 28
    assert int(data.train_y.max()) == n_classes - 1
    assert len(data.fingerprint[f"{name}.npz"]) == 64


@pytest.mark.parametrize("name", ["mnist", "fashionmnist"])
@pytest.mark.slow
def test_shared_idx_sets(shared_data, name):
    data = load_dataset(name, shared_data)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert sorted(np.unique(data.train_y.numpy())) == list(range(10))
    assert len(data.fingerprint) == 4


def rebuilt_cifar10(shared_data) -> Path:
    """Run the shared build script once per machine; the result is cached by the archive's size and date."""
    archive = next((shared_data / "cifar10-jpeg").glob("*.tar.gz"))
    stat = archive.stat()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alscope-autoal-tests"
    target = cache / f"cifar10-{stat.st_size}-{int(stat.st_mtime)}"
    if not (target / "cifar-10-batches-py" / "batches.meta").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache))
        subprocess.run([sys.executable, str(archive.parent / "build.py"), str(staging)], check=True,
                       capture_output=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return target


@pytest.mark.slow
def test_shared_cifar10_rebuilt_from_jpeg(shared_data):
    """The rebuilt copy fails torchvision's MD5 table; the loader reads it and records a fingerprint instead."""
    data = load_dataset("cifar10", rebuilt_cifar10(shared_data))
    assert data.train_x.shape == (50000, 3, 32, 32) and data.test_x.shape == (10000, 3, 32, 32)
    assert np.bincount(data.train_y.numpy()).tolist() == [5000] * 10
    assert data.classes[0] == "airplane" and data.flips_ok
    assert set(data.fingerprint) == {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                                     "data_batch_5", "test_batch", "batches.meta"}


@pytest.mark.parametrize("compress", [False, True])
def test_written_mnist_plain_and_gz(tmp_path, compress):
    fmt.write_mnist(tmp_path, compress=compress)
    data = load_dataset("mnist", tmp_path)
    assert data.train_x.shape == (30, 1, 28, 28) and data.test_y.tolist() == list(range(10))


def test_written_cifar100(tmp_path):
    fmt.write_cifar100(tmp_path)
    data = load_dataset("cifar100", tmp_path)
    assert data.train_x.shape == (40, 3, 32, 32) and data.n_classes == 100
    assert data.train_y[:3].tolist() == [0, 1, 2] and data.classes[1] == "class1"


def test_written_svhn_maps_label_10_to_0(tmp_path):
    fmt.write_svhn(tmp_path)
    data = load_dataset("svhn", tmp_path)
    assert data.train_x.shape == (30, 3, 32, 32)
    assert data.train_y[:10].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_written_tiny_imagenet(tmp_path):
    fmt.write_tiny_imagenet(tmp_path)
    data = load_dataset("tiny-imagenet", tmp_path)
    assert data.train_x.shape == (6, 3, 64, 64) and data.test_x.shape == (2, 3, 64, 64)
    assert data.test_y.tolist() == [0, 1] and data.classes == ["name of n01443537", "name of n01629819"]


@pytest.mark.parametrize("name, channels, n_classes", [
    ("organcmnist", 1, 11), ("pathmnist", 3, 9), ("tissuemnist", 1, 8), ("bloodmnist", 3, 8),
    ("retinamnist", 3, 5),
])
def test_written_medmnist(tmp_path, name, channels, n_classes):
    fmt.write_medmnist(tmp_path, name, channels, n_classes)
    data = load_dataset(name, tmp_path)
    assert data.train_x.shape == (30, channels, 28, 28) and data.val_x.shape == (10, channels, 28, 28)
    assert data.n_classes == n_classes


def test_every_2d_single_label_medmnist_is_registered():
    for name in ["organamnist", "organcmnist", "organsmnist", "pathmnist", "tissuemnist", "bloodmnist",
                 "breastmnist", "retinamnist", "dermamnist", "octmnist", "pneumoniamnist"]:
        assert name in DATASETS
    assert "chestmnist" not in DATASETS  # multi-label


@pytest.mark.parametrize("name, expected", [
    ("mnist", "MNIST/raw/train-images-idx3-ubyte"), ("cifar100", "cifar-100-python/train"),
    ("svhn", "svhn/train_32x32.mat"), ("pathmnist", "medmnist/pathmnist.npz"),
    ("tiny-imagenet", "tiny-imagenet-200/wnids.txt"), ("cifar10", "cifar-10-batches-py/data_batch_1"),
])
def test_missing_file_names_file_layout_and_flag(tmp_path, name, expected):
    with pytest.raises(DataError) as err:
        load_dataset(name, tmp_path)
    message = str(err.value)
    assert expected in message and "--download" in message and "\n" not in message


def test_corrupt_files_give_one_line_errors(tmp_path):
    path = fmt.write_medmnist(tmp_path, "pathmnist", 3, 9)
    path.write_bytes(path.read_bytes()[:100])
    fmt.write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"not an idx file")
    fmt.write_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "train").write_bytes(b"garbage")
    for name, file_name in [("pathmnist", "pathmnist.npz"), ("mnist", "train-images-idx3-ubyte"),
                            ("cifar100", "train")]:
        with pytest.raises(DataError, match="corrupt") as err:
            load_dataset(name, tmp_path)
        assert file_name in str(err.value) and "\n" not in str(err.value)


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(UserError, match="did you mean 'cifar10'"):
        load_dataset("cifar-10")
