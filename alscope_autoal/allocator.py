"""Keep large tensor blocks in the heap, so a pool pass does not map and zero fresh pages for every batch.

A CPU forward pass in eval batches of 1,024 allocates activation tensors of up to 128 MiB (1,024 x 32 channels x
32 x 32 floats). glibc serves blocks above its mmap threshold (128 KiB, rising to at most 32 MiB) with a fresh
`mmap` and returns them with `munmap`, so every batch pays the kernel for mapping and zeroing new pages: on a
CIFAR-10 pool pass half the CPU time was system time (docs/cpu-performance.md). Raising the mmap threshold above
the largest activation block and the trim threshold above what one pass frees lets the heap keep those blocks and
reuse them; system time falls to almost nothing. Blocks larger than the threshold (rare, one-off) are still mapped
and returned to the kernel.

With the thresholds, a small block that outlives a pass pins the freed activation blocks below it, and oneDNN
(torch's CPU convolution library) makes such blocks: it compiles a kernel for each new convolution shape and keeps
it in a process-wide cache, with bookkeeping in many ~100-byte blocks. The pool's last batch has a new shape every
round (the pool shrinks by each query), so kernels are compiled mid-pass, while the heap's top is high, and their
blocks are never freed. That put a spawned worker's peak anywhere from +2 to +18 % of the platform allocator's from
one run to the next. So where the thresholds are applied, oneDNN's cache is turned off too
(`ONEDNN_PRIMITIVE_CACHE_CAPACITY=0`, `stop_onednn_kernel_cache`): each kernel is compiled for its call and freed
after it, at a cost measured in docs/cpu-performance.md ("Peak memory").

The setting only changes where memory comes from, never a number: `tests/test_allocator.py` compares the rows of a
sweep with and without it. It is applied once per process by `compute_job` (runner/core.py), which every backend
calls (in this process, spawned local workers, Ray tasks), before the job loads data or builds its model; the
loop gives free heap pages back once per round (`release_free_memory`).

Where it does nothing, the job runs as before and its result footer says why (`allocator` in the footer):
- not glibc (macOS, musl-based Linux such as Alpine, Windows): their allocators have no such thresholds reachable
  through `mallopt` (macOS's and Windows' keep large blocks in their own caches; musl always maps them);
- `AUTOAL_MALLOC_TUNING=off` in the environment, to measure or reproduce the platform's default;
- `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` already set: the user's choice wins (the selection memory
  benchmark sets the first so that freed blocks leave the resident set); a user's
  `ONEDNN_PRIMITIVE_CACHE_CAPACITY` is kept too (the thresholds still apply; the footer records the capacity);
- a glibc that refuses the threshold (before 2.35, `mallopt` caps it at 32 MiB on 64-bit systems).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys
from typing import Any

MIB = 2**20
MMAP_THRESHOLD = 256 * MIB  # above the 128-MiB activation blocks of a 1,024-image batch of 32x32 images
TRIM_THRESHOLD = 1024 * MIB  # above what one pool pass frees at the top of the heap, so it is not given back
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
SWITCH = "AUTOAL_MALLOC_TUNING"
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
ONEDNN_CACHE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"  # read by oneDNN once, at the process's first convolution

_state: dict[str, Any] | None = None  # what this process did: one decision per process


def tune_allocator() -> dict[str, Any]:
    """Apply the thresholds once in this process (later calls return the first outcome), and say what was done:
    {"applied": bool, "mmap_threshold": bytes, "trim_threshold": bytes, "reason": why not (when not applied),
    "numpy_hugepage_advice": "off" (when applied; see `stop_numpy_hugepage_advice`), "onednn_primitive_cache":
    "off" or the user's capacity (when applied; see `stop_onednn_kernel_cache`)}."""
    global _state
    if _state is None:
        reason = refusal() or set_thresholds()
        _state = {"applied": not reason, "mmap_threshold": MMAP_THRESHOLD, "trim_threshold": TRIM_THRESHOLD}
        if reason:
            _state["reason"] = reason
        else:
            _state["numpy_hugepage_advice"] = "off" if stop_numpy_hugepage_advice() else "no switch in this numpy"
            _state["onednn_primitive_cache"] = stop_onednn_kernel_cache()
    return dict(_state)


def stop_onednn_kernel_cache() -> str:
    """Turn off oneDNN's cache of compiled convolution kernels in this process, unless the user chose a capacity:
    "off", or what the user set.

    oneDNN reads the variable once, when the process creates its first convolution, so this must run before it:
    `compute_job` calls `tune_allocator` before the job builds its model, and the embedding cache before it loads
    its encoder. It changes no number: a kernel compiled again is the same kernel."""
    value = os.environ.setdefault(ONEDNN_CACHE, "0").strip()
    return "off" if value == "0" else f"capacity {value} ({ONEDNN_CACHE} set in the environment)"


def stop_numpy_hugepage_advice() -> bool:
    """Stop numpy from advising huge pages (MADV_HUGEPAGE) for its arrays of 4 MiB and more; False where numpy
    has no such switch.

    Under the thresholds such arrays come from the heap, and the advice outlives the array: the heap range keeps
    the huge-page flag, the tensors later placed there fault in whole 2-MiB pages, and the kernel's khugepaged may
    fill the holes `malloc_trim` leaves (a worker running 10-round OrganAMNIST jobs held 90 MB of huge pages;
    CIFAR-10 workers with the advice off hold none). With the platform's settings those arrays are mappings of
    their own and the flag goes with them. (What made a worker's peak vary from run to run was oneDNN's kernel
    cache: `stop_onednn_kernel_cache`.)"""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        try:
            from numpy.core import multiarray
        except ImportError:
            return False
    if not hasattr(multiarray, "_set_madvise_hugepage"):
        return False
    multiarray._set_madvise_hugepage(False)
    return True


def release_free_memory() -> None:
    """Give the heap's free pages back to the kernel (glibc's `malloc_trim`), where the thresholds were applied.

    The loop calls it once per round, after the query: between rounds the resident set falls back to what the job
    holds, so a long job does not keep the largest round's free blocks. The peak inside a round is kept near the
    platform allocator's by `training.forward_pool` leaving no small blocks between the freed activation blocks
    (docs/cpu-performance.md, "Peak memory")."""
    if _state and _state["applied"]:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def refusal() -> str:
    """Why the thresholds are not to be set in this process; "" when they are."""
    if os.environ.get(SWITCH, "").lower() in ("off", "0", "no", "false"):
        return f"{SWITCH}={os.environ[SWITCH]}"
    preset = [name for name in USER_VARIABLES if name in os.environ]
    if preset:
        return f"{', '.join(preset)} set in the environment"
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return f"no glibc mallopt on this platform ({sys.platform}, {platform.libc_ver()[0] or 'unknown libc'})"
    return ""


def set_thresholds() -> str:
    """Call glibc's mallopt; "" when both thresholds were accepted, else what refused."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        return f"glibc {platform.libc_ver()[1]} refused M_MMAP_THRESHOLD={MMAP_THRESHOLD}"
    if not libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        return f"glibc {platform.libc_ver()[1]} refused M_TRIM_THRESHOLD={TRIM_THRESHOLD}"
    return ""


def start_peak_window() -> bool:
    """Begin measuring this process's peak resident set afresh (Linux: reset VmHWM through /proc/self/clear_refs),
    so that a worker that runs several jobs records each job's own peak; False where that is not possible, and the
    peak then covers the process's life so far."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_memory(window_started: bool, device=None) -> dict[str, Any]:
    """The job's peak memory for its footer: `rss_bytes` (the process's peak resident set), `scope` ("job" when
    the window was reset at the job's start, else "process"), and on a GPU `gpu_allocated_bytes` (torch's peak
    allocation since the job started)."""
    record: dict[str, Any] = {"rss_bytes": peak_rss_bytes(), "scope": "job" if window_started else "process"}
    if device is not None and device.type == "cuda":
        import torch

        record["gpu_allocated_bytes"] = int(torch.cuda.max_memory_allocated(device))
    return record


def peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource  # not on Windows; there the footer has no figure

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB elsewhere
