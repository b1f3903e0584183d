"""The soak benchmark at a small size: two sweeps share a folder under random SIGKILLs and the folder ends whole;
and its checker names a folder that is not (a lost job, a doubled row, a leftover claim)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


def soak(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_small_soak_under_kills_ends_with_every_job_once_and_nothing_left(tmp_path):
    out = tmp_path / "results"
    done = soak("--jobs", "20", "--kills", "3", "--no-ray", "--seed", "1", "--out", str(out), "--timeout", "300")
    assert done.returncode == 0, done.stdout + done.stderr
    counts = re.search(r"jobs (\d+); kills (\d+)", done.stdout)
    assert counts and counts.groups() == ("20", "3"), done.stdout
    assert "whole" in done.stdout and "VIOLATION" not in done.stdout

    files = sorted((out / "jobs").glob("*.parquet"))
    files[0].unlink()  # a lost job
    shutil.copy(files[1], out / "jobs" / "ffffffffffffffff.parquet")  # its rows twice, under a job outside the grid
    (out / "claims" / "0123456789abcdef.json").write_text("{}")  # a claim left behind
    checked = soak("--jobs", "20", "--check-only", "--out", str(out), timeout=120)
    assert checked.returncode == 1
    violations = [line for line in checked.stdout.splitlines() if line.startswith("VIOLATION")]
    for expected in ("1 job(s) without a result file", "outside the grid", "row(s) doubled", "left over",
                     "autoal status"):
        assert any(expected in line for line in violations), checked.stdout
