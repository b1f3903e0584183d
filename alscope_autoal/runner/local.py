"""The local backend: worker processes on this machine, each pinned to one GPU or (on CPU) to one torch thread.

Workers are started with spawn (a fork would copy the parent's threads and any CUDA state). `CUDA_VISIBLE_DEVICES`
and the thread counts are put in each worker's environment before it starts, so they hold before torch is
imported there; the parent only counts the GPUs and never initialises CUDA. The parent hands out one job at a time to each idle worker, so it
always knows which job a worker holds: a worker that dies (killed for memory, a segfault) fails only that job and
is replaced. Workers write their own result files (atomically); the parent keeps the failure records and the
progress display, fed by events the workers put on one queue.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import determinism
from ..errors import UserError
from ..spec import JobSpec
from .backends import BACKENDS, Backend
from .core import JobQueue, run_in_process
from .options import RunOptions
from .recorder import JobRecorder
from .threads import job_threads

POLL_SECONDS = 0.2  # how often the parent checks for dead workers while waiting for events
GRACE_SECONDS = 5.0  # how long a worker may take to stop after SIGTERM before it is killed


@dataclass(frozen=True)
class Slot:
    """Where one worker runs: a GPU (a `CUDA_VISIBLE_DEVICES` entry) or none, and its torch thread count."""
    gpu: str | None
    threads: int


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The GPUs this process may use, without initialising CUDA (`CUDA_VISIBLE_DEVICES` wins when set)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip() and not gpu.strip().startswith("-")]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def plan_slots(workers: int | None, jobs_per_gpu: int, gpus: list[str], cpus: int,
               threads: int | None = None, jobs: int | None = None) -> list[Slot]:
    """One slot per worker, never more than `jobs`. On GPUs: `jobs_per_gpu` per GPU by default, dealt
    round-robin, the CPU cores split evenly among them. On CPU: one worker per core by default, one torch thread
    each. `threads` fixes the thread count either way (`threads.job_threads`)."""
    if workers is None:
        workers = len(gpus) * jobs_per_gpu if gpus else cpus
    if jobs is not None:
        workers = max(1, min(workers, jobs))
    per_job = job_threads(threads, max(1, cpus // workers) if gpus else None)
    return [Slot(gpus[index % len(gpus)] if gpus else None, per_job) for index in range(workers)]


def oversubscription_warning(workers: int | None, cpus: int) -> str | None:
    """One line when `--workers` asks for more jobs at once than there are CPU cores; None otherwise."""
    if workers is None or workers <= cpus:
        return None
    return (f"warning: --workers {workers} is more than the {cpus} CPU cores here: the jobs will compete for them "
            "and the sweep runs slower; leave out --workers for one job per core")


def slot_environment(slot: Slot) -> dict[str, str]:
    threads = str(slot.threads)
    return {"CUDA_VISIBLE_DEVICES": slot.gpu or "", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


@contextlib.contextmanager
def environment(changes: dict[str, str]):
    """Set environment variables for the duration (a spawned child copies the environment when it starts)."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stop(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through `finally`, so no temporary file stays behind


