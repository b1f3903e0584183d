"""Writers of tiny files in the official on-disk formats, for datasets that cannot ship with the tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 30, n_test: int = 10, compress=False) -> None:
    raw = root / folder / "raw"
    for prefix, n in [("train", n_train), ("t10k", n_test)]:
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images(n, (28, 28)), compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)


def write_pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar100(root: Path, n_train: int = 40, n_test: int = 20) -> None:
    folder = root / "cifar-100-python"
    for name, n in [("train", n_train), ("test", n_test)]:
        write_pickle(folder / name, {"data": images(n, (3072,)), "fine_labels": list(np.arange(n) % 100),
                                     "coarse_labels": list(np.arange(n) % 20)})
    write_pickle(folder / "meta", {"fine_label_names": [f"class{i}" for i in range(100)],
                                   "coarse_label_names": [f"super{i}" for i in range(20)]})


def write_svhn(root: Path, n_train: int = 30, n_test: int = 10) -> None:
    from scipy.io import savemat

    (root / "svhn").mkdir(parents=True, exist_ok=True)
    for split, n in [("train", n_train), ("test", n_test)]:
        labels = (np.arange(n) % 10) + 1  # SVHN stores the digit 0 as 10
        savemat(root / "svhn" / f"{split}_32x32.mat",
                {"X": images(n, (32, 32, 3)).transpose(1, 2, 3, 0), "y": labels.reshape(-1, 1)})


def write_medmnist(root: Path, name: str, channels: int, n_classes: int, sizes=(30, 10, 20)) -> Path:
    shape = (28, 28) if channels == 1 else (28, 28, channels)
    arrays = {}
    for split, n in zip(("train", "val", "test"), sizes):
        arrays[f"{split}_images"] = images(n, shape)
        arrays[f"{split}_labels"] = (np.arange(n) % n_classes).reshape(-1, 1).astype(np.uint8)
    path = root / "medmnist" / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def write_tiny_imagenet(root: Path, wnids=("n01443537", "n01629819"), per_class: int = 3) -> None:
    from PIL import Image

    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (base / "words.txt").write_text("".join(f"{w}\tname of {w}\n" for w in wnids))
    rows = []
    for c, wnid in enumerate(wnids):
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(images(1, (64, 64, 3), seed=10 * c + i)[0]).save(folder / f"{wnid}_{i}.JPEG")
        name = f"val_{c}.JPEG"
        Image.fromarray(images(1, (64, 64, 3), seed=99 + c)[0]).save(base / "val" / "images" / name)
        rows.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")


def write_cifar10(root: Path, n_train: int = 10, n_test: int = 10) -> None:
    folder = root / "cifar-10-batches-py"
    for i in range(1, 6):
        write_pickle(folder / f"data_batch_{i}", {"data": images(n_train, (3072,), seed=i),
                                                  "labels": list(np.arange(n_train) % 10)})
    write_pickle(folder / "test_batch", {"data": images(n_test, (3072,)), "labels": list(np.arange(n_test) % 10)})
    write_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    return path


def write_mr(root: Path, per_class: int = 20) -> Path:
    """rt-polarity.pos / .neg: latin-1, one sentence a line (with a latin-1 character, as the real files)."""
    folder = root / "text" / "MR"
    write_lines(folder / "rt-polarity.neg", [f"a dull , tedious film number {i} ." for i in range(per_class)],
                "latin-1")
    return write_lines(folder / "rt-polarity.pos", [f"a warm , clever caf\xe9 comedy number {i} ."
                                                    for i in range(per_class)], "latin-1")


TREC_FIXTURE = ["ABBR:exp What does NASA stand for ?", "ENTY:animal What is the fastest fish ?",
                "DESC:def What is an atom ?", "HUM:ind Who wrote Hamlet ?", "LOC:city Where is Kyoto ?",
                "NUM:date When did the war end ?"]


def write_trec(root: Path, repeats: int = 3) -> Path:
    folder = root / "text" / "TREC"
    write_lines(folder / "TREC_10.label", TREC_FIXTURE, "latin-1")
    return write_lines(folder / "train_5500.label", TREC_FIXTURE * repeats, "latin-1")


def write_zhang_csv(root: Path, folder: str, n_classes: int, fields: int = 2, per_class: int = 2) -> Path:
    """Zhang et al.'s CSV: every field quoted, 1-based class first, quotes doubled, newlines as a literal \\n."""
    rows = [",".join([f'"{c + 1}"'] + [f'"field {k} of ""row"" {i}\\nclass {c}"' for k in range(fields - 1)])
            for c in range(n_classes) for i in range(per_class)]
    write_lines(root / "text" / folder / "test.csv", rows)
    (root / "text" / folder / "classes.txt").write_text("".join(f"class {c}\n" for c in range(n_classes)))
    return write_lines(root / "text" / folder / "train.csv", rows * 2)


def write_imdb(root: Path, per_class: int = 3) -> Path:
    last = None
    for split in ("train", "test"):
        for polarity, rating in (("neg", 2), ("pos", 9)):
            folder = root / "text" / "aclImdb" / split / polarity
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                last = folder / f"{i}_{rating}.txt"
                last.write_text(f"A {polarity} review {i}.<br /><br />It was {'bad' if rating < 5 else 'good'}.")
    return last


def write_sst(root: Path) -> Path:
    trees = [f"({label} (2 Sentence) ({label} (2 number) ({label} {word})))"
             for label, word in enumerate(["awful", "bad", "okay", "good", "superb"])]
    folder = root / "text" / "sst" / "trees"
    write_lines(folder / "test.txt", trees)
    write_lines(folder / "dev.txt", trees)
    return write_lines(folder / "train.txt", trees * 2)
