"""Claims whose owner a restart could impersonate (a reused pid, another boot, another pid namespace), and claim
files a killed sweep left empty or half-written: each is judged by what a restart cannot reuse, or taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.identity import resolve
from alscope_autoal.runner.claims import SUITE, Claims, claim_path, read_claim, read_claims
from alscope_autoal.runner.store import write_manifest

from conftest import smoke_spec

runner = CliRunner()
linux_only = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs /proc (Linux)")


def start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2:].split()[19])


def here(pid: int = os.getpid(), **changes) -> dict:
    """The owner fields of a claim by process `pid` on this machine, as /proc shows it, with `changes`."""
    return {"host": socket.gethostname(), "pid": pid, "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text()
            .strip(), "pid_ns": os.readlink("/proc/self/ns/pid"), "start_ticks": start_ticks(pid)} | changes


def claim_file(out: Path, spec, owner: dict, age: float = 0.0) -> Path:
    path = claim_path(out, spec.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"suite": SUITE, "job_id": spec.job_id, "label": spec.label, "started": time.time(),
                                "token": "theirs", **owner}))
    os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.fixture
def spec():
    return resolve(smoke_spec(rounds=1))


@pytest.fixture
def sleeper():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


@linux_only
def test_a_claim_with_our_own_pid_but_another_start_is_not_ours_and_is_taken_over(tmp_path, spec):
    """A restarted container reuses pids: the claim of the process that had our pid before blocks nothing."""
    claim_file(tmp_path, spec, here(start_ticks=start_ticks(os.getpid()) - 1))
    with Claims(tmp_path) as claims:
        assert claims.try_claim(spec)
        assert read_claim(claim_path(tmp_path, spec.job_id)).token != "theirs"


@linux_only
def test_a_live_process_that_reused_the_pid_does_not_keep_the_claim(tmp_path, spec, sleeper):
    claim_file(tmp_path, spec, here(sleeper.pid, start_ticks=start_ticks(sleeper.pid) - 7))
    with Claims(tmp_path) as claims:
        assert claims.try_claim(spec)


@linux_only
def test_the_claim_of_a_live_owner_with_its_own_start_is_respected(tmp_path, spec, sleeper):
    claim_file(tmp_path, spec, here(sleeper.pid), age=500)
    with Claims(tmp_path) as claims:
        assert not claims.try_claim(spec)


@linux_only
def test_a_claim_from_another_boot_is_dead_once_its_heartbeat_stops(tmp_path, spec):
    """Our own pid is alive, but the claim was written by another kernel (a reboot): the pid tells nothing."""
    path = claim_file(tmp_path, spec, here(boot_id="another-boot"), age=120)
    with Claims(tmp_path) as claims:
        assert claims.try_claim(spec) and read_claim(path).token != "theirs"


@linux_only
def test_a_beating_claim_from_another_pid_namespace_is_respected_though_its_pid_is_unknown_here(tmp_path, spec):
    """Two containers with one host name: the other's pid means nothing here, its heartbeat does."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = claim_file(tmp_path, spec, here() | {"pid": dead.pid, "pid_ns": "pid:[1]"}, age=10)
    with Claims(tmp_path) as claims:
        assert not claims.try_claim(spec)
        os.utime(path, (time.time() - 120, time.time() - 120))  # four heartbeats missed
        assert claims.try_claim(spec)


@pytest.mark.parametrize("text", ["", '{"suite": "alscope-a', '{"suite": "alscope-autoal", "job_id": "3f'])
def test_an_old_empty_or_half_written_claim_is_debris_taken_over_not_a_foreign_file(tmp_path, spec, text):
    path = claim_path(tmp_path, spec.job_id)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    os.utime(path, (time.time() - 30, time.time() - 30))
    write_manifest(tmp_path, [spec], "autoal bench --out x")
    result = runner.invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 0 and "1 pending" in result.output, result.output
    with Claims(tmp_path) as claims:
        assert claims.try_claim(spec)
        assert read_claim(path).token != ""


def test_a_sweeps_clean_up_removes_claim_debris_of_finished_jobs(tmp_path, spec):
    path = claim_path(tmp_path, spec.job_id)
    path.parent.mkdir(parents=True)
    path.write_text('{"suite": "alscope-autoal", "jo')
    os.utime(path, (time.time() - 30, time.time() - 30))
    with Claims(tmp_path):
        pass
    assert not path.exists() and read_claims(tmp_path) == {}


def test_a_claim_being_written_is_left_alone(tmp_path, spec):
    path = claim_path(tmp_path, spec.job_id)
    path.parent.mkdir(parents=True)
    path.write_text("")  # just created: its writer is still at work
    with Claims(tmp_path) as claims:
        assert not claims.try_claim(spec)
    assert path.exists()


def test_a_sweep_with_nothing_to_run_still_clears_claim_leftovers_of_killed_sweeps(tmp_path):
    from alscope_autoal.runner import run_sweep

    left = tmp_path / "claims" / ".0123.takeover.abcd"
    left.parent.mkdir(parents=True)
    left.write_text("")
    os.utime(left, (time.time() - 120, time.time() - 120))
    run_sweep([], tmp_path)
    assert not left.exists()


@linux_only
def test_a_sweeps_clean_up_removes_dead_owners_claims_even_of_jobs_finished_elsewhere(tmp_path, spec, sleeper):
    """A killed driver's orphaned worker may finish the job: nobody takes the claim over, the clean-up removes it."""
    from alscope_autoal.runner import run_sweep

    dead = claim_file(tmp_path, spec, here(start_ticks=start_ticks(os.getpid()) - 1))
    other = resolve(smoke_spec("margin", rounds=1))
    alive = claim_file(tmp_path, other, here(sleeper.pid))
    run_sweep([], tmp_path)
    assert not dead.exists() and alive.exists()
