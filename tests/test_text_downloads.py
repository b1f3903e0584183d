"""--download for the text sets, run against local copies of the official archives and files (file:// URLs):
the fetch, unpack and move code is what users run; no network is touched."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest

from alscope_autoal.data import DATASETS
from alscope_autoal.data import text_sets
from alscope_autoal.errors import DataError
from official_formats import write_mr, write_sst, write_trec, write_zhang_csv


def tar_of(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def serve(monkeypatch, dataset: str, archive: Path) -> None:
    """Point `dataset`'s download at a local archive and register that archive's sha256 for it."""
    monkeypatch.setitem(text_sets.URLS, dataset, archive.as_uri())
    monkeypatch.setitem(text_sets.ARCHIVE_SHA256, dataset, text_sets.sha256_file(archive))


def serve_trec(monkeypatch, folder: Path) -> None:
    monkeypatch.setitem(text_sets.URLS, "trec", folder.as_uri() + "/")
    for name in text_sets.TREC_FILE_SHA256:
        monkeypatch.setitem(text_sets.TREC_FILE_SHA256, name, text_sets.sha256_file(folder / name))


def test_every_download_has_a_registered_sha256():
    registered = set(text_sets.ARCHIVE_SHA256) | {"trec"}
    assert registered == set(text_sets.URLS)
    digests = [*text_sets.ARCHIVE_SHA256.values(), *text_sets.TREC_FILE_SHA256.values()]
    assert all(len(d) == 64 and set(d) <= set("0123456789abcdef") for d in digests)


def test_mr_archive_is_unpacked_into_the_shared_layout(tmp_path, monkeypatch):
    write_mr(tmp_path / "src")
    official = tmp_path / "src" / "text" / "MR"
    official.rename(official.with_name("rt-polaritydata"))  # the archive's own folder name
    serve(monkeypatch, "mr", tar_of(official.with_name("rt-polaritydata"), tmp_path / "rt-polaritydata.tar.gz"))
    root = tmp_path / "data"
    DATASETS.get("mr").download(root)
    assert len(DATASETS.get("mr").load(root).train_texts) == 36
    assert [p.name for p in (root / "text").iterdir()] == ["MR"]  # no scratch folder left behind


def test_trec_files_are_fetched_by_name(tmp_path, monkeypatch):
    write_trec(tmp_path / "src")
    serve_trec(monkeypatch, tmp_path / "src" / "text" / "TREC")
    DATASETS.get("trec").download(tmp_path / "data")
    assert DATASETS.get("trec").load(tmp_path / "data").classes[0] == "abbreviation"


def test_trec_file_with_another_sha256_is_refused_and_not_kept(tmp_path, monkeypatch):
    write_trec(tmp_path / "src")
    serve_trec(monkeypatch, tmp_path / "src" / "text" / "TREC")
    monkeypatch.setitem(text_sets.TREC_FILE_SHA256, "TREC_10.label", "0" * 64)
    with pytest.raises(DataError, match="TREC_10.label has sha256.*nothing was unpacked or kept") as err:
        DATASETS.get("trec").download(tmp_path / "data")
    assert "\n" not in str(err.value)
    assert [p.name for p in (tmp_path / "data" / "text" / "TREC").iterdir()] == ["train_5500.label"]


@pytest.mark.parametrize("name, folder, n_classes", [("agnews", "ag_news_csv", 4), ("yelp", "yelp_review_full_csv", 5),
                                                     ("dbpedia", "dbpedia_csv", 14)])
def test_zhang_archives(tmp_path, monkeypatch, name, folder, n_classes):
    write_zhang_csv(tmp_path / "src", folder, n_classes)
    serve(monkeypatch, name, tar_of(tmp_path / "src" / "text" / folder, tmp_path / f"{folder}.tgz"))
    DATASETS.get(name).download(tmp_path / "data")
    assert DATASETS.get(name).load(tmp_path / "data").n_classes == n_classes


def test_sst_zip_lands_under_text_sst(tmp_path, monkeypatch):
    write_sst(tmp_path / "src")
    archive = tmp_path / "trainDevTestTrees_PTB.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (tmp_path / "src" / "text" / "sst" / "trees").iterdir():
            z.write(path, f"trees/{path.name}")
    serve(monkeypatch, "sst5", archive)
    DATASETS.get("sst5").download(tmp_path / "data")
    assert len(DATASETS.get("sst5").load(tmp_path / "data").test_texts) == 5
