"""The local backend: worker processes on this machine, each pinned to one GPU or (on CPU) to one torch thread.

Workers are started with spawn (a fork would copy the parent's threads and any CUDA state). `CUDA_VISIBLE_DEVICES`
and the thread counts are put in each worker's environment before it starts, so they hold before torch is
imported there; the parent only counts the GPUs and never initialises CUDA. The parent hands out one job at a time
to each idle worker, so it always knows which job a worker holds, and a worker says when it starts a job. A worker
that dies while running a job (killed for memory, a segfault) fails only that job and is replaced; one that died
before starting the job handed to it (killed while idle or while starting up) is replaced and the job is run again.
Workers that die at start-up are respawned after a growing pause, and after `MAX_STARTUP_DEATHS` in a row the sweep
stops with `WorkersDying`. Workers write their own result files (atomically); the parent keeps the failure records
and the progress display, fed by events each worker puts on its own queue (a worker killed in the middle of a message
leaves its queue's lock held for good: a queue shared by all workers would then silence every one of them).
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
EVENT_POLL_SECONDS = 0.01  # how often the parent looks at the workers' event queues while waiting
GRACE_SECONDS = 5.0  # how long a worker may take to stop after SIGTERM before it is killed
MAX_STARTUP_DEATHS = 5  # workers dying at start-up this many times in a row stop the sweep
MAX_BACKOFF_SECONDS = 5.0  # the longest pause before respawning a worker that died at start-up
MAX_UNSTARTED_RERUNS = 2  # a job whose workers die before it starts more often than this is failed


class WorkersDying(UserError):
    """Worker processes die before they can take a job: the machine or the environment is at fault, not a job."""

    exit_code = 1


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
        spec = JobSpec.from_json(task)
        events.put(("started", spec.job_id))
        run_task(spec, events, out_dir, options)


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
    events: Any  # written by this worker only
    slot: Slot
    started_at: float = 0.0
    ready_at: float | None = None  # when it had imported torch and could take a job
    job: JobSpec | None = None
    dispatched_at: float = 0.0
    job_started: bool = False  # the worker said it began `job` (a death after that is the job's)
    respawn_at: float | None = None  # set once it is found dead: when its replacement starts


class WorkerPool:
    """Worker processes, one task queue each, one shared event queue back to the parent."""

    def __init__(self, slots: list[Slot], out_dir: Path, options: RunOptions) -> None:
        self.ctx = mp.get_context("spawn")
        self.out_dir, self.options = Path(out_dir), options
        self.workers = [self.start(slot) for slot in slots]

    def start(self, slot: Slot) -> Worker:
        tasks, events = self.ctx.Queue(), self.ctx.Queue()
        options = replace(self.options, threads=slot.threads)
        process = self.ctx.Process(target=worker_main, args=(tasks, events, self.out_dir, options),
                                   daemon=True, name=f"autoal-worker-gpu{slot.gpu}" if slot.gpu else "autoal-worker")
        with environment(slot_environment(slot) | determinism.environment(options.deterministic)):
            process.start()
        return Worker(process, tasks, events, slot, started_at=time.perf_counter())

    def dispatch(self, worker: Worker, spec: JobSpec) -> None:
        worker.job, worker.dispatched_at, worker.job_started = spec, time.perf_counter(), False
        worker.tasks.put(spec.canonical())

    def with_pid(self, pid: int) -> Worker | None:
        return next((worker for worker in self.workers if worker.process.pid == pid), None)

    def holding(self, job_id: str) -> Worker | None:
        return next((worker for worker in self.workers if worker.job and worker.job.job_id == job_id), None)

    def next_event(self, timeout: float) -> tuple | None:
        """The next message of any worker, waiting up to `timeout` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            for worker in self.workers:
                if (event := event_of(worker)) is not None:
                    return event
            if time.monotonic() >= deadline:
                return None
            time.sleep(EVENT_POLL_SECONDS)

    def replace(self, worker: Worker) -> None:
        close_queue(worker.tasks)
        close_queue(worker.events)
        self.workers[self.workers.index(worker)] = self.start(worker.slot)

    def close(self, graceful: bool) -> None:
        """Let idle workers exit; terminate (then kill) the rest, abandoning their jobs; close the queues."""
        try:
            self.stop_workers(graceful)
        finally:
            for worker in self.workers:
                close_queue(worker.tasks)
                close_queue(worker.events)

    def stop_workers(self, graceful: bool) -> None:
        processes = [worker.process for worker in self.workers]
        if graceful:
            for worker in self.workers:
                if worker.process.is_alive():
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