def worker_main(tasks, events, out_dir: Path, options: RunOptions) -> None:
    """A worker's life: run the jobs it is handed (under `options`, its slot's thread count in them) until it gets
    None or its parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the parent decides
    signal.signal(signal.SIGTERM, _stop)
    import torch  # noqa: F401  (ready means ready to compute: torch's start-up is paid here, counted once)

    events.put(("ready", os.getpid()))
    try:
        serve(tasks, events, out_dir, options)
    except SystemExit as stop:
        os._exit(stop.code)  # the stack is unwound (temporary files removed); skip the slow interpreter teardown


def serve(tasks, events, out_dir: Path, options: RunOptions) -> None:
    parent = mp.parent_process()
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        if task is None:
            return
        run_task(JobSpec.from_json(task), events, out_dir, options)


def run_task(spec: JobSpec, events, out_dir: Path, options: RunOptions) -> None:
    from ..results import write_job
    from .core import compute_job
    from .store import describe

    started = time.perf_counter()
    try:
        rows, meta = compute_job(spec, options, lambda row: events.put(("round", spec.job_id, row)))
        work = time.perf_counter() - started
        write_job(out_dir, spec, rows, meta)
        events.put(("done", spec.job_id, work))
    except Exception as exc:  # noqa: BLE001 - the parent records it and the sweep goes on
        events.put(("failed", spec.job_id, *describe(exc), isinstance(exc, UserError)))


@dataclass
class Worker:
    process: Any
    tasks: Any
    slot: Slot
    started_at: float = 0.0
    ready_at: float | None = None  # when it had imported torch and could take a job
    job: JobSpec | None = None
    dispatched_at: float = 0.0


class WorkerPool:
    """Worker processes, one task queue each, one shared event queue back to the parent."""

    def __init__(self, slots: list[Slot], out_dir: Path, options: RunOptions) -> None:
        self.ctx = mp.get_context("spawn")
        self.events = self.ctx.Queue()
        self.out_dir, self.options = Path(out_dir), options
        self.workers = [self.start(slot) for slot in slots]

    def start(self, slot: Slot) -> Worker:
        tasks = self.ctx.Queue()
        options = replace(self.options, threads=slot.threads)
        process = self.ctx.Process(target=worker_main, args=(tasks, self.events, self.out_dir, options),
                                   daemon=True, name=f"autoal-worker-gpu{slot.gpu}" if slot.gpu else "autoal-worker")
        with environment(slot_environment(slot) | determinism.environment(options.deterministic)):
            process.start()
        return Worker(process, tasks, slot, started_at=time.perf_counter())

    def dispatch(self, worker: Worker, spec: JobSpec) -> None:
        worker.job, worker.dispatched_at = spec, time.perf_counter()
        worker.tasks.put(spec.canonical())

    def with_pid(self, pid: int) -> Worker | None:
        return next((worker for worker in self.workers if worker.process.pid == pid), None)

    def holding(self, job_id: str) -> Worker | None:
        return next((worker for worker in self.workers if worker.job and worker.job.job_id == job_id), None)

    def next_event(self, timeout: float) -> tuple | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def replace(self, worker: Worker) -> None:
        self.workers[self.workers.index(worker)] = self.start(worker.slot)

    def close(self, graceful: bool) -> None:
        """Let idle workers exit; terminate (then kill) the rest, abandoning their jobs."""
        processes = [worker.process for worker in self.workers]
        if graceful:
            for worker in self.workers:
                worker.tasks.put(None)
            wait_for(processes, GRACE_SECONDS)
        for process in processes:
            if process.is_alive():
                process.terminate()
        wait_for(processes, GRACE_SECONDS)
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()


def wait_for(processes: list, seconds: float) -> None:
    """Join all processes, giving them `seconds` in total (not each)."""
    deadline = time.monotonic() + seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))


class WorkerPoolSweep:
    """Drives one sweep over a worker pool: dispatch, and the workers' events to the recorder."""

    def __init__(self, pool: WorkerPool, recorder: JobRecorder) -> None:
        self.pool, self.recorder = pool, recorder

    def run(self, queue: JobQueue) -> None:
        while not queue.empty or any(worker.job for worker in self.pool.workers):
            for worker in self.pool.workers:
                if worker.job is None and (spec := queue.next_job()):
                    self.pool.dispatch(worker, spec)
                    self.recorder.started(spec)
            event = self.pool.next_event(POLL_SECONDS)
            if event:
                self.handle(event)
            self.reap_dead_workers()

    def handle(self, event: tuple) -> None:
        kind, job_id, *rest = event
        if kind == "ready":
            self.worker_ready(job_id)
            return
        worker = self.pool.holding(job_id)
        if worker is None:
            return  # a late message about a job already written off
        spec = worker.job
        if kind == "round":
            self.recorder.round_done(spec, rest[0])
            return
        worker.job = None
        if kind == "done":
            # from when the worker could start it: its start-up is counted once, in startup_seconds
            self.recorder.succeeded(spec, since=max(worker.dispatched_at, worker.ready_at or 0.0),
                                    work_seconds=rest[0])
            return
        message, trace, user_error = rest
        if user_error:
            raise UserError(message.split(": ", 1)[-1])
        self.recorder.failed(spec, message, trace)

    def worker_ready(self, pid: int) -> None:
        worker = self.pool.with_pid(pid)
        if worker is not None:
            worker.ready_at = time.perf_counter()
            outcome = self.recorder.outcome
            outcome.startup_seconds = max(outcome.startup_seconds, worker.ready_at - worker.started_at)

    def reap_dead_workers(self) -> None:
        """A worker that died mid-job (killed for memory, a crash in native code) fails that job only."""
        for worker in list(self.pool.workers):
            if worker.process.is_alive():
                continue
            while worker.job and (event := self.pool.next_event(0.05)):
                self.handle(event)  # its last messages may still be in the queue
            if worker.job:
                code = worker.process.exitcode
                why = " (SIGKILL: often the out-of-memory killer)" if code == -signal.SIGKILL else ""
                self.recorder.failed(worker.job, f"WorkerDied: the worker process exited with code {code}{why}", "")
                worker.job = None
            self.pool.replace(worker)


def run_local(queue: JobQueue, options: RunOptions, sweep_jobs: int) -> None:
    """The local backend: one job at a time in this process when there is one worker, else a worker pool. The
    workers are counted for the whole sweep (`sweep_jobs`), so a resumed sweep gives its jobs the threads the first
    run gave them."""
    slots = local_slots(options, sweep_jobs)
    if len(slots) == 1:  # no worker start-up to pay
        run_in_process(queue, replace(options, threads=slots[0].threads))
    else:
        run_pool(queue, slots[:len(queue)], options)


def local_slots(options: RunOptions, jobs: int) -> list[Slot]:
    return plan_slots(options.workers, options.jobs_per_gpu, visible_gpus(), usable_cpus(), options.threads, jobs)


def run_pool(queue: JobQueue, slots: list[Slot], options: RunOptions) -> None:
    """Run the queue's jobs on one worker process per slot."""
    pool = WorkerPool(slots, queue.out_dir, options)
    finished = False
    try:
        WorkerPoolSweep(pool, queue.recorder).run(queue)
        finished = True
    finally:
        pool.close(graceful=finished)


BACKENDS.add("local", Backend(run_local), "worker processes on this machine (or this process, for one worker)")
