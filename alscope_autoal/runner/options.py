"""`RunOptions`: how a sweep runs, one frozen object passed whole from the CLI to every job.

Part of it says where the jobs run (backend, workers, GPUs); the rest is what each job needs wherever it runs: the
data folder, whether to download, its torch threads, its device and `--deterministic`. A backend hands the same
object on to its jobs, with `threads` settled to the count it chose for them, and each job's process imports its
`plugins` first, so strategies from outside the package mean the same code wherever a job runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    data_dir: Path | str | None = None  # root of the official dataset layouts; None: `data.default_data_dir()`
    download: bool = False  # fetch missing datasets and encoder weights (needs a network)
    threads: int | None = None  # torch CPU threads per job; None: the backend decides (`threads.job_threads`)
    device: str | None = None  # a torch device for every job; None: CUDA when available, else the CPU
    deterministic: bool = True  # deterministic algorithms, cuDNN and cuBLAS settings in every job (determinism.py)
    workers: int | None = None  # None: one per GPU (times jobs_per_gpu), else one per CPU core; never above jobs
    jobs_per_gpu: int = 1
    backend: str = "local"  # a name in `backends.BACKENDS`
    address: str | None = None  # a Ray cluster; None starts a local Ray instance
    command: str | None = None  # the command line that started the sweep, kept in its manifest
    plugins: tuple[str, ...] = ()  # --plugin files (absolute paths) and modules: every job's process imports them
    datasets: tuple = ()  # the user datasets (`data.user_sets.UserSource`) the jobs read, registered in each worker
    settings: str | None = None  # JSON: the sweep's effective options (experiment file and command line merged),
    #                               kept in its manifest beside the command

    def check(self) -> None:
        """Refuse options no backend can honour, with the flag to change; nothing has run yet."""
        from .backends import BACKENDS

        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of: {', '.join(sorted(BACKENDS))}")
        for flag, value in [("--workers", self.workers), ("--jobs-per-gpu", self.jobs_per_gpu),
                            ("--threads", self.threads)]:
            if value is not None and value < 1:
                raise UserError(f"{flag} must be a positive number, got {value}")
        if self.address and self.backend != "ray":
            raise UserError("--address names a Ray cluster: add --backend ray")
        BACKENDS.get(self.backend).check(self)

