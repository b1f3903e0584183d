"""The embedding cache: each (dataset, split, encoder, weights fingerprint) is embedded once and kept as
`DATA_DIR/embeddings/<dataset>/<encoder>-<weights fingerprint[:16]>/{train,test}.npy` beside a `meta.json` that
records the dataset files' and the arrays' sha256. Every job, worker and Ray task of a sweep reads the same files.

Both splits are written into a private folder that is renamed into place whole, under a lock, so a crash or two
concurrent writers never leave a half cache under a cache name; a folder found there without its `meta.json` (a
damaged remainder) is removed and recomputed. A cache whose dataset files changed since, or whose arrays do not
match their recorded hash, is refused with a one-line error that names it: it is never reused in silence.

A read-only DATA_DIR (a shared copy of the datasets: a read-only mount, or folders without write permission bits,
which root would otherwise write through) keeps the datasets and its complete caches are read where they are;
embeddings it does not hold yet go to the user's own data folder (`AUTOAL_DATA_DIR` or the user cache) instead.

Each array is hashed once per process, streamed in blocks, and memory-mapped copy-on-write rather than read
whole: a Yelp-sized pool costs its pages as they are touched, not two copies plus the hash's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import glob
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..allocator import tune_allocator
from ..data import DATASETS, ImageDataset, TextDataset, default_data_dir, load_dataset
from ..data.user_sets import dataset_key, register_all, user_source
from ..data.base import sha256_file
from ..errors import DataError, UserError
from ..processes import pid_alive
from ..spec import JobSpec
from . import ENCODERS

CACHE_DIR = "embeddings"
SPLITS = ("train", "test")


def check_pair(dataset: str, encoder: str | None) -> None:
    """Text sets need a text encoder, image sets an image encoder (or none, for the CNN profiles)."""
    modality = DATASETS.get(dataset).modality
    if modality == "embeddings":
        if encoder is not None:
            raise UserError(f"{dataset!r} holds precomputed embeddings, which the linear profile learns on as "
                            "they are: leave out --encoder for it")
        return
    if encoder is None:
        if modality == "text":
            raise UserError(f"{dataset!r} is a text dataset: it needs an encoder, e.g. --profile linear "
                            f"--encoder minilm (see 'autoal list encoders')")
        return
    info = ENCODERS.get(encoder)
    if info.modality != modality:
        kinds = [n for n in ENCODERS.names() if ENCODERS.get(n).modality == modality]
        raise UserError(f"encoder {encoder!r} embeds {info.modality}, but {dataset!r} is a {modality} dataset; "
                        f"choose one of {', '.join(kinds)}")


def read_only(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    return not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222


def cache_root(root: Path) -> Path:
    """The folder that holds `embeddings/`: the data dir, or the user's data dir when the data dir is read-only."""
    if read_only(root):
        fallback = default_data_dir().expanduser().resolve()
        if fallback != root and not read_only(fallback):
            return fallback
        raise UserError(f"the data folder {root} is read-only and embeddings need a writable one; set "
                        f"AUTOAL_DATA_DIR to a writable folder for the embedding cache")
    return root


def cache_folder(root: Path, dataset: str, encoder: str, fingerprint: str) -> Path:
    """Under the data dir; when that is read-only and holds no complete cache, under the user's data dir."""
    name = Path(CACHE_DIR) / dataset / f"{encoder}-{fingerprint.removeprefix('random-')[:16]}"
    if read_only(root) and (root / name / "meta.json").is_file():
        return root / name
    return cache_root(root) / name


def read_cache(folder: Path, weights: str, dataset_files: dict[str, str],
               rows: dict[str, int]) -> tuple[dict[str, np.ndarray], dict[str, str]] | None:
    """(the cached arrays, memory-mapped; their sha256), None when there is no complete cache; refused when stale
    or damaged."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        recorded = meta["splits"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"the embedding cache {meta_path} is damaged ({exc}); delete {folder} to recompute it")
    if meta.get("weights") != weights:
        raise DataError(f"the embeddings in {folder} were computed with other encoder weights; delete {folder} "
                        "to recompute")
    if meta.get("dataset_files") != dataset_files:
        changed = sorted(set(dataset_files.items()) ^ set(meta.get("dataset_files", {}).items()))
        raise DataError(f"the embeddings in {folder} were computed from other dataset files ("
                        f"{', '.join(sorted({name for name, _ in changed}))} changed); delete {folder} to recompute")
    arrays, hashes = {}, {}
    for split in SPLITS:
        path = folder / f"{split}.npy"
        try:
            hashes[split] = sha256_file(path)
            if hashes[split] != recorded[split]["sha256"]:
                raise ValueError("its sha256 differs from the one recorded in meta.json")
            arrays[split] = np.load(path, mmap_mode="c", allow_pickle=False)  # private pages: the file stays
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"the cached embeddings {path} are damaged ({exc}); delete {folder} to recompute")
        if len(arrays[split]) != rows[split]:
            raise DataError(f"the cached embeddings {path} hold {len(arrays[split])} rows for {rows[split]} "
                            f"samples; delete {folder} to recompute")
    return arrays, hashes


def write_file(path: Path, write) -> None:
    with open(path, "wb") as f:
        write(f)


@contextlib.contextmanager
def locked(folder: Path):
    """One process computes a cache folder at a time on this machine; the others wait, then read it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def samples(data: ImageDataset | TextDataset, split: str):
    return getattr(data, f"{split}_texts") if isinstance(data, TextDataset) else getattr(data, f"{split}_x")


