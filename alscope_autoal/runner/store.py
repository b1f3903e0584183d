"""What a results folder knows about its sweeps: the planned jobs, the failed ones, and what is still pending.

Layout of a results folder (every file written under a temporary name, then renamed, so a reader or a crash never
sees half a file, and two drivers writing the same file leave one whole copy):

    jobs/<job_id>.parquet      one per finished job (results.py)
    jobs/damaged/<name>        result files that did not read back, set aside when their job was rerun
    jobs/stale/<name>          results written under other settings (resolved values), set aside when the job
                               reran under the current ones
    failures/<job_id>.json     one per job whose last attempt failed: spec, error, traceback
    claims/<job_id>.json       one per job a sweep is running now: its host, pid and heartbeat (claims.py)
    sweeps/<sweep_id>.json     one per planned sweep: its job specs, the command that ran it and its effective
                               options (an experiment file's values merged with the command line's)

Each sweep gets its own manifest, named by a hash of its job ids, so concurrent sweeps never edit a shared file.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import UserError
from ..identity import current
from ..results import (JOBS_DIR, STALE_DIR, is_done, job_path, read_metadata, reads_back, recover_checked, result_files,
                       set_aside, set_aside_if_damaged, write_atomically)
from ..spec import JobSpec
from .claims import Claim, read_claims

FAILURES_DIR = "failures"
SWEEPS_DIR = "sweeps"
STALE_TMP_SECONDS = 60  # a result write takes milliseconds: an older temporary file was left by a killed writer


def write_json_atomic(path: Path, payload: Any) -> None:
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1)))


def failure_path(out_dir: Path, job_id: str) -> Path:
    return Path(out_dir) / FAILURES_DIR / f"{job_id}.json"


def describe(exc: BaseException) -> tuple[str, str]:
    """A one-line message and the full traceback of an exception."""
    first_line = (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]
    return first_line, "".join(traceback.format_exception(exc))


def write_failure(out_dir: Path, spec: JobSpec, message: str, trace: str) -> None:
    record = {"job_id": spec.job_id, "spec": json.loads(spec.canonical()), "error": message, "traceback": trace,
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json_atomic(failure_path(out_dir, spec.job_id), record)


def clear_failure(out_dir: Path, spec: JobSpec) -> None:
    failure_path(out_dir, spec.job_id).unlink(missing_ok=True)


def failure_records(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Failure records by job id (unreadable records are skipped: they are being rewritten)."""
    records = {}
    for path in sorted((Path(out_dir) / FAILURES_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            records[record["job_id"]] = record
        except (OSError, ValueError, KeyError):
            continue
    return records


def spec_from_record(record: dict[str, Any]) -> JobSpec:
    return JobSpec.from_json(json.dumps(record["spec"]))


def failed_specs(out_dir: Path) -> list[JobSpec]:
    """The jobs whose last attempt failed and that have no result since: what `--retry-failed` reruns."""
    specs = [spec_from_record(record) for record in failure_records(out_dir).values()]
    return [spec for spec in specs if not is_done(out_dir, spec)]


def sweep_id(specs: list[JobSpec]) -> str:
    return hashlib.sha256(",".join(sorted(spec.job_id for spec in specs)).encode()).hexdigest()[:16]


def write_manifest(out_dir: Path, specs: list[JobSpec], command: str | None = None,
                   settings: str | None = None) -> Path:
    """Record a sweep's jobs, so `autoal status` can tell pending jobs from jobs never asked for, with the command
    that planned them and, from `autoal bench`, its effective options (`settings`, JSON: the experiment file's path,
    every option's value after the file and the command line were merged, and each [[sweep]] part's grid)."""
    path = Path(out_dir) / SWEEPS_DIR / f"{sweep_id(specs)}.json"
    write_json_atomic(path, {"sweep_id": path.stem, "command": command,
                             **({"settings": json.loads(settings)} if settings else {}),
                             "jobs": [json.loads(spec.canonical()) for spec in specs]})
    return path


def manifests(out_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((Path(out_dir) / SWEEPS_DIR).glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def remove_stale_temporaries(out_dir: Path, older_than: float = STALE_TMP_SECONDS) -> None:
    """Delete temporary files that a killed writer left behind (they never count as results), and settle result
    files a killed sweep left under a private name while checking them."""
    recover_checked(Path(out_dir) / JOBS_DIR, older_than)
    cutoff = time.time() - older_than
    for folder in (JOBS_DIR, FAILURES_DIR, SWEEPS_DIR):
        for path in (Path(out_dir) / folder).glob(".*.tmp"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue


def split_done(specs: list[JobSpec], out_dir: Path) -> tuple[list[JobSpec], list[JobSpec]]:
    """(jobs to run, jobs already finished), without duplicates, in the given order."""
    unique = list({spec.job_id: spec for spec in specs}.values())
    done = [spec for spec in unique if is_done(out_dir, spec)]
    finished = {spec.job_id for spec in done}
    return [spec for spec in unique if spec.job_id not in finished], done


def set_aside_damaged(specs: list[JobSpec], out_dir: Path) -> list[Path]:
    """Move the damaged result files of these jobs to `jobs/damaged/` (so their jobs rerun); where they went."""
    moved = (set_aside_if_damaged(job_path(out_dir, spec)) for spec in specs)
    return [path for path in moved if path is not None]


def unresolved_key(spec: JobSpec) -> str:
    """What a job is apart from the values it resolved to: results of one key under two ids are one job run under
    two settings."""
    return replace(spec, resolved=()).canonical()


def set_aside_superseded(specs: list[JobSpec], out_dir: Path) -> list[Path]:
    """Move readable results of these (resolved) jobs that were written under other settings to `jobs/stale/`,
    so they are never pooled with the reruns; where they went."""
    wanted = {unresolved_key(spec): spec.job_id for spec in specs if spec.resolved}
    moved = []
    for path in result_files(out_dir) if wanted else []:
        old = spec_from_result(path)
        if old is not None and wanted.get(unresolved_key(old), path.stem) != path.stem:
            moved.append(set_aside(path, STALE_DIR))
    return [path for path in moved if path is not None]


@dataclass
class SweepStatus:
    """Every job a results folder knows about, by state, each under the settings it resolves to now. A job whose
    result file is damaged is not done: it is in `damaged` (or `failed` when its last attempt failed), and the
    file's path is in `damaged_files`, with those of damaged files whose job is known nowhere else. A job whose
    only results were written under other settings (an edited profile or schedule, or a file older than resolved
    identities) is `stale`, not done; those files are in `stale_files`. A job claimed by a sweep that is still alive
    is `running`; one whose claim was left by a sweep now gone stays pending (and failed, damaged or stale as it
    was), its claim listed in `orphaned`."""
    done: list[JobSpec] = field(default_factory=list)
    failed: list[tuple[JobSpec, dict[str, Any]]] = field(default_factory=list)  # (spec, failure record)
    pending: list[JobSpec] = field(default_factory=list)
    damaged: list[JobSpec] = field(default_factory=list)
    stale: list[JobSpec] = field(default_factory=list)
    damaged_files: list[Path] = field(default_factory=list)
    stale_files: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # the commands that planned these sweeps
    running: list[tuple[JobSpec, Claim]] = field(default_factory=list)  # claimed by a live sweep, not done yet
    orphaned: list[tuple[JobSpec, Claim]] = field(default_factory=list)  # in pending: claimed by a sweep now gone

    @property
    def total(self) -> int:
        return (len(self.done) + len(self.failed) + len(self.pending) + len(self.damaged) + len(self.stale)
                + len(self.running))


def sweep_status(out_dir: Path) -> SweepStatus:
    """Done, failed and pending jobs of every sweep run into `out_dir` (finished jobs of older sweeps count too)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UserError(f"no results folder at {out_dir}: run 'autoal bench --out {out_dir}' first")
    known: dict[str, JobSpec] = {}
    status = SweepStatus()
    for manifest in manifests(out_dir):
        for raw in manifest["jobs"]:
            spec = JobSpec.from_json(json.dumps(raw))
            known[spec.job_id] = spec
        if manifest.get("command") and manifest["command"] not in status.commands:
            status.commands.append(manifest["command"])
    records = failure_records(out_dir)
    for record in records.values():
        known.setdefault(record["job_id"], spec_from_record(record))
    files = {path.stem: path for path in (out_dir / JOBS_DIR).glob("*.parquet") if path.is_file()}
    readable = {job_id for job_id, path in files.items() if reads_back(path)}
    status.damaged_files = sorted(files[job_id] for job_id in files.keys() - readable)
    for job_id in sorted(readable - known.keys()):
        spec = spec_from_result(files[job_id])
        if spec is not None:
            known[job_id] = spec
    jobs, stale = current_jobs(known, readable)
    status.stale_files = sorted(files[job_id] for job_id in stale)
    superseded = set(stale.values())
    claims = read_claims(out_dir)
    for job_id, spec in jobs.items():
        claim = claims.get(job_id)
        if job_id in readable:
            status.done.append(spec)
        elif claim is not None and not claim.owner_gone():
            status.running.append((spec, claim))
        elif job_id in records:
            status.failed.append((spec, records[job_id]))
        elif job_id in files:
            status.damaged.append(spec)
        elif job_id in superseded:
            status.stale.append(spec)
        else:
            status.pending.append(spec)
        if claim is not None and claim.owner_gone() and job_id not in readable:
            status.orphaned.append((spec, claim))
    return status


def current_jobs(known: dict[str, JobSpec], readable: set[str]) -> tuple[dict[str, JobSpec], dict[str, str]]:
    """(the known jobs as they resolve now, by id; stale result id -> the id of the job it was written for)."""
    jobs: dict[str, JobSpec] = {}
    stale: dict[str, str] = {}
    for job_id, spec in known.items():
        now = current(spec) or spec  # a job whose profile or strategy is gone stays as it was
        jobs.setdefault(now.job_id, now)
        if job_id != now.job_id and job_id in readable:
            stale[job_id] = now.job_id
    return jobs, stale


def spec_from_result(path: Path) -> JobSpec | None:
    """The spec stored in a result file's footer; None when the file does not read back."""
    try:
        return JobSpec.from_json(json.dumps(read_metadata(path)["spec"]))
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None
