"""The defects of issue 24, each reproduced: text downloads, archive checks, text sizes, and the embedding cache
(a folder without meta.json, a complete cache in a read-only data folder, arrays hashed once and mapped)."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from alscope_autoal.data import load_dataset
from alscope_autoal.data import text_sets
from alscope_autoal.encoders import cache
from alscope_autoal.encoders.cache import CACHE_DIR, _embedded, embedded_dataset
from alscope_autoal.errors import DataError
from official_formats import write_medmnist, write_mr


def mr_archive(tmp_path: Path) -> Path:
    write_mr(tmp_path / "src")
    folder = (tmp_path / "src" / "text" / "MR").rename(tmp_path / "src" / "text" / "rt-polaritydata")
    archive = tmp_path / "rt-polaritydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def test_download_of_a_present_text_set_fetches_nothing(tmp_path, monkeypatch):
    """Offline, with the files in place: --download reads them instead of failing to fetch them again."""
    write_mr(tmp_path / "data")
    monkeypatch.setitem(text_sets.URLS, "mr", (tmp_path / "nowhere.tar.gz").as_uri())
    assert len(load_dataset("mr", tmp_path / "data", download=True).train_texts) == 36


def test_archive_with_another_sha256_is_refused_and_nothing_unpacked(tmp_path, monkeypatch):
    monkeypatch.setitem(text_sets.URLS, "mr", mr_archive(tmp_path).as_uri())
    monkeypatch.setitem(text_sets.ARCHIVE_SHA256, "mr", "0" * 64)
    with pytest.raises(DataError, match="sha256.*nothing was unpacked") as err:
        load_dataset("mr", tmp_path / "data", download=True)
    assert "\n" not in str(err.value)
    assert list((tmp_path / "data" / "text").iterdir()) == []


def test_archive_with_the_registered_sha256_is_unpacked(tmp_path, monkeypatch):
    archive = mr_archive(tmp_path)
    monkeypatch.setitem(text_sets.URLS, "mr", archive.as_uri())
    monkeypatch.setitem(text_sets.ARCHIVE_SHA256, "mr", text_sets.sha256_file(archive))
    assert len(load_dataset("mr", tmp_path / "data", download=True).test_texts) == 4


def test_archive_member_leaving_its_folder_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "rt-polaritydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = 3
        tar.addfile(member, io.BytesIO(b"bad"))
    monkeypatch.setitem(text_sets.URLS, "mr", archive.as_uri())
    monkeypatch.setitem(text_sets.ARCHIVE_SHA256, "mr", text_sets.sha256_file(archive))  # passes the hash check
    with pytest.raises(DataError, match="cannot unpack"):
        load_dataset("mr", tmp_path / "data" / "x", download=True)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_text_file_cut_at_a_line_boundary_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTOAL_TEXT_SUBSETS", raising=False)
    write_mr(tmp_path)
    with pytest.raises(DataError, match=r"rt-polarity\.neg holds 20 lines.*fewer than the official 5,331") as err:
        load_dataset("mr", tmp_path)
    assert "\n" not in str(err.value)


def test_shared_text_sets_have_their_registered_sizes(shared_data, monkeypatch):
    monkeypatch.delenv("AUTOAL_TEXT_SUBSETS", raising=False)
    assert len(load_dataset("trec", shared_data).train_texts) == 5_444
    assert len(load_dataset("mr", shared_data).train_texts) + len(load_dataset("mr", shared_data).test_texts) == 10_662


def embed_small(root: Path):
    return embedded_dataset("breastmnist", "resnet50", root, random_seed=0)


def test_cache_folder_without_meta_json_is_recomputed(tmp_path):
    write_medmnist(tmp_path, "breastmnist", 1, 2, sizes=(4, 2, 3))
    before = embed_small(tmp_path).train_x.clone()
    folder = tmp_path / CACHE_DIR / "breastmnist" / "resnet50-seed0"
    (folder / "meta.json").unlink()  # a damaged remainder: arrays, no meta.json
    _embedded.cache_clear()
    again = embed_small(tmp_path)
    assert np.allclose(again.train_x.numpy(), before.numpy()) and (folder / "meta.json").is_file()


def test_complete_cache_in_a_read_only_data_folder_is_read_there(tmp_path, monkeypatch):
    shared, own = tmp_path / "shared", tmp_path / "own"
    write_medmnist(shared, "breastmnist", 1, 2, sizes=(4, 2, 3))
    embed_small(shared)
    _embedded.cache_clear()
    monkeypatch.setenv("AUTOAL_DATA_DIR", str(own))
    for folder in (shared, *shared.rglob("*")):
        folder.chmod(0o555 if folder.is_dir() else 0o444)
    try:
        monkeypatch.setattr(cache, "compute", lambda *args: pytest.fail("recomputed a complete cache"))
        assert embed_small(shared).train_x.shape == (4, 2048)
        assert not (own / CACHE_DIR).exists()
    finally:
        for folder in (shared, *shared.rglob("*")):
            folder.chmod(0o755)


def test_cached_arrays_are_hashed_once_and_mapped_not_read_whole(tmp_path, monkeypatch):
    write_medmnist(tmp_path, "breastmnist", 1, 2, sizes=(4, 2, 3))
    embed_small(tmp_path)
    _embedded.cache_clear()
    hashed = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda path: hashed.append(Path(path).name) or real(path))
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read whole"))
    data = embed_small(tmp_path)
    assert sorted(hashed) == ["test.npy", "train.npy"]
    assert data.fingerprint["embeddings/breastmnist/resnet50-seed0/train.npy"] == real(
        tmp_path / CACHE_DIR / "breastmnist" / "resnet50-seed0" / "train.npy")
