"""How many torch threads a job gets: decided here for every backend (in this process, local workers, Ray).

On CPU a job gets one thread unless `--threads` says otherwise. The models are small, so a second thread buys
little, and a multi-threaded job slows to a crawl as soon as another process takes one of its cores (OpenMP
threads wait for each other at every operation); one job per core is faster on a busy machine. On a quiet one
it is not yet as fast: the default `autoal bench` took 80 s against 31 s before (docs/measurements.md,
"Default bench and test-suite times"). It also makes the numbers independent of the machine: the thread count
changes how convolutions split their sums, so a fixed count gives the same result on any machine and with any
number of workers.
"""

from __future__ import annotations

import contextlib

CPU_JOB_THREADS = 1


def job_threads(requested: int | None, gpu_share: int | None = None) -> int:
    """Torch threads per job: `requested` (`--threads`) when given; else the job's share of the cores when it runs
    on a GPU (`gpu_share`: the host only feeds the GPU, so its cores are divided among the GPU jobs), else one."""
    if requested:
        return requested
    return gpu_share or CPU_JOB_THREADS


@contextlib.contextmanager
def torch_threads(count: int | None):
    """Run a block under `count` torch threads, restored afterwards; None leaves this process's setting."""
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
