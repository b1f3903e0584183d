"""The allocator thresholds (alscope_autoal/allocator.py) change where memory comes from, never a number."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pandas as pd
import pytest

from alscope_autoal.bench import BenchRequest, plan
from alscope_autoal.results import read_metadata, read_results
from alscope_autoal.runner import RunOptions, run_sweep
from alscope_autoal import allocator

TIMING = ["train_seconds", "eval_seconds", "selection_seconds", "train_cpu_seconds", "eval_cpu_seconds",
          "selection_cpu_seconds"]
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def torch_has_onednn() -> bool:
    import torch

    return torch.backends.mkldnn.is_available()


def sweep(out, options: RunOptions) -> tuple[pd.DataFrame, list[dict]]:
    """Rows (without timings) and footers of a small two-strategy sweep run in spawned workers."""
    outcome = run_sweep(plan(BenchRequest(strategies=("margin", "random"), profile="smoke", rounds=2)), out,
                        options=options)
    assert not outcome.failed
    rows = read_results(out).drop(columns=TIMING).sort_values(["job_id", "round"]).reset_index(drop=True)
    return rows, [read_metadata(path)["allocator"] for path in sorted(out.glob("jobs/*.parquet"))]


@pytest.mark.slow
def test_rows_are_identical_with_and_without_the_allocator_thresholds(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv(allocator.SWITCH, raising=False)
    monkeypatch.delenv(allocator.ONEDNN_CACHE, raising=False)  # an earlier job in this process may have set it
    tuned, tuned_footers = sweep(tmp_path / "tuned", RunOptions(workers=2, device="cpu"))
    monkeypatch.setenv(allocator.SWITCH, "off")
    default, default_footers = sweep(tmp_path / "default", RunOptions(workers=2, device="cpu"))
    pd.testing.assert_frame_equal(tuned, default)
    assert [footer["applied"] for footer in tuned_footers] == [GLIBC, GLIBC]
    assert [footer.get("onednn_primitive_cache") for footer in tuned_footers] == [("off" if GLIBC else None)] * 2
    assert all(not footer["applied"] and footer["reason"] == f"{allocator.SWITCH}=off" for footer in default_footers)


def test_a_users_own_malloc_setting_wins_and_the_footer_says_so(monkeypatch):
    monkeypatch.delenv(allocator.SWITCH, raising=False)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert allocator.refusal() == "MALLOC_MMAP_THRESHOLD_ set in the environment"


def test_without_glibc_the_run_goes_on_and_says_why(monkeypatch):
    for name in (allocator.SWITCH, *allocator.USER_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.refusal().startswith("no glibc mallopt on this platform (darwin")


def test_each_footer_records_the_peak_memory_of_its_job():
    """The window is reset at each job's start (Linux), so a worker's second job records its own peak, not the
    first one's; the figure is the process's resident set, at least what the job's data holds."""
    import numpy as np
    import torch

    from alscope_autoal.runner.core import compute_job
    from alscope_autoal.spec import JobSpec

    ballast = np.ones(2**30, dtype=np.uint8)  # 1 GiB held, then freed (returned to the kernel) before the job
    ballast_peak = allocator.peak_rss_bytes()
    del ballast
    spec = JobSpec(dataset="digits", strategy="margin", seed=0, profile="smoke", initial=20, query_size=10, rounds=1)
    with torch.inference_mode(False):
        _, meta = compute_job(spec)
    peak = meta["peak_memory"]
    assert peak["scope"] == ("job" if sys.platform.startswith("linux") else "process")
    assert 10 * 2**20 < peak["rss_bytes"] < 64 * 2**30
    if peak["scope"] == "job":
        assert peak["rss_bytes"] < ballast_peak  # the process's peak before the job does not count


HEAP_ADVICE_PROBE = """
import numpy as np
from alscope_autoal import allocator
state = allocator.tune_allocator()
array = np.ones(16 * 2**20, dtype=np.uint8)  # under the thresholds: from the heap
mapping, flagged = "", False
with open("/proc/self/smaps") as smaps:
    for line in smaps:
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
            mapping = line
        elif line.startswith("VmFlags:") and "[heap]" in mapping and " hg" in line:
            flagged = True
print(state["applied"], state.get("numpy_hugepage_advice"), flagged)
"""


@pytest.mark.skipif(not GLIBC, reason="the thresholds are applied on glibc only")
def test_numpy_arrays_in_the_heap_leave_no_huge_page_advice():
    """With the thresholds a 16-MiB array comes from the heap. numpy would advise huge pages for it, and the flag
    stays on that heap range after the array is gone, so later tensors there fault in whole huge pages. Run in a
    fresh process, whose heap no earlier test has touched."""
    env = {k: v for k, v in os.environ.items() if k not in (allocator.SWITCH, *allocator.USER_VARIABLES)}
    probe = subprocess.run([sys.executable, "-c", HEAP_ADVICE_PROBE], capture_output=True, text=True, env=env,
                           check=True)
    assert probe.stdout.split() == ["True", "off", "False"]  # applied, advice off, no heap range flagged


KERNEL_CACHE_PROBE = """
import torch
from alscope_autoal import allocator
state = allocator.tune_allocator()
conv = torch.nn.Conv2d(3, 32, 3, padding=1).eval()
with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON_CREATION), torch.inference_mode():
    for _ in range(2):  # the same shape twice: the second call finds the kernel in oneDNN's cache, if it keeps one
        conv(torch.ones(64, 3, 32, 32))
print("cache:", state.get("onednn_primitive_cache"), flush=True)
"""


@pytest.mark.skipif(not GLIBC or not torch_has_onednn(), reason="oneDNN's cache is turned off with the thresholds")
@pytest.mark.parametrize("environment, footer, cached", [
    ({}, "off", False),
    ({allocator.SWITCH: "off"}, "None", True),
    ({allocator.ONEDNN_CACHE: "16"}, f"capacity 16 ({allocator.ONEDNN_CACHE} set in the environment)", True),
])
def test_the_tuned_allocator_keeps_no_compiled_convolution_kernels(environment, footer, cached):
    """Kept kernels are small blocks that pin the heap's freed activation blocks, so the tuned allocator turns
    oneDNN's kernel cache off (a user's capacity wins). Seen through oneDNN's own log of each kernel it creates."""
    unset = (allocator.SWITCH, allocator.ONEDNN_CACHE, *allocator.USER_VARIABLES)
    env = {k: v for k, v in os.environ.items() if k not in unset} | environment
    probe = subprocess.run([sys.executable, "-c", KERNEL_CACHE_PROBE], capture_output=True, text=True, env=env,
                           check=True)
    assert "create:cache_miss,cpu,convolution" in probe.stdout  # oneDNN ran the convolution and logged it
    assert ("create:cache_hit,cpu,convolution" in probe.stdout) is cached
    assert probe.stdout.splitlines()[-1] == f"cache: {footer}"
