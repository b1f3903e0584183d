"""Image encoders with random weights of their real architectures (the pretrained weights need --download), on a
few images of official-format fixtures: loading, preprocessing and caching are the code users run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alscope_autoal.encoders import ENCODERS
from alscope_autoal.encoders.cache import CACHE_DIR, embedded_dataset
from alscope_autoal.encoders.image import IMAGENET_MEAN, IMAGENET_STD, SIDE, preprocess
from alscope_autoal.errors import UserError
from official_formats import write_medmnist, write_svhn

IMAGE_ENCODERS = [name for name in ENCODERS.names() if ENCODERS.get(name).modality == "image"]
FETCHED_WEIGHTS = [name for name in IMAGE_ENCODERS if name != "efficientnet-lite0"]  # that one's are packaged


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (3, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_image_encoders_are_registered():
    assert set(IMAGE_ENCODERS) == {"resnet50", "vit-b16", "dinov2-s14", "efficientnet-lite0"}


def test_preprocess_resizes_greys_to_rgb_and_normalises_like_imagenet():
    white = torch.full((2, 1, 28, 28), 255, dtype=torch.uint8)
    x = preprocess(white)
    assert x.shape == (2, 3, SIDE, SIDE)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(x[0, :, 100, 100], expected, atol=1e-5)


@pytest.mark.parametrize("name", IMAGE_ENCODERS)
@pytest.mark.slow
def test_random_weights_of_the_architecture_embed_deterministically(tmp_path, images, name):
    info = ENCODERS.get(name)
    encoder = info.build(tmp_path, False, 0)
    first = encoder.encode(images)
    assert first.shape == (3, info.dim) and first.dtype == np.float32 and np.isfinite(first).all()
    assert not np.allclose(first[0], first[1])  # different images, different embeddings
    # eval mode: batch-independent. A GPU's TF32 convolutions round differently per batch size (0.06 % seen on an
    # H200), so the bound is relative; batch statistics (train mode) would differ by tens of percent.
    alone = encoder.encode(images[:1])[0]
    assert np.linalg.norm(alone - first[0]) <= 1e-2 * np.linalg.norm(first[0])
    assert info.fingerprint(tmp_path, False, 0) == "random-seed0"


@pytest.mark.parametrize("name", FETCHED_WEIGHTS)
def test_missing_pretrained_weights_say_how_to_get_them(tmp_path, monkeypatch, name):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(UserError, match=f"no weights for encoder '{name}'.*--download") as err:
        ENCODERS.get(name).fingerprint(tmp_path, False)
    assert "\n" not in str(err.value)


def test_a_corrupt_weights_file_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "resnet50-11ad3fa6.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="does not load") as err:
        ENCODERS.get("resnet50").build(tmp_path, False, None)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_image_set_embedded_and_cached_with_random_resnet50(tmp_path: Path):
    write_medmnist(tmp_path, "breastmnist", 1, 2, sizes=(4, 2, 3))
    data = embedded_dataset("breastmnist", "resnet50", tmp_path, random_seed=0)
    assert data.train_x.shape == (4, 2048) and data.test_x.shape == (3, 2048)
    assert data.classes[0] and data.train_y.tolist() == [0, 1, 0, 1]
    folder = next((tmp_path / CACHE_DIR / "breastmnist").glob("resnet50-*"))
    assert folder.name == "resnet50-seed0" and (folder / "meta.json").is_file()


@pytest.mark.slow
def test_embedding_applies_the_allocator_thresholds_first(tmp_path: Path, monkeypatch):
    """The embedding child runs no job, so computing a cache applies them itself (an encoder's batches churn
    large blocks as a pool pass does: two thirds of a CIFAR-10 embedding's CPU was system time without them)."""
    from alscope_autoal.encoders import cache

    calls = []
    monkeypatch.setattr(cache, "tune_allocator", lambda: calls.append("tuned") or {"applied": False})
    write_medmnist(tmp_path, "breastmnist", 1, 2, sizes=(4, 2, 3))
    embedded_dataset("breastmnist", "resnet50", tmp_path, random_seed=2)
    assert calls == ["tuned"]


@pytest.mark.slow
def test_colour_images_through_dinov2(tmp_path: Path):
    write_svhn(tmp_path, n_train=2, n_test=1)
    data = embedded_dataset("svhn", "dinov2-s14", tmp_path, random_seed=1)
    assert data.train_x.shape == (2, 384) and torch.isfinite(data.train_x).all()


def test_scratch_left_by_a_killed_embedding_run_is_removed_by_the_next_one(tmp_path: Path):
    """A SIGKILLed run leaves its private scratch folder; the next computation of that cache removes it, but not
    the scratch of a live process or of another host sharing the disk."""
    write_medmnist(tmp_path, "breastmnist", 1, 2, sizes=(4, 2, 3))
    parent = tmp_path / CACHE_DIR / "breastmnist"
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    host = socket.gethostname()
    scratch = {name: parent / f".resnet50-seed0.{owner}.abc123_x.tmp" for name, owner in
               [("killed", f"{host}-{killed.pid}"), ("live", f"{host}-{os.getpid()}"), ("other host", "node7-1")]}
    for folder in scratch.values():
        folder.mkdir(parents=True)
        (folder / "train.npy").write_bytes(b"half written")
    embedded_dataset("breastmnist", "resnet50", tmp_path, random_seed=0)
    assert not scratch["killed"].exists()
    assert scratch["live"].is_dir() and scratch["other host"].is_dir()
    assert (parent / "resnet50-seed0" / "meta.json").is_file()
    assert len(list(parent.glob(".resnet50-seed0.*.tmp"))) == 2  # its own scratch is gone too


def test_a_read_only_data_folder_keeps_its_datasets_and_the_embeddings_go_to_the_user_folder(tmp_path, monkeypatch):
    shared, own = tmp_path / "shared", tmp_path / "own"
    write_medmnist(shared, "breastmnist", 1, 2, sizes=(4, 2, 3))
    monkeypatch.setenv("AUTOAL_DATA_DIR", str(own))
    for folder in (shared, *shared.rglob("*")):  # like ../shared/data: no write bits anywhere
        folder.chmod(0o555 if folder.is_dir() else 0o444)
    try:
        data = embedded_dataset("breastmnist", "resnet50", shared, random_seed=0)
        assert data.train_x.shape == (4, 2048)
        assert (next((own / CACHE_DIR / "breastmnist").glob("resnet50-*")) / "meta.json").is_file()
        assert not (shared / CACHE_DIR).exists()
        own.chmod(0o555)
        with pytest.raises(UserError, match="read-only.*AUTOAL_DATA_DIR") as err:
            embedded_dataset("breastmnist", "resnet50", shared, random_seed=1)
        assert "\n" not in str(err.value)
    finally:
        for folder in (own, shared, *shared.rglob("*")):
            folder.chmod(0o755)
