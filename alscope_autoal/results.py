"""Result files: one Parquet file per finished job (one row per round), provenance in the footer metadata.

A job counts as done only when its file reads back. Files are written under a temporary name in the same folder
(`.<job id>.<random>.tmp`) and renamed into place, so an interrupted write never leaves a half file under a job's
name: a `jobs/*.parquet` file that does not read back is damaged (truncated on a full disk, copied badly, edited),
never a write in progress. Damaged files are reported, never skipped in silence, and never deleted: a rerun of
their job first moves them to `jobs/damaged/` (docs/protocol.md, "Result files").
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import DamagedResults, UserError
from .spec import JobSpec

JOBS_DIR = "jobs"
DAMAGED_DIR = "damaged"  # inside JOBS_DIR: damaged result files set aside before their job reruns
STALE_DIR = "stale"  # inside JOBS_DIR: results written under other settings, set aside when their job reruns
CHECKING_SUFFIX = ".checking"  # a result file held under a private name while a sweep checks whether it is damaged
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
    set_aside_if_damaged(path)
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


def reads_back(path: Path) -> bool:
    """Whether a result file reads back whole: a Parquet footer and at least one row."""
    try:
        return pq.read_table(path).num_rows > 0
    except (OSError, pa.ArrowException):
        return False


def is_damaged(path: Path) -> bool:
    """A file under a job's final name that does not read back (temporaries never carry that name)."""
    return path.is_file() and not reads_back(path)


def is_done(out_dir: Path, spec: JobSpec) -> bool:
    """A job is done when its file exists and reads back (a damaged file is redone, after being set aside)."""
    path = job_path(out_dir, spec)
    return path.is_file() and reads_back(path)


def set_aside_if_damaged(path: Path) -> Path | None:
    """Move a damaged result file to `jobs/damaged/` (never over another file there); returns where it went.

    Another sweep may write the job's whole result between our look and our move, so the file is first renamed to
    a private name (`.<job id>.<random>.checking`, which no reader takes for a result) and looked at again there: the
    rename takes whatever is at the path at that instant, and a file that reads back goes straight back."""
    if not is_damaged(path):
        return None
    private = path.with_name(f".{path.stem}.{uuid.uuid4().hex}{CHECKING_SUFFIX}")
    try:
        os.rename(path, private)
    except FileNotFoundError:
        return None  # another sweep moved it first
    return settle_checked(private, path)


def settle_checked(private: Path, path: Path) -> Path | None:
    """Put a file held under its private name back at `path` if it reads back, else into `jobs/damaged/`."""
    if not reads_back(private):
        return set_aside(private, DAMAGED_DIR, path.name)
    try:
        os.link(private, path)
    except FileExistsError:
        pass  # a later whole result of the same job was written meanwhile: it is kept, this copy dropped
    except OSError:
        if not path.exists():  # no hard links here
            os.rename(private, path)
    private.unlink(missing_ok=True)
    return None


def recover_checked(jobs_dir: Path, older_than: float) -> None:
    """Settle the files a killed sweep left under their private names while checking them."""
    cutoff = time.time() - older_than
    for private in Path(jobs_dir).glob(f".*{CHECKING_SUFFIX}"):
        try:
            if private.stat().st_ctime >= cutoff:  # the rename set ctime: a check takes milliseconds
                continue
        except OSError:
            continue
        settle_checked(private, private.with_name(private.name[1:].rsplit(".", 2)[0] + ".parquet"))


def set_aside(path: Path, folder_name: str, name: str | None = None) -> Path | None:
    """Move `path` into the folder `folder_name` beside it under a free name (`name` or its own name, then
    `STEM.1.parquet`, ...); None when another process moved it first. A hard link claims the name atomically, so two
    sweeps never overwrite each other's copy (where the file system has no hard links, a rename to a name checked
    free)."""
    folder = path.parent / folder_name
    folder.mkdir(exist_ok=True)
    name = Path(name or path.name)
    for number in itertools.count():
        target = folder / (name.name if number == 0 else f"{name.stem}.{number}{name.suffix}")
        if not target.exists() and claim(path, target):
            return target
        if not path.exists():
            return None


def claim(path: Path, target: Path) -> bool:
    """Give `path` the new name `target` unless `target` exists meanwhile."""
    try:
        os.link(path, target)
    except FileExistsError:
        return False
    except FileNotFoundError:
        return False  # gone: another sweep moved it
    except OSError:
        os.replace(path, target)  # no hard links here
        return True
    path.unlink(missing_ok=True)
    return True


def read_metadata(path: Path) -> dict[str, Any]:
    return json.loads(pq.read_schema(path).metadata[META_KEY])


def result_files(results_dir: Path) -> list[Path]:
    """The files under a job's final name in RESULTS_DIR/jobs (not the set-aside ones, not temporaries)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"no results folder at {results_dir}: run 'autoal bench --out {results_dir}' first")
    return sorted(path for path in (results_dir / JOBS_DIR).glob("*.parquet") if path.is_file())


def damaged_files(results_dir: Path) -> list[Path]:
    return [path for path in result_files(results_dir) if not reads_back(path)]


def read_tables(results_dir: Path) -> tuple[list[pd.DataFrame], list[Path]]:
    """(one frame per readable result file, the damaged files)."""
    frames, damaged = [], []
    for path in result_files(results_dir):
        try:
            frame = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException):
            frame = None
        if frame is None or frame.empty:
            damaged.append(path)
        else:
            frames.append(frame)
    return frames, damaged


def read_results(results_dir: Path, skip_damaged: bool = False) -> pd.DataFrame:
    """Every finished job's rows as one table. Damaged result files raise `DamagedResults` (naming them), unless
    `skip_damaged`; `read_results_and_damage` also returns them."""
    return read_results_and_damage(results_dir, skip_damaged)[0]


def read_results_and_damage(results_dir: Path, skip_damaged: bool = False) -> tuple[pd.DataFrame, list[Path]]:
    """(every readable job's rows as one table, the damaged files skipped: only with `skip_damaged`)."""
    frames, damaged = read_tables(results_dir)
    if damaged and (not skip_damaged or not frames):
        raise DamagedResults(damage_message(results_dir, damaged, nothing_else=not frames))
    if not frames:
        raise UserError(f"no result files in {results_dir}/{JOBS_DIR}: run 'autoal bench --out {results_dir}'")
    return pd.concat(frames, ignore_index=True), damaged


def damage_message(results_dir: Path, damaged: list[Path], nothing_else: bool = False,
                   hint: str | None = None) -> str:
    """One line: how many damaged files, which, and what to do."""
    if hint is None:
        hint = ("nothing else to read; " if nothing_else else "pass --skip-damaged to use the others, or ") + (
            f"rerun the sweep's 'autoal bench' with --out {results_dir}: it moves them to "
            f"{Path(results_dir) / JOBS_DIR / DAMAGED_DIR} and reruns their jobs")
    return f"{len(damaged)} damaged result file(s) in {Path(results_dir) / JOBS_DIR} (not readable as Parquet): " \
           f"{name_list(damaged)}; {hint}"


def name_list(paths: list[Path], shown: int = 10) -> str:
    names = ", ".join(path.name for path in paths[:shown])
    return names + (f" and {len(paths) - shown} more ('autoal status --json' lists all)" if len(paths) > shown
                    else "")
