"""One job, whichever backend runs it: compute its rows, write its file; the in-process runner; and the queue that
hands a sweep's jobs to a backend once claimed.

`compute_job` is what runs on a worker (a local process or a Ray task); `execute_job` also writes the result file.
The data and training code is imported inside them, so that `autoal status` and the parent of a process pool do
not pay for (or initialise) torch.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..results import is_done, provenance, write_job
from ..spec import JobSpec
from ..allocator import peak_memory, start_peak_window, tune_allocator
from .options import RunOptions
from .recorder import JobRecorder, Reporter
from .store import failure_path
from .threads import torch_threads

CUBLAS_VARIABLE = "CUBLAS_WORKSPACE_CONFIG"  # as the job's process had it: set by --deterministic
RECHECK_SECONDS = 1.0  # how often jobs held by other sweeps are looked at again


def compute_job(
    spec: JobSpec, options: RunOptions = RunOptions(), on_round: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Import the options' plugins (once per process), load the data and run the job under the options' threads
    (None: this process's setting), device and `determinism.numerics`: its rows (one per round) and the
    provenance for its result file. The allocator is tuned first, before the job's large blocks exist
    (`allocator.py`)."""
    from ..data.user_sets import register_all, source_record
    from ..determinism import numerics
    from ..encoders.cache import job_data
    from ..hardware import describe_compute
    from ..loop import pick_device, run_job
    from ..plugins import load_plugins

    allocator = tune_allocator()
    window = start_peak_window()
    load_plugins(options.plugins)
    register_all(options.datasets)
    started = time.perf_counter()
    with torch_threads(options.threads):
        data = job_data(spec, data_dir=options.data_dir, download=options.download)
        with numerics(options.deterministic):
            dev = pick_device(options.device)
            reset_gpu_peak(dev)
            rows = run_job(spec, data, dev, on_round, options.data_dir)
        return rows, provenance(spec, data.fingerprint, {
            "device": str(dev), "deterministic": options.deterministic,
            "cublas_workspace_config": os.environ.get(CUBLAS_VARIABLE), "precision": spec.precision,
            "job_seconds": time.perf_counter() - started, **measured_rates(rows),
            "compute": describe_compute(dev), **source_record(spec.dataset), **plugin_provenance(spec),
            "allocator": allocator, "peak_memory": peak_memory(window, dev)})


def reset_gpu_peak(device) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def plugin_provenance(spec: JobSpec) -> dict[str, Any]:
    """The footer's record of the job's strategies from outside the package (nothing for built-ins)."""
    from ..identity import external_strategies
    from ..plugins import provenance

    sources = {key.removeprefix("strategy.source").lstrip(".") or spec.strategy: source
               for key, source in external_strategies(spec).items()}
    return {"plugins": {name: provenance(source) for name, source in sources.items()}} if sources else {}


def measured_rates(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The job's training and inference speed, which `autoal bench --dry-run` estimates later sweeps from."""
    train_seconds = sum(row["train_seconds"] for row in rows)
    eval_seconds = sum(row["eval_seconds"] for row in rows)
    return {"train_image_steps_per_second": sum(row["train_image_steps"] for row in rows) / max(train_seconds, 1e-9),
            "eval_images_per_second": sum(row["eval_images"] for row in rows) / max(eval_seconds, 1e-9)}


def execute_job(spec: JobSpec, out_dir: Path, options: RunOptions = RunOptions(),
                reporter: Reporter | None = None) -> Path:
    """Run one job and write its result file. Everything a backend that shares the disk needs to call."""
    on_round = (lambda row: reporter.round_done(spec, row)) if reporter else None
    rows, meta = compute_job(spec, options, on_round)
    return write_job(out_dir, spec, rows, meta)


def run_in_process(queue: JobQueue, options: RunOptions) -> None:
    """Run the queue's jobs one after the other in this process."""
    while not queue.empty:
        spec = queue.next_job()
        if spec is None:
            time.sleep(RECHECK_SECONDS)
            continue
        run_claimed(spec, queue.recorder, options)


def run_claimed(spec: JobSpec, recorder: JobRecorder, options: RunOptions) -> None:
    recorder.started(spec)
    started = time.perf_counter()
    try:
        rows, meta = compute_job(spec, options, lambda row: recorder.round_done(spec, row))
        work = time.perf_counter() - started
        write_job(recorder.out_dir, spec, rows, meta)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad job must not stop the sweep
        recorder.raised(spec, exc)
        return
    recorder.succeeded(spec, since=started, work_seconds=work)


class JobQueue:
    """A sweep's unfinished jobs, handed out one at a time once this process has claimed them. Jobs that another
    sweep holds are passed over and looked at again later (their claim may be taken over, or they finish there)."""

    def __init__(self, specs: list[JobSpec], recorder: JobRecorder) -> None:
        self.waiting = deque(specs)
        self.held: deque[JobSpec] = deque()  # claimed by this process, handed back unrun (its worker died first)
        self.recorder, self.out_dir, self.claims = recorder, recorder.out_dir, recorder.claims
        self.since = time.time()  # a failure recorded after this was another sweep's attempt in this run
        self.recheck_at = 0.0

    @property
    def empty(self) -> bool:
        return not self.waiting and not self.held

    def __len__(self) -> int:
        return len(self.waiting) + len(self.held)

    def hand_back(self, spec: JobSpec) -> None:
        """A job this process claimed but did not run: it is handed out again first, its claim kept."""
        self.held.append(spec)

    def next_job(self) -> JobSpec | None:
        """The next job this process now holds the claim of; None when every waiting job is held elsewhere."""
        if self.held:
            return self.held.popleft()
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
            error = None
        elif self.failed_since(spec):
            error = f"failed in another sweep: {failure_error(self.out_dir, spec)}"
        else:
            return False
        self.recorder.settled_elsewhere(spec, error)
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
