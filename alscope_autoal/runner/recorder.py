"""The bookkeeping of each job of a sweep, the same whichever backend runs it, and what it adds up to.

A backend tells the recorder when it hands a job out, when a round is done, and how the job ended; the recorder
keeps the folder (failure records written or cleared), the sweep's outcome (times, errors), the progress display
and the job's claim in step, so every backend leaves the same folder behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..spec import JobSpec
from .claims import Claims
from .store import clear_failure, describe, write_failure


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


class JobRecorder:
    def __init__(self, out_dir: Path, reporter: Reporter, outcome: SweepOutcome, claims: Claims) -> None:
        self.out_dir, self.reporter, self.outcome, self.claims = Path(out_dir), reporter, outcome, claims

    def started(self, spec: JobSpec) -> None:
        self.reporter.job_started(spec)

    def round_done(self, spec: JobSpec, row: dict[str, Any]) -> None:
        self.reporter.round_done(spec, row)

    def succeeded(self, spec: JobSpec, since: float, work_seconds: float) -> None:
        """The job's result file is written: `since` is the `perf_counter` time the job could start (its driver-side
        seconds run from there to now), `work_seconds` the job's own work where it ran."""
        self.outcome.seconds[spec.job_id] = time.perf_counter() - since
        self.outcome.work_seconds[spec.job_id] = work_seconds
        clear_failure(self.out_dir, spec)
        self.claims.release(spec.job_id)
        self.reporter.job_finished(spec, None)

    def failed(self, spec: JobSpec, message: str, trace: str) -> None:
        """The job raised (or its process died): keep `failures/<id>.json` and let the sweep go on."""
        write_failure(self.out_dir, spec, message, trace)
        self.claims.release(spec.job_id)
        self.outcome.failed[spec.job_id] = message
        self.reporter.job_finished(spec, message)

    def raised(self, spec: JobSpec, exc: BaseException) -> None:
        self.failed(spec, *describe(exc))

    def settled_elsewhere(self, spec: JobSpec, error: str | None) -> None:
        """Another sweep sharing the folder finished the job (`error` None) or failed it; shown as if it ran here."""
        if error is None:
            self.outcome.ran.remove(spec)
            self.outcome.skipped.append(spec)
            self.outcome.elsewhere.append(spec)
        else:
            self.outcome.failed[spec.job_id] = error
        self.reporter.job_started(spec)
        self.reporter.job_finished(spec, error)
