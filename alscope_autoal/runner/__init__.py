"""Running sweeps: one job anywhere (`execute_job`), in this process (`run_sequential`), or on a backend
(`run_sweep`: local worker processes or Ray), with the on-disk state that makes a sweep resumable (`store`)."""

from .core import Reporter, SilentReporter, SweepOutcome, compute_job, execute_job, run_sequential
from .store import FAILURES_DIR, SweepStatus, failed_specs, record_failure, split_done, sweep_status
from .sweep import BACKENDS, RunOptions, run_sweep

__all__ = ["BACKENDS", "FAILURES_DIR", "Reporter", "RunOptions", "SilentReporter", "SweepOutcome", "SweepStatus",
           "compute_job", "execute_job", "failed_specs", "record_failure", "run_sequential", "run_sweep",
           "split_done", "sweep_status"]
