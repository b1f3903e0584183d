"""Runs a list of job specs, skipping those already finished, and records failures without stopping the sweep.

This is the in-process sequential runner. The executor of one job (`execute_job`) is what any backend calls.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .data import load_dataset
from .errors import UserError
from .loop import pick_device, run_job
from .results import is_done, provenance, write_job
from .spec import JobSpec

FAILURES_DIR = "failures"


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


def execute_job(spec: JobSpec, out_dir: Path, data_dir: Path | None, download: bool = False,
                reporter: Reporter | None = None, device: str | None = None) -> Path:
    """Load the data, run the job and write its result file. Everything a backend needs to call."""
    data = load_dataset(spec.dataset, data_dir, download)
    dev = pick_device(device)
    on_round = (lambda row: reporter.round_done(spec, row)) if reporter else None
    rows = run_job(spec, data, dev, on_round)
    return write_job(out_dir, spec, rows, provenance(spec, data.fingerprint, {"device": str(dev)}))


def record_failure(out_dir: Path, spec: JobSpec, exc: BaseException) -> str:
    folder = Path(out_dir) / FAILURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    record = {"job_id": spec.job_id, "spec": json.loads(spec.canonical()), "error": message,
              "traceback": "".join(traceback.format_exception(exc))}
    (folder / f"{spec.job_id}.json").write_text(json.dumps(record, indent=1))
    return message


def run_sequential(specs: list[JobSpec], out_dir: Path, data_dir: Path | None, download: bool = False,
                   reporter: Reporter | None = None) -> SweepOutcome:
    reporter = reporter or SilentReporter()
    outcome = SweepOutcome()
    for spec in specs:
        (outcome.skipped if is_done(out_dir, spec) else outcome.ran).append(spec)
    reporter.sweep_started(outcome.ran, len(outcome.skipped))
    for spec in outcome.ran:
        reporter.job_started(spec)
        error = None
        try:
            execute_job(spec, out_dir, data_dir, download, reporter)
            (Path(out_dir) / FAILURES_DIR / f"{spec.job_id}.json").unlink(missing_ok=True)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the sweep
            error = outcome.failed[spec.job_id] = record_failure(out_dir, spec, exc)
        reporter.job_finished(spec, error)
    return outcome