def event_of(worker: Worker, timeout: float = 0.0) -> tuple | None:
    """One message of this worker, if it sent one (within `timeout` seconds)."""
    try:
        return worker.events.get(timeout=timeout) if timeout else worker.events.get_nowait()
    except (queue.Empty, EOFError, OSError):
        return None  # EOFError/OSError: a message cut short by the worker's death


def close_queue(queue_) -> None:
    """Close a queue and drop what it still buffers for a reader that is gone (its feeder thread must not block)."""
    queue_.close()
    queue_.cancel_join_thread()


def wait_for(processes: list, seconds: float) -> None:
    """Join all processes, giving them `seconds` in total (not each)."""
    deadline = time.monotonic() + seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))


class WorkerPoolSweep:
    """Drives one sweep over a worker pool: dispatch, and the workers' events to the recorder."""

    def __init__(self, pool: WorkerPool, recorder: JobRecorder) -> None:
        self.pool, self.recorder = pool, recorder
        self.startup_deaths = 0  # in a row: reset when a worker gets ready
        self.unstarted: dict[str, int] = {}  # job id -> times its worker died before starting it

    def run(self, queue: JobQueue) -> None:
        self.queue = queue
        while not queue.empty or any(worker.job for worker in self.pool.workers):
            for worker in self.pool.workers:
                if worker.job is None and worker.respawn_at is None and (spec := queue.next_job()):
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
        if kind == "started":
            worker.job_started = True
            return
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
            self.startup_deaths = 0
            worker.ready_at = time.perf_counter()
            outcome = self.recorder.outcome
            outcome.startup_seconds = max(outcome.startup_seconds, worker.ready_at - worker.started_at)

    def reap_dead_workers(self) -> None:
        """Settle the job of each worker found dead, then respawn it: at once if it had got ready, else after a
        pause that doubles with each start-up death in a row."""
        for worker in list(self.pool.workers):
            if worker.process.is_alive():
                continue
            if worker.respawn_at is None:
                self.settle_dead(worker)
            if time.perf_counter() >= worker.respawn_at:
                self.pool.replace(worker)

    def settle_dead(self, worker: Worker) -> None:
        while worker.job and (event := event_of(worker, timeout=0.05)):
            self.handle(event)  # its last messages may still be in its queue
        code = worker.process.exitcode
        if worker.job:
            self.settle_orphaned_job(worker.job, worker.job_started, worker.ready_at is not None, code)
            worker.job = None
        worker.respawn_at = time.perf_counter()
        if worker.ready_at is None:
            self.startup_deaths += 1
            if self.startup_deaths >= MAX_STARTUP_DEATHS:
                raise WorkersDying(f"worker processes died at start-up {self.startup_deaths} times in a row (last "
                                   f"exit code {code}); rerun with --workers 1 to run the jobs in this process and "
                                   "see the error")
            worker.respawn_at += min(POLL_SECONDS * 2 ** self.startup_deaths, MAX_BACKOFF_SECONDS)

    def settle_orphaned_job(self, spec: JobSpec, started: bool, ready: bool, code: int | None) -> None:
        """The job of a worker that died: done if its file was written, run again if it never started (a worker
        still starting up never took it; a ready one may have, its word lost with it, so only a few times), else
        failed (the job killed its worker)."""
        from ..results import is_done

        reruns = self.unstarted.get(spec.job_id, 0)
        if is_done(self.recorder.out_dir, spec):
            self.recorder.succeeded(spec, since=time.perf_counter(), work_seconds=0.0)
        elif not ready or (not started and reruns < MAX_UNSTARTED_RERUNS):
            self.unstarted[spec.job_id] = reruns + ready
            self.queue.hand_back(spec)
        else:
            why = " (SIGKILL: often the out-of-memory killer)" if code == -signal.SIGKILL else ""
            self.recorder.failed(spec, f"WorkerDied: the worker process exited with code {code}{why}", "")


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
