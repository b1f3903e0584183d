"""The backend registry: where a sweep's jobs run (`--backend`).

A backend is one module that adds a `Backend` to `BACKENDS` when imported; the imports at the bottom of this file
load them. Its `run` takes the jobs a `JobQueue` hands out (each already claimed) and reports each one to the
queue's `JobRecorder`: started, rounds, then succeeded (once its result file is written) or failed. The recorder
does the rest (failure records, outcome, progress display, claims), so every backend leaves the same folder behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..registry import Registry
from .core import JobQueue
from .options import RunOptions


def accept_any(options: RunOptions) -> None:
    pass


@dataclass(frozen=True)
class Backend:
    # (queue, options, sweep_jobs): run every job the queue hands out; `sweep_jobs` counts the whole sweep,
    # finished jobs included, for a backend that sizes itself by it
    run: Callable[[JobQueue, RunOptions, int], None]
    check: Callable[[RunOptions], None] = accept_any  # refuse options it cannot honour (a missing package)


BACKENDS: Registry[Backend] = Registry("backend")

# Each module registers its backend.
from . import local, ray_backend  # noqa: E402,F401
