"""Text classification sets, read from their official files under `DATA_DIR/text/`.

MR and TREC sit as ../shared/data lays them out (`text/MR/rt-polarity.*`, `text/TREC/*.label`); the others keep the
folder their official archive unpacks to (`text/ag_news_csv/`, `text/aclImdb/`, `text/sst/trees/`,
`text/yelp_review_full_csv/`, `text/dbpedia_csv/`). Every line is checked as it is parsed, and every file's line
count (IMDB's file count) against the official one registered in `OFFICIAL_LINES`, so a truncated or edited file is
refused in one line instead of giving a silently smaller dataset. A subset made on purpose (the tests' fixtures)
is read when `AUTOAL_TEXT_SUBSETS=1` is set.

`--download` fetches an archive (TREC: its two files) only when the dataset's files are missing, checks it against
the sha256 registered in `ARCHIVE_SHA256` (`TREC_FILE_SHA256`) before unpacking or keeping anything, and unpacks
tar files with tarfile's "data" filter (no absolute paths, no links or paths leaving the folder, no device files).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import DataError
from .base import DatasetInfo, TextDataset, corrupt, require_file, sha256_file

TEXT = "text"

# MR ships without a test split (papers use 10-fold cross-validation); one fixed stratified tenth (seed 0) is the
# test set here, so that every repetition is scored on the same held-out sentences.
MR_TEST_FRACTION = 0.1
MR_SPLIT_SEED = 0

TREC_COARSE = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]  # Li & Roth's order, as torchtext and HF datasets
TREC_NAMES = ["abbreviation", "entity", "description", "human", "location", "numeric"]
TREC_LINE = re.compile(r"^([A-Z]+):(\S+) (.+)$")
SST5_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]
AGNEWS_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
YELP_NAMES = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
DBPEDIA_NAMES = ["Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
                 "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"]

CITATIONS = {
    "mr": "Pang & Lee, Seeing stars: exploiting class relationships for sentiment categorization, ACL 2005",
    "trec": "Li & Roth, Learning question classifiers, COLING 2002",
    "agnews": "Zhang, Zhao & LeCun, Character-level convolutional networks for text classification, NeurIPS 2015",
    "imdb": "Maas et al., Learning word vectors for sentiment analysis, ACL 2011",
    "sst5": "Socher et al., Recursive deep models for semantic compositionality over a sentiment treebank, "
            "EMNLP 2013",
    "yelp": "Zhang, Zhao & LeCun, NeurIPS 2015 (Yelp Dataset Challenge 2015, review full)",
    "dbpedia": "Zhang, Zhao & LeCun, NeurIPS 2015 (DBpedia 2014 ontology)",
}

URLS = {
    "mr": "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
    "trec": "https://cogcomp.seas.upenn.edu/Data/QA/QC/",  # + train_5500.label, TREC_10.label
    # Zhang et al.'s archives, as mirrored by fast.ai (the originals sit behind Google Drive confirmation pages)
    "agnews": "https://s3.amazonaws.com/fast-ai-nlp/ag_news_csv.tgz",
    "yelp": "https://s3.amazonaws.com/fast-ai-nlp/yelp_review_full_csv.tgz",
    "dbpedia": "https://s3.amazonaws.com/fast-ai-nlp/dbpedia_csv.tgz",
    "imdb": "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    "sst5": "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip",
}

# The sha256 of each download, checked before anything is unpacked or kept. No copy could be hashed here (no
# network); each digest was published by others who fetched the same URL, with its size, and all but MR's and AG
# News's by two independent sources (docs/frozen-encoders.md, "Text datasets: downloads, archives and sizes").
ARCHIVE_SHA256: dict[str, str] = {
    "mr": "a05befe52aafda71d458d188a1c54506a998b1308613ba76bbda2e5029409ce9",
    "agnews": "9a8c300eabb45750237fcc669f61cb8a3448f3ef6f6098e1ce340e444f6872be",
    "yelp": "56006b0a17a370f1e366504b1f2c3e3754e4a3dda17d3e718a885c552869a559",
    "dbpedia": "42db5221ddedddb673a4cabcc5f3a7d869714c878bcfe4ba94b29d14aa38e417",
    "imdb": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    "sst5": "5c613a4f673fc74097d523a2c83f38e0cc462984d847b82c7aaf36b01cbbbfcc",
}
TREC_FILE_SHA256: dict[str, str] = {  # TREC comes as two plain files
    "train_5500.label": "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
    "TREC_10.label": "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
}

# Lines (rows, sentences) of each official file; IMDB: files per split and polarity. TREC also accepts the copy in
# ../shared/data, which lacks the 8 train and 1 test lines with non-ASCII text (5,444 / 499).
OFFICIAL_LINES: dict[tuple[str, str], tuple[int, ...]] = {
    ("mr", "rt-polarity.pos"): (5_331,), ("mr", "rt-polarity.neg"): (5_331,),
    ("trec", "train_5500.label"): (5_452, 5_444), ("trec", "TREC_10.label"): (500, 499),
    ("agnews", "train.csv"): (120_000,), ("agnews", "test.csv"): (7_600,),
    ("yelp", "train.csv"): (650_000,), ("yelp", "test.csv"): (50_000,),
    ("dbpedia", "train.csv"): (560_000,), ("dbpedia", "test.csv"): (70_000,),
    ("sst5", "train.txt"): (8_544,), ("sst5", "test.txt"): (2_210,),
    **{("imdb", f"{split}/{polarity}"): (12_500,) for split in ("train", "test") for polarity in ("neg", "pos")},
}
SUBSETS_ENV = "AUTOAL_TEXT_SUBSETS"


def check_size(path: Path, dataset: str, key: str, count: int, unit: str = "lines") -> None:
    """Refuse a file (IMDB: a folder) whose line count is not the official one, unless subsets are allowed."""
    official = OFFICIAL_LINES.get((dataset, key))
    if official is None or count in official or os.environ.get(SUBSETS_ENV) == "1":
        return
    verdict = "fewer" if count < min(official) else "more"
    raise DataError(f"{path} holds {count:,} {unit} for dataset {dataset!r}, {verdict} than the official "
                    f"{' or '.join(f'{n:,}' for n in official)}: it looks cut short or edited; delete it and rerun "
                    f"with --download, or set {SUBSETS_ENV}=1 to use a subset on purpose")


def read_lines(path: Path, dataset: str, encoding: str = "utf-8") -> list[str]:
    """The file's lines; refused when empty, undecodable, or cut mid-line (the official files end in a newline)."""
    try:
        text = path.read_bytes().decode(encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise corrupt(path, dataset, exc) from None
    if not text.strip():
        raise corrupt(path, dataset, "the file is empty")
    if not text.endswith("\n"):
        raise corrupt(path, dataset, "it ends mid-line, so it looks truncated")
    # split on "\n" only: str.splitlines would also break at latin-1's \x85 and \x0c, which MR's sentences hold
    lines = [line.removesuffix("\r") for line in text[:-1].split("\n")]
    check_size(path, dataset, path.name, len(lines))
    return lines


def text_dataset(name: str, train: tuple[list[str], list[int]], test: tuple[list[str], list[int]],
                 classes: list[str], fingerprint: dict[str, str]) -> TextDataset:
    as_labels = lambda y: torch.as_tensor(np.asarray(y, dtype=np.int64))  # noqa: E731
    return TextDataset(name, train[0], as_labels(train[1]), test[0], as_labels(test[1]), classes, fingerprint)


def load_mr(data_dir: Path) -> TextDataset:
    from sklearn.model_selection import train_test_split

    folder = data_dir / TEXT / "MR"
    layout = "text/MR/rt-polarity.pos and text/MR/rt-polarity.neg under the data dir"
    paths = [require_file(folder / f"rt-polarity.{s}", "mr", layout) for s in ("neg", "pos")]
    texts, labels = [], []
    for label, path in enumerate(paths):  # the files are latin-1, one sentence a line
        lines = read_lines(path, "mr", "latin-1")
        texts += lines
        labels += [label] * len(lines)
    idx_train, idx_test = train_test_split(np.arange(len(texts)), test_size=MR_TEST_FRACTION,
                                           random_state=MR_SPLIT_SEED, stratify=labels)
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    return text_dataset("mr", pick(idx_train), pick(idx_test), ["negative", "positive"],
                        {p.name: sha256_file(p) for p in paths})


def read_trec(path: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for number, line in enumerate(read_lines(path, "trec", "latin-1"), 1):
        match = TREC_LINE.match(line)
        if not match or match.group(1) not in TREC_COARSE:
            raise corrupt(path, "trec", f"line {number} is not 'COARSE:fine question' with a TREC coarse class")
        texts.append(match.group(3))
        labels.append(TREC_COARSE.index(match.group(1)))
    return texts, labels


def load_trec(data_dir: Path) -> TextDataset:
    folder = data_dir / TEXT / "TREC"
    layout = "text/TREC/train_5500.label and text/TREC/TREC_10.label under the data dir"
    paths = [require_file(folder / name, "trec", layout) for name in ("train_5500.label", "TREC_10.label")]
    return text_dataset("trec", read_trec(paths[0]), read_trec(paths[1]), TREC_NAMES,
                        {p.name: sha256_file(p) for p in paths})


def read_zhang_csv(path: Path, dataset: str, n_classes: int) -> tuple[list[str], list[int]]:
    """Zhang et al.'s CSV: "class index (1-based)","field",... with every field quoted; fields joined by a space."""
    rows = read_lines(path, dataset)
    texts, labels = [], []
    try:
        for number, row in enumerate(csv.reader(rows, strict=True), 1):
            if len(row) < 2 or not row[0].isdigit() or not 1 <= int(row[0]) <= n_classes:
                raise ValueError(f"row {number} is not '\"class 1-{n_classes}\",\"text\",...'")
            labels.append(int(row[0]) - 1)
            texts.append(" ".join(field.replace("\\n", " ").strip() for field in row[1:]))
    except (csv.Error, ValueError) as exc:
        raise corrupt(path, dataset, exc) from None
    return texts, labels


def zhang_loader(dataset: str, folder: str, classes: list[str]) -> Callable[[Path], TextDataset]:
    def load(data_dir: Path) -> TextDataset:
        root = data_dir / TEXT / folder
        layout = f"text/{folder}/train.csv and text/{folder}/test.csv under the data dir"
        paths = [require_file(root / f"{split}.csv", dataset, layout) for split in ("train", "test")]
        train, test = (read_zhang_csv(p, dataset, len(classes)) for p in paths)
        return text_dataset(dataset, train, test, classes, {p.name: sha256_file(p) for p in paths})

    return load


def read_imdb_split(folder: Path) -> tuple[list[str], list[int], str]:
    """aclImdb/<split>/{neg,pos}/<id>_<rating>.txt; the split's files, hashed together in name order."""
    texts, labels, digest = [], [], hashlib.sha256()
    for label, polarity in enumerate(("neg", "pos")):
        files = sorted((folder / polarity).glob("*.txt"))
        if not files:
            require_file(folder / polarity / "<id>_<rating>.txt", "imdb", "text/aclImdb/{train,test}/{neg,pos}/")
        check_size(folder / polarity, "imdb", f"{folder.name}/{polarity}", len(files), "reviews")
        for path in files:
            raw = path.read_bytes()
            if not raw.strip():
                raise corrupt(path, "imdb", "the review is empty")
            try:
                texts.append(raw.decode("utf-8").replace("<br />", " "))
            except UnicodeDecodeError as exc:
                raise corrupt(path, "imdb", exc) from None
            labels.append(label)
            digest.update(f"{polarity}/{path.name}\0".encode() + hashlib.sha256(raw).digest())
    return texts, labels, digest.hexdigest()


def load_imdb(data_dir: Path) -> TextDataset:
    root = data_dir / TEXT / "aclImdb"
    *train, train_hash = read_imdb_split(root / "train")
    *test, test_hash = read_imdb_split(root / "test")
    return text_dataset("imdb", train, test, ["negative", "positive"],
                        {"aclImdb/train/{neg,pos}": train_hash, "aclImdb/test/{neg,pos}": test_hash})


def tree_sentence(line: str) -> tuple[str, int]:
    """A PTB-format sentiment tree -> (its leaves joined by spaces, the root's 0-4 label)."""
    if line.count("(") != line.count(")") or not re.match(r"^\([0-4] ", line):
        raise ValueError("not a complete '(label ...)' tree")
    return " ".join(re.findall(r"\(\d ([^()\s]+)\)", line)), int(line[1])


def read_trees(path: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for number, line in enumerate(read_lines(path, "sst5"), 1):
        try:
            text, label = tree_sentence(line)
        except ValueError as exc:
            raise corrupt(path, "sst5", f"line {number}: {exc}") from None
        texts.append(text)
        labels.append(label)
    return texts, labels


def load_sst5(data_dir: Path) -> TextDataset:
    """SST-5 sentences (the root label of each tree); train and test splits, dev left out as the sets above."""
    root = data_dir / TEXT / "sst" / "trees"
    layout = "text/sst/trees/train.txt and text/sst/trees/test.txt (trainDevTestTrees_PTB.zip) under the data dir"
    paths = [require_file(root / f"{split}.txt", "sst5", layout) for split in ("train", "test")]
    return text_dataset("sst5", read_trees(paths[0]), read_trees(paths[1]), SST5_NAMES,
                        {p.name: sha256_file(p) for p in paths})


def fetch_url(url: str, path: Path) -> None:
    """Stream `url` to `path` through a temporary name, with a progress bar."""
    import urllib.request

    from tqdm import tqdm

    tmp = path.with_name(f".{path.name}.part")
    with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, unit="B", unit_scale=True, desc=path.name, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    os.replace(tmp, path)


def fetch_archive(dataset: str, url: str, target: Path, moves: dict[str, str]) -> None:
    """Download `url` into a scratch folder beside `target`, check its sha256, unpack it there, then move each
    archive path in `moves` to `target / <new name>`: nothing half-unpacked is left under the data dir's names, and
    an archive that fails its check leaves nothing at all."""
    if all((target / name).exists() for name in moves.values()):
        return
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        archive = Path(scratch) / url.rsplit("/", 1)[1]
        fetch_url(url, archive)
        check_download(url, archive, ARCHIVE_SHA256[dataset])
        unpack(archive, Path(scratch))
        for source, name in moves.items():
            if (target / name).exists():
                continue
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(Path(scratch) / source), str(target / name))


def check_download(url: str, path: Path, registered: str) -> None:
    found = sha256_file(path)
    if found != registered:
        raise DataError(f"the file fetched from {url} has sha256 {found[:16]}..., not the registered "
                        f"{registered[:16]}...: nothing was unpacked or kept; retry later, or fetch it by hand and "
                        "compare")


def unpack(archive: Path, folder: Path) -> None:
    """Unpack a tar (tarfile's "data" filter) or zip archive (zipfile drops absolute and '..' parts) into `folder`,
    then delete it."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(folder)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"cannot unpack {archive.name} ({exc}); nothing was kept; rerun with --download") from None
    archive.unlink()


def fetch_files(url: str, target: Path, hashes: dict[str, str]) -> None:
    """Fetch each missing file `url + name` into `target`, through a scratch folder: a file that fails its sha256
    check is not kept."""
    target.mkdir(parents=True, exist_ok=True)
    for name, registered in hashes.items():
        if (target / name).is_file():
            continue
        with tempfile.TemporaryDirectory(dir=target) as scratch:
            fetched = Path(scratch) / name
            fetch_url(url + name, fetched)
            check_download(url + name, fetched, registered)
            os.replace(fetched, target / name)


def downloader(dataset: str, folder: str, moves: dict[str, str] | None = None) -> Callable[[Path], None]:
    def download(data_dir: Path) -> None:
        root = data_dir / TEXT
        if dataset == "trec":
            fetch_files(URLS["trec"], root / folder, TREC_FILE_SHA256)
        else:
            fetch_archive(dataset, URLS[dataset], root, moves or {folder: folder})

    return download


def text_info(dataset: str, load: Callable[[Path], TextDataset], layout: str,
              moves: dict[str, str] | None = None) -> DatasetInfo:
    folder = layout.split("/")[1]
    return DatasetInfo(load, layout, downloader(dataset, folder, moves), modality="text",
                       citation=CITATIONS[dataset])


TEXT_DATASETS = {
    "mr": (text_info("mr", load_mr, "text/MR/rt-polarity.{pos,neg}", {"rt-polaritydata": "MR"}),
           "movie-review sentence polarity (MR), 10,662 sentences, 2 classes; seeded stratified 90/10 split"),
    "trec": (text_info("trec", load_trec, "text/TREC/{train_5500,TREC_10}.label"),
             "TREC question classification, 6 coarse classes (train_5500 / TREC_10)"),
    "agnews": (text_info("agnews", zhang_loader("agnews", "ag_news_csv", AGNEWS_NAMES),
                         "text/ag_news_csv/{train,test}.csv"), "AG News topics, 120,000 / 7,600, 4 classes"),
    "imdb": (text_info("imdb", load_imdb, "text/aclImdb/{train,test}/{neg,pos}/"),
             "IMDB movie reviews (aclImdb), 25,000 / 25,000, 2 classes"),
    "sst5": (text_info("sst5", load_sst5, "text/sst/trees/{train,test}.txt", {"trees": "sst/trees"}),
             "Stanford Sentiment Treebank sentences, 5 classes, 8,544 / 2,210 (dev left out)"),
    "yelp": (text_info("yelp", zhang_loader("yelp", "yelp_review_full_csv", YELP_NAMES),
                       "text/yelp_review_full_csv/{train,test}.csv"),
             "Yelp review full, 650,000 / 50,000, 5 star classes"),
    "dbpedia": (text_info("dbpedia", zhang_loader("dbpedia", "dbpedia_csv", DBPEDIA_NAMES),
                          "text/dbpedia_csv/{train,test}.csv"), "DBpedia ontology, 560,000 / 70,000, 14 classes"),
}
