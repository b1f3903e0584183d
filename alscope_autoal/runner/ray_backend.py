"""The Ray backend: the same job specs as Ray tasks, on a cluster (`--address`) or a local Ray instance.

Each job is a task that asks for `num_cpus` (its torch threads) and, where the cluster has GPUs, a share of one GPU
(Ray sets `CUDA_VISIBLE_DEVICES` for it). The task returns the job's rows and provenance and the driver writes the
result file under `--out`, so worker nodes need the package and the datasets (same `--data-dir` path) but no shared
results folder. Ray retries a task whose worker or node died (`max_retries`); a job that raises is not retried and
is recorded as failed. If the driver dies its tasks die with it: the result files already written are the resume
point, as with the local backend.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..results import write_job
from ..spec import JobSpec
from .claims import Claims
from .core import RECHECK_SECONDS, JobQueue, Reporter, SweepOutcome
from .store import clear_failure, describe, write_failure
from .threads import job_threads

MAX_RETRIES = 3  # re-runs of a task whose worker process or node died
WAIT_SECONDS = 0.5  # how long one wait for finished tasks lasts, so Ctrl-C is seen promptly


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("the ray backend needs Ray: pip install 'alscope-autoal[ray]'") from None
    return ray


def ray_job(spec_json: str, data_dir: str | None, download: bool, threads: int,
            deterministic: bool = True) -> tuple[list, dict, float]:
    """The body of one Ray task: run the job, return (rows, provenance, seconds of work)."""
    import torch

    from .core import compute_job

    torch.set_num_threads(threads)
    started = time.perf_counter()
    rows, meta = compute_job(JobSpec.from_json(spec_json), data_dir, download, deterministic=deterministic)
    return rows, meta, time.perf_counter() - started


def connect(ray, address: str | None) -> bool:
    """Join the cluster at `address`, or start a local instance; True when this call started Ray."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except ConnectionError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address}: {exc}; start it with 'ray start --head' "
                        "or leave out --address for a local Ray instance") from None
    return True


def task_options(ray, threads: int, jobs_per_gpu: int) -> dict[str, Any]:
    gpus = ray.cluster_resources().get("GPU", 0)
    options: dict[str, Any] = {"num_cpus": threads, "max_retries": MAX_RETRIES}
    if gpus:
        # max_calls=1: a fresh worker per GPU task, since an idle Ray worker keeps its CUDA memory
        options |= {"num_gpus": 1 / jobs_per_gpu, "max_calls": 1}
    return options


def capacity(ray, options: dict[str, Any], workers: int | None) -> int:
    """How many tasks to keep in flight: `--workers`, else what the cluster can run at once."""
    if workers:
        return workers
    resources = ray.cluster_resources()
    fits = int(resources.get("CPU", 1) // options["num_cpus"])
    if options.get("num_gpus"):
        fits = min(fits, int(resources["GPU"] / options["num_gpus"]))
    return max(1, fits)


def run_ray(to_run: list[JobSpec], out_dir: Path, data_dir: Path | None, download: bool, reporter: Reporter,
            outcome: SweepOutcome, address: str | None = None, workers: int | None = None,
            threads: int | None = None, jobs_per_gpu: int = 1, deterministic: bool = True) -> None:
    """Run `to_run` as Ray tasks (each on `threads` torch threads, `job_threads` deciding when None), each once the
    driver has claimed it (other sweeps may share `out_dir`); the driver writes results and failures under
    `out_dir`."""
    with Claims(out_dir) as claims:
        run_claimed_tasks(JobQueue(to_run, out_dir, claims, outcome, reporter), out_dir, data_dir, download,
                          reporter, outcome, address, workers, threads, jobs_per_gpu, deterministic)


def run_claimed_tasks(queue: JobQueue, out_dir: Path, data_dir: Path | None, download: bool, reporter: Reporter,
                      outcome: SweepOutcome, address: str | None, workers: int | None, threads: int | None,
                      jobs_per_gpu: int, deterministic: bool) -> None:
    ray = import_ray()
    threads = job_threads(threads)
    connecting = time.perf_counter()
    started_here = connect(ray, address)
    outcome.startup_seconds = time.perf_counter() - connecting
    in_flight: dict[Any, tuple[JobSpec, float]] = {}
    try:
        options = task_options(ray, threads, jobs_per_gpu)
        remote = ray.remote(ray_job).options(**options)
        limit = capacity(ray, options, workers)
        data = str(Path(data_dir).expanduser().resolve()) if data_dir else None
        while not queue.empty or in_flight:
            while len(in_flight) < limit and (spec := queue.next_job()):
                ref = remote.remote(spec.canonical(), data, download, threads, deterministic)
                in_flight[ref] = (spec, time.perf_counter())
                reporter.job_started(spec)
            if not in_flight:
                time.sleep(RECHECK_SECONDS)  # every waiting job is held by another sweep
                continue
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_SECONDS)
            for ref in ready:
                spec, dispatched_at = in_flight.pop(ref)
                try:
                    collect(ray, ref, spec, dispatched_at, out_dir, reporter, outcome)
                finally:
                    queue.claims.release(spec.job_id)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def collect(ray, ref, spec: JobSpec, dispatched_at: float, out_dir: Path, reporter: Reporter,
            outcome: SweepOutcome) -> None:
    """Write a finished task's result file, or record why it failed."""
    try:
        rows, meta, work = ray.get(ref)
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, UserError):
            raise UserError(str(cause)) from None
        message, trace = describe(cause) if isinstance(cause, BaseException) else describe(exc)
        write_failure(out_dir, spec, message, str(exc) if cause is not None else trace)
        outcome.failed[spec.job_id] = message
        reporter.job_finished(spec, message)
        return
    for row in rows:
        reporter.round_done(spec, row)
    write_job(out_dir, spec, rows, meta)
    outcome.seconds[spec.job_id] = time.perf_counter() - dispatched_at
    outcome.work_seconds[spec.job_id] = work
    clear_failure(out_dir, spec)
    reporter.job_finished(spec, None)
