"""The Ray backend: the same job specs as Ray tasks, on a cluster (`--address`) or a local Ray instance.

Each job is a task that asks for `num_cpus` (its torch threads) and, where the cluster has GPUs, a share of one GPU
(Ray sets `CUDA_VISIBLE_DEVICES` for it). The task returns the job's rows and provenance and the driver writes the
result file under `--out`, so worker nodes need the package and the datasets (same `--data-dir` path) but no shared
results folder. Ray retries a task whose worker or node died (`max_retries`); a job that raises is not retried and
is recorded as failed. If the driver dies its tasks die with it: the result files already written are the resume
point, as with the local backend.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..plugins import reference
from ..results import write_job
from ..spec import JobSpec
from .backends import BACKENDS, Backend
from .core import RECHECK_SECONDS, JobQueue
from .options import RunOptions
from .recorder import JobRecorder
from .store import describe
from .threads import job_threads

MAX_RETRIES = 3  # re-runs of a task whose worker process or node died
WAIT_SECONDS = 0.5  # how long one wait for finished tasks lasts, so Ctrl-C is seen promptly
NEEDS_RAY = "the ray backend needs Ray: pip install 'alscope-autoal[ray]'"


def check(options: RunOptions) -> None:
    if importlib.util.find_spec("ray") is None:
        raise UserError(NEEDS_RAY)


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(NEEDS_RAY) from None
    return ray


def ray_job(spec_json: str, options: RunOptions) -> tuple[list, dict, float]:
    """The body of one Ray task: run the job, return (rows, provenance, seconds of work)."""
    from .core import compute_job

    started = time.perf_counter()
    rows, meta = compute_job(JobSpec.from_json(spec_json), options)
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


def run_ray(queue: JobQueue, options: RunOptions, sweep_jobs: int) -> None:
    """Run the queue's jobs as Ray tasks (each on `options.threads` torch threads, `job_threads` deciding when
    None); the driver writes results and failures under the queue's folder."""
    ray = import_ray()
    # the tasks get their thread count settled, and the data dir and plugin files as full paths (their working
    # folder differs)
    options = replace(options, threads=job_threads(options.threads),
                      data_dir=Path(options.data_dir).expanduser().resolve() if options.data_dir else None,
                      plugins=tuple(reference(plugin) for plugin in options.plugins))
    connecting = time.perf_counter()
    started_here = connect(ray, options.address)
    queue.recorder.outcome.startup_seconds = time.perf_counter() - connecting
    in_flight: dict[Any, tuple[JobSpec, float]] = {}
    try:
        task = task_options(ray, options.threads, options.jobs_per_gpu)
        remote = ray.remote(ray_job).options(**task)
        limit = capacity(ray, task, options.workers)
        while not queue.empty or in_flight:
            while len(in_flight) < limit and (spec := queue.next_job()):
                in_flight[remote.remote(spec.canonical(), options)] = (spec, time.perf_counter())
                queue.recorder.started(spec)
            if not in_flight:
                time.sleep(RECHECK_SECONDS)  # every waiting job is held by another sweep
                continue
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_SECONDS)
            for ref in ready:
                collect(ray, ref, *in_flight.pop(ref), queue.recorder)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def collect(ray, ref, spec: JobSpec, dispatched_at: float, recorder: JobRecorder) -> None:
    """Write a finished task's result file, or record why it failed."""
    try:
        rows, meta, work = ray.get(ref)
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, UserError):
            raise UserError(str(cause)) from None
        message, trace = describe(cause) if isinstance(cause, BaseException) else describe(exc)
        recorder.failed(spec, message, str(exc) if cause is not None else trace)
        return
    for row in rows:
        recorder.round_done(spec, row)
    write_job(recorder.out_dir, spec, rows, meta)
    recorder.succeeded(spec, since=dispatched_at, work_seconds=work)


BACKENDS.add("ray", Backend(run_ray, check), "Ray tasks on a cluster (--address) or a local Ray instance")
