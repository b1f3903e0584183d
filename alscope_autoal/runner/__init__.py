"""Running sweeps: one job anywhere (`execute_job`), or a sweep on a registered backend (`run_sweep`: local worker
processes or Ray, see `backends`), with the on-disk state that makes a sweep resumable (`store`)."""

from .backends import BACKENDS
from .core import compute_job, execute_job
from .options import RunOptions
from .recorder import Reporter, SilentReporter, SweepOutcome
from .store import FAILURES_DIR, SweepStatus, failed_specs, split_done, sweep_status
from .sweep import run_sweep

__all__ = ["BACKENDS", "FAILURES_DIR", "Reporter", "RunOptions", "SilentReporter", "SweepOutcome", "SweepStatus",
           "compute_job", "execute_job", "failed_specs", "run_sweep", "split_done", "sweep_status"]
