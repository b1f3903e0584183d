"""Result files: one Parquet file per finished job (one row per round), provenance in the footer metadata.

A job counts as done only when its file reads back. Files are written under a temporary name in the same folder
and renamed into place, so an interrupted write never leaves a half file under a job's name.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import UserError
from .spec import JobSpec

JOBS_DIR = "jobs"
META_KEY = b"alscope_autoal"
PACKAGES = ("alscope-autoal", "torch", "torchvision", "numpy", "pandas", "pyarrow", "medmnist", "scikit-learn")


def job_path(out_dir: Path, spec: JobSpec) -> Path:
    return Path(out_dir) / JOBS_DIR / f"{spec.job_id}.parquet"


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the checkout this package runs from, or "unknown" (an installed wheel has none)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(spec: JobSpec, fingerprint: dict[str, str], extra: dict[str, Any] | None = None) -> dict:
    return {"spec": json.loads(spec.canonical()), "job_id": spec.job_id, "git_commit": git_commit(),
            "packages": package_versions(), "dataset_files": fingerprint, **numerics(), **(extra or {})}


def numerics() -> dict[str, Any]:
    """What decides the floating-point result besides the spec and the code. On CPU, torch's thread count
    changes how convolutions split their sums: the same job on 28x28 images gives (slightly) different
    accuracies with 1 and 2 threads, so a job is bit-identical only under the same thread count."""
    torch = sys.modules.get("torch")
    return {"torch_threads": torch.get_num_threads()} if torch is not None else {}


def write_job(out_dir: Path, spec: JobSpec, rows: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    """Write a job's rows atomically: temporary file in the same folder, then `os.replace`."""
    path = job_path(out_dir, spec)
    columns = dict.fromkeys(key for row in rows for key in row)  # from_pylist would keep row 0's keys only
    table = pa.Table.from_pylist([{key: row.get(key) for key in columns} for row in rows])
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta)})
    write_atomically(path, lambda tmp: pq.write_table(table, tmp))
    return path


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it into place: readers never see half a file.

    The file gets the usual permissions (0666 less the umask), not mkstemp's owner-only 0600, so results on shared
    storage stay readable by the team.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_done(out_dir: Path, spec: JobSpec) -> bool:
    """A job is done when its file exists and its footer reads back (a corrupt file is redone)."""
    path = job_path(out_dir, spec)
    try:
        return path.is_file() and pq.read_metadata(path).num_rows > 0
    except (OSError, pa.ArrowException):
        return False


def read_metadata(path: Path) -> dict[str, Any]:
    return json.loads(pq.read_schema(path).metadata[META_KEY])


def result_files(results_dir: Path) -> list[Path]:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"no results folder at {results_dir}: run 'autoal bench --out {results_dir}' first")
    return sorted((results_dir / JOBS_DIR).glob("*.parquet"))


def read_results(results_dir: Path) -> pd.DataFrame:
    """Every finished job's rows as one table (files that fail to read are skipped: a sweep may be running)."""
    frames = []
    for path in result_files(results_dir):
        try:
            frames.append(pq.read_table(path).to_pandas())
        except (OSError, pa.ArrowException):
            continue
    if not frames:
        raise UserError(f"no result files in {results_dir}/{JOBS_DIR}: run 'autoal bench --out {results_dir}'")
    return pd.concat(frames, ignore_index=True)
