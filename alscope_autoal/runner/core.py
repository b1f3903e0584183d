"""One job, whichever backend runs it: compute its rows, write its file; and the in-process sequential runner.

`compute_job` is what runs on a worker (a local process or a Ray task); `execute_job` also writes the result file.
The data and training code is imported inside them, so that `autoal status` and the parent of a process pool do
not pay for (or initialise) torch.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import UserError
from ..results import is_done, provenance, write_job
from ..spec import JobSpec
from .claims import Claims
from .store import clear_failure, failure_path, record_failure, split_done

CUBLAS_VARIABLE = "CUBLAS_WORKSPACE_CONFIG"  # as the job's process had it: set by --deterministic
RECHECK_SECONDS = 1.0  # how often jobs held by other sweeps are looked at again


class Reporter(Protocol):
    def sweep_started(self, to_run: list[JobSpec], already_done: int) -> None: ...
    def job_started(self, spec: JobSpec) -> None: ...
    def round_done(self, spec: JobSpec, row: dict[str, Any]) -> None: ...
    def job_finished(self, spec: JobSpec, error: str | None) -> None: ...


class SilentReporter:
    def sweep_started(self, to_run, already_done): pass
    def job_started(self, spec): pass
    def round_done(self, spec, row): pass
    def job_finished(self, spec, error): pass


@dataclass
class SweepOutcome:
    ran: list[JobSpec] = field(default_factory=list)
    skipped: list[JobSpec] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # job id -> one-line error
    seconds: dict[str, float] = field(default_factory=dict)  # job id -> dispatch to result written, as the driver saw
    work_seconds: dict[str, float] = field(default_factory=dict)  # job id -> the job's own work, where it ran
    startup_seconds: float = 0.0  # before the backend could take jobs: worker processes up, Ray connected
    set_aside: list[Path] = field(default_factory=list)  # files moved to jobs/damaged/ or jobs/stale/ first
    elsewhere: list[JobSpec] = field(default_factory=list)  # finished by another sweep sharing the folder (in skipped)

    def overhead_seconds(self) -> dict[str, float]:
        """Per finished job: the runner's share (dispatch, messages, result write) beyond the job's own work."""
        return {job: self.seconds[job] - work for job, work in self.work_seconds.items() if job in self.seconds}


def compute_job(spec: JobSpec, data_dir: Path | str | None, download: bool = False,
                on_round: Callable[[dict[str, Any]], None] | None = None,
                device: str | None = None, deterministic: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Load the data and run the job (under `determinism.numerics`): its rows (one per round) and the provenance
    for its result file."""
    from ..determinism import numerics
    from ..encoders.cache import job_data
    from ..loop import pick_device, run_job

    data = job_data(spec, data_dir, download)
    with numerics(deterministic):
        dev = pick_device(device)
        rows = run_job(spec, data, dev, on_round)
    return rows, provenance(spec, data.fingerprint, {"device": str(dev), "deterministic": deterministic,
                                                     "cublas_workspace_config": os.environ.get(CUBLAS_VARIABLE)})


def execute_job(spec: JobSpec, out_dir: Path, data_dir: Path | None, download: bool = False,
                reporter: Reporter | None = None, device: str | None = None, deterministic: bool = True) -> Path:
    """Run one job and write its result file. Everything a backend that shares the disk needs to call."""
    on_round = (lambda row: reporter.round_done(spec, row)) if reporter else None
    rows, meta = compute_job(spec, data_dir, download, on_round, device, deterministic)
    return write_job(out_dir, spec, rows, meta)


def run_sequential(specs: list[JobSpec], out_dir: Path, data_dir: Path | None, download: bool = False,
                   reporter: Reporter | None = None, deterministic: bool = True) -> SweepOutcome:
    """Run the unfinished jobs one after the other in this process, each once claimed (see `claims`)."""
    reporter = reporter or SilentReporter()
    to_run, done = split_done(specs, out_dir)
    outcome = SweepOutcome(ran=to_run, skipped=done)
    reporter.sweep_started(to_run, len(done))
    with Claims(out_dir) as claims:
        queue = JobQueue(to_run, out_dir, claims, outcome, reporter)
        while not queue.empty:
            spec = queue.next_job()
            if spec is None:
                time.sleep(RECHECK_SECONDS)
                continue
            try:
                run_claimed(spec, out_dir, data_dir, download, reporter, outcome, deterministic)
            finally:
                claims.release(spec.job_id)
    return outcome


def run_claimed(spec: JobSpec, out_dir: Path, data_dir: Path | None, download: bool, reporter: Reporter,
                outcome: SweepOutcome, deterministic: bool) -> None:
    reporter.job_started(spec)
    error = None
    started = time.perf_counter()
    try:
        rows, meta = compute_job(spec, data_dir, download, lambda row: reporter.round_done(spec, row),
                                 deterministic=deterministic)
        outcome.work_seconds[spec.job_id] = time.perf_counter() - started
        write_job(out_dir, spec, rows, meta)
        outcome.seconds[spec.job_id] = time.perf_counter() - started
        clear_failure(out_dir, spec)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad job must not stop the sweep
        error = outcome.failed[spec.job_id] = record_failure(out_dir, spec, exc)
    reporter.job_finished(spec, error)


class JobQueue:
    """A sweep's unfinished jobs, handed out one at a time once this process has claimed them. Jobs that another
    sweep holds are passed over and looked at again later (their claim may be taken over, or they finish there)."""

    def __init__(self, specs: list[JobSpec], out_dir: Path, claims: Claims, outcome: SweepOutcome,
                 reporter: Reporter) -> None:
        self.waiting = deque(specs)
        self.out_dir, self.claims, self.outcome, self.reporter = Path(out_dir), claims, outcome, reporter
        self.since = time.time()  # a failure recorded after this was another sweep's attempt in this run
        self.recheck_at = 0.0

    @property
    def empty(self) -> bool:
        return not self.waiting

    def next_job(self) -> JobSpec | None:
        """The next job this process now holds the claim of; None when every waiting job is held elsewhere."""
        if time.monotonic() < self.recheck_at:
            return None
        for _ in range(len(self.waiting)):
            spec = self.waiting.popleft()
            if self.settled_elsewhere(spec):
                continue
            if not self.claims.try_claim(spec):
                self.waiting.append(spec)
                continue
            if self.settled_elsewhere(spec):  # finished between our look and our claim
                self.claims.release(spec.job_id)
                continue
            return spec
        self.recheck_at = time.monotonic() + RECHECK_SECONDS
        return None

    def settled_elsewhere(self, spec: JobSpec) -> bool:
        """Whether another sweep finished the job, or failed it since this sweep started; if so, say so."""
        if is_done(self.out_dir, spec):
            self.outcome.ran.remove(spec)
            self.outcome.skipped.append(spec)
            self.outcome.elsewhere.append(spec)
            error = None
        elif self.failed_since(spec):
            error = self.outcome.failed[spec.job_id] = f"failed in another sweep: {failure_error(self.out_dir, spec)}"
        else:
            return False
        self.reporter.job_started(spec)  # so progress displays count it; it ran elsewhere
        self.reporter.job_finished(spec, error)
        return True

    def failed_since(self, spec: JobSpec) -> bool:
        try:
            return failure_path(self.out_dir, spec.job_id).stat().st_mtime >= self.since
        except FileNotFoundError:
            return False


def failure_error(out_dir: Path, spec: JobSpec) -> str:
    try:
        return json.loads(failure_path(out_dir, spec.job_id).read_text())["error"]
    except (OSError, ValueError, KeyError):
        return "see its failure record"
