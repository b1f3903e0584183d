"""`--deterministic`: the same job spec gives the same picks and scores on a GPU, as it already does on a CPU.

cuDNN picks convolution algorithms by timing them (`benchmark`) and some of them add in a varying order; cuBLAS
splits sums differently unless its workspace is fixed (`CUBLAS_WORKSPACE_CONFIG`, read when CUDA creates its
first cuBLAS handle, so it is set before any CUDA work in the process that runs the job); and a few torch ops only
have nondeterministic CUDA kernels, which `torch.use_deterministic_algorithms(True)` turns into errors naming the
op. None of this changes a CPU result: on a CPU the switch only costs the filling of fresh tensors.
"""

from __future__ import annotations

import contextlib
import os

CUBLAS_WORKSPACE = ":4096:8"  # the setting NVIDIA documents for reproducible cuBLAS results


def environment(deterministic: bool) -> dict[str, str]:
    """Variables a process must have before CUDA starts in it (a worker is given them when it is spawned)."""
    if not deterministic:
        return {}
    return {"CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)}


@contextlib.contextmanager
def numerics(deterministic: bool):
    """Run a block with deterministic algorithms on or off (cuDNN autotuning only when off); restored after."""
    import torch

    os.environ.update(environment(deterministic))
    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = deterministic, not deterministic
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1], saved[2]