def scratch_owner() -> str:
    """This process, as scratch folder names record it: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def remove_stale_scratch(folder: Path) -> None:
    """Delete the scratch folders of `folder` left by embedding runs of this host that were killed (a SIGKILL
    or SIGTERM skips the clean-up). Scratch of a live process, or of another host on a shared disk, stays."""
    pattern = re.compile(rf"^\.{re.escape(folder.name)}\.(?P<host>.+)-(?P<pid>\d+)\.[^.]+\.tmp$")
    host = socket.gethostname()
    for scratch in folder.parent.glob(f".{glob.escape(folder.name)}.*.tmp"):
        found = pattern.match(scratch.name)
        if found and found["host"] == host and not pid_alive(int(found["pid"])):
            shutil.rmtree(scratch, ignore_errors=True)


def remove_incomplete(folder: Path) -> None:
    """A folder under the cache name without `meta.json` is no writer's work in progress (writers rename whole
    folders, meta.json inside): a damaged remainder, removed so the rename can land. The caller holds the lock."""
    if folder.is_dir() and not (folder / "meta.json").is_file():
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            raise DataError(f"the embedding cache {folder} has no meta.json and cannot be removed ({exc.strerror});"
                            f" delete it to recompute") from None


def compute(folder: Path, data, encoder: str, root: Path, download: bool, random_seed: int | None,
            fingerprint: str) -> None:
    """Embed both splits into a private folder, then rename it into place whole: a crash leaves no cache, and
    of two writers on a shared disk (two nodes) the first rename wins and the other's copy is dropped. The
    scratch folders of killed runs are removed first (the caller holds the folder's lock). The allocator
    thresholds are applied first: this often runs in the embedding child, where no job has applied them, and an
    encoder's batches churn large blocks as a task model's pool pass does (docs/cpu-performance.md)."""
    allocator = tune_allocator()
    model = ENCODERS.get(encoder).build(root, download, random_seed)
    remove_stale_scratch(folder)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{scratch_owner()}.",
                                    suffix=".tmp"))
    scratch.chmod(0o755)  # mkdtemp's 0700 would hide the cache from workers running as other users
    try:
        recorded = {}
        for split in SPLITS:
            wall, cpu = time.perf_counter(), time.process_time()
            array = model.encode(samples(data, split), progress=f"{encoder} embeddings of {data.name} {split}")
            cost = {"seconds": round(time.perf_counter() - wall, 2), "cpu_seconds": round(time.process_time() - cpu, 2)}
            write_file(scratch / f"{split}.npy", lambda f, a=array: np.save(f, a, allow_pickle=False))
            recorded[split] = {"rows": len(array), "sha256": sha256_file(scratch / f"{split}.npy"), **cost}
        meta = {"dataset": data.name, "encoder": encoder, "weights": fingerprint, "dim": model.dim,
                "dataset_files": data.fingerprint, "splits": recorded, "computed_on": embedding_compute(allocator)}
        write_file(scratch / "meta.json", lambda f: f.write(json.dumps(meta, indent=1).encode()))
        remove_incomplete(folder)
        try:
            os.rename(scratch, folder)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):  # not: another writer was first
                raise DataError(f"cannot write the embedding cache {folder} ({exc.strerror})") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def embedding_compute(allocator: dict) -> dict:
    """Where the embeddings were computed, for the cost recorded beside them (`splits.*.seconds`): the device, the
    torch threads and the allocator setting, the things that make the same embedding take minutes or hours."""
    from ..hardware import describe_compute
    from .base import encoding_device

    device = encoding_device()
    return {"device": str(device), **describe_compute(device), "torch_threads": torch.get_num_threads(),
            "allocator_thresholds": allocator["applied"]}


def cache_name(dataset: str) -> str:
    """A built-in's name; a user dataset's name and content hash, so an edited file gets its own cache."""
    source = user_source(dataset)
    return f"{dataset}-{source.sha256()}" if source else dataset


def cache_location(dataset: str, encoder: str, root: Path, download: bool, random_seed: int | None
                   ) -> tuple[Path, str]:
    """(the cache folder of this dataset and encoder, the encoder's weights fingerprint)."""
    fingerprint = ENCODERS.get(encoder).fingerprint(root, download, random_seed)
    return cache_folder(root, cache_name(dataset), encoder, fingerprint), fingerprint


def cached_arrays(data, encoder: str, root: Path, download: bool, random_seed: int | None
                  ) -> tuple[Path, str, tuple[dict[str, np.ndarray], dict[str, str]] | None]:
    """(cache folder, weights fingerprint, the cached arrays and their sha256, or None when not computed yet)."""
    folder, fingerprint = cache_location(data.name, encoder, root, download, random_seed)
    rows = {split: len(getattr(data, f"{split}_y")) for split in SPLITS}
    return folder, fingerprint, read_cache(folder, fingerprint, data.fingerprint, rows)


def embedded_dataset(dataset: str, encoder: str, data_dir: Path | str | None = None, download: bool = False,
                     random_seed: int | None = None) -> ImageDataset:
    """The dataset as embeddings: (N, dim) float32 "images" with the dataset's labels and classes, read from the
    cache or computed into it. `random_seed`: random weights of the encoder's architecture (tests)."""
    check_pair(dataset, encoder)
    root = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    return _embedded(dataset, encoder, root, download, random_seed, dataset_key(dataset))


@functools.lru_cache(maxsize=4)
def _embedded(dataset: str, encoder: str, root: Path, download: bool, random_seed: int | None,
              key: str = "") -> ImageDataset:
    data = load_dataset(dataset, root, download)
    folder, fingerprint, cached = cached_arrays(data, encoder, root, download, random_seed)
    if cached is None:
        with locked(folder):
            folder, fingerprint, cached = cached_arrays(data, encoder, root, download, random_seed)
            if cached is None:
                compute(folder, data, encoder, root, download, random_seed, fingerprint)
                folder, fingerprint, cached = cached_arrays(data, encoder, root, download, random_seed)
    if cached is None:
        raise DataError(f"the embedding cache {folder} was not written; delete it and rerun")
    arrays, hashes = cached
    files = {f"{CACHE_DIR}/{folder.parent.name}/{folder.name}/{split}.npy": hashes[split] for split in SPLITS}
    return ImageDataset(dataset, torch.from_numpy(arrays["train"]), data.train_y, torch.from_numpy(arrays["test"]),
                        data.test_y, list(data.classes), fingerprint=data.fingerprint | files |
                        {f"{encoder} weights": fingerprint})


def job_data(spec: JobSpec, data_dir: Path | str | None, download: bool = False) -> ImageDataset:
    """What a job learns on: the dataset's images, or with an encoder its cached embeddings."""
    check_pair(spec.dataset, spec.encoder or None)
    if spec.encoder:
        return embedded_dataset(spec.dataset, spec.encoder, data_dir, download)
    return load_dataset(spec.dataset, data_dir, download)


def cache_embeddings(pairs: set[tuple[str, str]], data_dir: Path | str | None, download: bool = False,
                     sources: tuple = ()) -> None:
    """Embed each (dataset, encoder) not cached yet, before a sweep's jobs start, so that they only read the
    cache. The work runs in a child process: this one (the sweep's driver) never initialises CUDA, while the
    child embeds on a GPU when there is one. `sources`: the user datasets among them, registered in the child."""
    root = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    missing = []
    for dataset, encoder in sorted(pairs):
        check_pair(dataset, encoder)
        if cached_arrays(load_dataset(dataset, root, download), encoder, root, download, None)[2] is None:
            missing.append((dataset, encoder))
    if not missing:
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        for dataset, encoder in missing:
            cost = pool.submit(embed_into_cache, dataset, encoder, str(root), download, sources).result()
            print(f"embedded {dataset} with {encoder}: {cost}", file=sys.stderr, flush=True)


def embed_into_cache(dataset: str, encoder: str, root: str, download: bool, sources: tuple = ()) -> str:
    """Compute the cache (in the embedding child) and say what it cost, from its `meta.json`."""
    register_all(sources)
    embedded_dataset(dataset, encoder, root, download)
    folder = cache_location(dataset, encoder, Path(root), download, None)[0]
    return embedding_cost(json.loads((folder / "meta.json").read_text()))


def embedding_cost(meta: dict) -> str:
    """'702 samples in 7 s (12 CPU s, 2 torch threads on cpu)' from a cache's meta.json."""
    splits = meta["splits"].values()
    if not all("seconds" in split for split in splits):  # a cache written before its cost was recorded
        return f"{sum(split['rows'] for split in splits):,} samples"
    where = meta.get("computed_on", {})
    return (f"{sum(split['rows'] for split in splits):,} samples in {sum(split['seconds'] for split in splits):.0f} s "
            f"({sum(split['cpu_seconds'] for split in splits):.0f} CPU s, {where.get('torch_threads', '?')} torch "
            f"threads on {where.get('device', '?')})")
