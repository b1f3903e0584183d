"""What computed a job: the processor, the instruction set torch's CPU kernels use, and on a GPU its name, driver
and CUDA/cuDNN versions. Recorded in each result footer (`compute`), because float results can differ between
processors: the same job gives identical rows on one machine type, and a footer tells which type a row came from.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

COMPUTE_KEYS = ("cpu_model", "cpu_capability", "onednn_max_cpu_isa", "gpu_name")  # differences a report names
ONEDNN_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")  # cap oneDNN's convolutions below the CPU's best


def describe_compute(device) -> dict[str, Any]:
    """The compute of a job run on `device` (a torch.device), for its result footer."""
    import torch

    compute: dict[str, Any] = {"cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    capped = next((os.environ[name] for name in ONEDNN_VARIABLES if os.environ.get(name)), None)
    if capped:  # changes the rows on CPU (docs/protocol.md, "Reproducibility"), and torch does not report it
        compute["onednn_max_cpu_isa"] = capped
    if device.type == "cuda":
        compute |= gpu(device.index if device.index is not None else torch.cuda.current_device())
    return compute


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The processor's marketing name (/proc/cpuinfo "model name"; elsewhere `platform.processor()`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@functools.lru_cache(maxsize=8)
def gpu(index: int) -> dict[str, Any]:
    import torch

    found = {"gpu_name": torch.cuda.get_device_name(index), "cuda": torch.version.cuda,
             "cudnn": torch.backends.cudnn.version()}
    driver = nvidia_driver()
    return found | ({"gpu_driver": driver} if driver else {})


def nvidia_driver() -> str | None:
    """The NVIDIA driver's version from nvidia-smi; None without it (torch does not report the driver)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def compute_label(compute: dict[str, Any]) -> str:
    """One kind of compute in a few words, e.g. 'AMD EPYC 7B13 (AVX2)' or '... (AVX512), NVIDIA H100'."""
    label = f"{compute.get('cpu_model', '?')} ({compute.get('cpu_capability', '?')}"
    label += f", oneDNN capped at {compute['onednn_max_cpu_isa']})" if compute.get("onednn_max_cpu_isa") else ")"
    return label + (f", {compute['gpu_name']}" if compute.get("gpu_name") else "")
