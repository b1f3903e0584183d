"""Run a sweep on the chosen backend: record its manifest, skip finished jobs, dispatch the rest.

Every backend leaves the same folder behind (one result file per finished job, one failure record per failed
job), so a sweep started on one backend can be resumed on another.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..spec import JobSpec
from .core import Reporter, SilentReporter, SweepOutcome, run_sequential
from .store import remove_stale_temporaries, set_aside_damaged, set_aside_superseded, split_done, write_manifest

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class RunOptions:
    workers: int | None = None  # None: one per GPU (times jobs_per_gpu), else one per CPU core; never above jobs
    jobs_per_gpu: int = 1
    backend: str = "local"
    address: str | None = None  # a Ray cluster; None starts a local Ray instance
    command: str | None = None  # the command line that started the sweep, kept in its manifest
    threads: int | None = None  # torch CPU threads per job; None: `threads.job_threads` decides (1 on CPU)
    deterministic: bool = True  # deterministic algorithms, cuDNN and cuBLAS settings in every job (determinism.py)

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        for flag, value in [("--workers", self.workers), ("--jobs-per-gpu", self.jobs_per_gpu),
                            ("--threads", self.threads)]:
            if value is not None and value < 1:
                raise UserError(f"{flag} must be a positive number, got {value}")
        if self.address and self.backend != "ray":
            raise UserError("--address names a Ray cluster: add --backend ray")
        if self.backend == "ray" and importlib.util.find_spec("ray") is None:
            raise UserError("the ray backend needs Ray: pip install 'alscope-autoal[ray]'")


def run_sweep(specs: list[JobSpec], out_dir: Path, data_dir: Path | None = None, download: bool = False,
              reporter: Reporter | None = None, options: RunOptions = RunOptions()) -> SweepOutcome:
    """Run the jobs of `specs` that have no result in `out_dir` yet; failures are recorded, not raised. Damaged
    result files of these jobs are first moved to `jobs/damaged/`, and their results written under other settings
    to `jobs/stale/` (both listed in `outcome.set_aside`)."""
    options.check()
    reporter = reporter or SilentReporter()
    out_dir = Path(out_dir)
    write_manifest(out_dir, specs, options.command)
    remove_stale_temporaries(out_dir)
    set_aside = set_aside_damaged(specs, out_dir) + set_aside_superseded(specs, out_dir)
    slots = local_slots(options, len(specs)) if options.backend == "local" else []
    if len(slots) == 1:  # one worker: run in this process, with no worker start-up to pay
        outcome = run_here(specs, out_dir, data_dir, download, reporter, slots[0].threads, options.deterministic)
        outcome.set_aside = set_aside
        return outcome
    to_run, done = split_done(specs, out_dir)
    outcome = SweepOutcome(ran=to_run, skipped=done, set_aside=set_aside)
    reporter.sweep_started(to_run, len(done))
    if to_run and options.backend == "ray":
        from .ray_backend import run_ray

        run_ray(to_run, out_dir, data_dir, download, reporter, outcome, options.address, options.workers,
                threads=options.threads, jobs_per_gpu=options.jobs_per_gpu, deterministic=options.deterministic)
    elif to_run:
        from .local import run_pool

        run_pool(to_run, slots, out_dir, data_dir, download, reporter, outcome, options.deterministic)
    return outcome


def run_here(specs: list[JobSpec], out_dir: Path, data_dir: Path | None, download: bool, reporter: Reporter,
             threads: int, deterministic: bool = True) -> SweepOutcome:
    """Run the jobs in this process, under `threads` torch threads (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return run_sequential(specs, out_dir, data_dir, download, reporter, deterministic)
    finally:
        torch.set_num_threads(before)


def local_slots(options: RunOptions, jobs: int) -> list:
    from .local import plan_slots, usable_cpus, visible_gpus

    return plan_slots(options.workers, options.jobs_per_gpu, visible_gpus(), usable_cpus(), options.threads, jobs)
