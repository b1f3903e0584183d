"""Sweeps sharing one results folder: claims split the jobs, dead owners' claims are taken over, foreign files and
read-only folders are one-line errors, and `autoal status` shows who runs what."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.identity import resolve
from alscope_autoal.results import read_results
from alscope_autoal.runner import RunOptions, run_sweep
from alscope_autoal.runner.claims import CLAIM_TIMEOUT_SECONDS, SUITE, Claims, claim_path, read_claim
from alscope_autoal.runner.store import write_failure, write_manifest

from conftest import smoke_spec

GRID = ["--profile", "smoke", "--rounds", "1", "--strategies", "random,entropy,margin,least-confidence",
        "--seeds", "2"]
runner = CliRunner()


def autoal(log: Path, *args: str) -> subprocess.Popen:
    """`autoal ...` in its own process group, stderr to `log`, one torch thread."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with log.open("w") as stderr:
        return subprocess.Popen([sys.executable, "-c", "from alscope_autoal.cli.app import main; main()", *args],
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True, env=env)


def jobs_run(log: Path) -> int:
    """How many jobs a finished `autoal bench` ran itself, from its last line of results."""
    found = re.findall(r"\((\d+) run, \d+ already there", log.read_text())
    assert found, log.read_text()
    return int(found[-1])


@pytest.mark.slow
def test_two_sweeps_started_together_run_every_job_exactly_once(tmp_path):
    out = tmp_path / "results"
    logs = [tmp_path / "pool.txt", tmp_path / "here.txt"]
    sweeps = [autoal(logs[0], "bench", *GRID, "--workers", "2", "--threads", "1", "--out", str(out)),
              autoal(logs[1], "bench", *GRID, "--workers", "1", "--threads", "1", "--out", str(out))]
    for sweep, log in zip(sweeps, logs):
        assert sweep.wait(timeout=400) == 0, log.read_text()
    assert jobs_run(logs[0]) + jobs_run(logs[1]) == 8, [log.read_text() for log in logs]
    rows = read_results(out)
    assert rows["job_id"].nunique() == 8 and len(rows) == 16
    assert not rows.duplicated(["job_id", "round"]).any()
    assert not list((out / "claims").iterdir())  # every claim released


def wait_for_claim(out: Path, process: subprocess.Popen, log: Path) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        claims = list((out / "claims").glob("*.json")) if (out / "claims").is_dir() else []
        if claims:
            return claims[0]
        time.sleep(0.02)
    raise AssertionError(f"no claim appeared: {log.read_text()}")


@pytest.mark.slow
def test_a_claim_left_by_a_sigkilled_sweep_is_taken_over(tmp_path):
    out, log = tmp_path / "results", tmp_path / "stderr.txt"
    grid = ["--profile", "smoke", "--rounds", "2", "--strategies", "margin", "--workers", "1", "--out", str(out)]
    sweep = autoal(log, "bench", *grid)
    claim = wait_for_claim(out, sweep, log)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    left = read_claim(claim)
    assert left.pid == sweep.pid and left.owner_gone()
    assert not list((out / "jobs").glob("*.parquet"))

    rerun = autoal(log, "bench", *grid)
    assert rerun.wait(timeout=180) == 0, log.read_text()  # without a takeover it would wait for the dead owner
    assert jobs_run(log) == 1
    assert len(read_results(out)) == 3 and not claim.exists()


def claim_file(out: Path, spec, host: str, pid: int, age: float = 0.0) -> Path:
    path = claim_path(out, spec.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"suite": SUITE, "job_id": spec.job_id, "label": spec.label, "host": host,
                                "pid": pid, "started": time.time() - age, "token": "theirs"}))
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_another_hosts_claim_is_respected_until_its_heartbeat_times_out(tmp_path):
    spec = resolve(smoke_spec(rounds=1))
    path = claim_file(tmp_path, spec, "node-b", 12345)
    with Claims(tmp_path) as claims:
        assert not claims.try_claim(spec)
        old = time.time() - CLAIM_TIMEOUT_SECONDS - 5
        os.utime(path, (old, old))
        assert claims.try_claim(spec)
        mine = read_claim(path)
        assert (mine.host, mine.pid) == (socket.gethostname(), os.getpid())
    assert not path.exists()  # released on exit


def test_a_held_claim_gets_heartbeats(tmp_path):
    spec = resolve(smoke_spec(rounds=1))
    with Claims(tmp_path, heartbeat_seconds=0.05) as claims:
        assert claims.try_claim(spec)
        path = claim_path(tmp_path, spec.job_id)
        os.utime(path, (1.0, 1.0))
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 5


def test_a_live_local_claim_is_not_taken_over(tmp_path):
    spec = resolve(smoke_spec(rounds=1))
    claim_file(tmp_path, spec, socket.gethostname(), os.getpid(), age=60)  # alive, recent enough
    with Claims(tmp_path) as claims:
        assert not claims.try_claim(spec)


def test_a_foreign_claim_file_is_refused_by_name(tmp_path):
    stranger = tmp_path / "claims" / "notes.json"
    stranger.parent.mkdir()
    stranger.write_text("remember to buy milk")
    for args in (["bench", *GRID[:4], "--strategies", "random", "--out", str(tmp_path)], ["status", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and str(stranger) in errors[0] and "delete it" in errors[0], result.output
        assert "Traceback" not in result.output
    assert stranger.read_text() == "remember to buy milk"  # refused, not touched


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_status_shows_running_jobs_and_orphaned_claims(tmp_path):
    running, orphaned = resolve(smoke_spec("margin", rounds=1)), resolve(smoke_spec("entropy", rounds=1))
    write_manifest(tmp_path, [running, orphaned], "autoal bench --out x")
    with Claims(tmp_path) as claims:  # (entering removes dead owners' claims: the orphan comes after)
        claim_file(tmp_path, orphaned, socket.gethostname(), dead_pid())
        assert claims.try_claim(running)
        state = json.loads(runner.invoke(app, ["status", str(tmp_path), "--json"]).output)
        text = runner.invoke(app, ["status", str(tmp_path)]).output
    assert (state["running"], state["pending"], state["done"]) == (1, 1, 0)
    job = next(job for job in state["jobs"] if job["state"] == "running")
    assert job["job_id"] == running.job_id and job["pid"] == os.getpid()
    assert [claim["job_id"] for claim in state["orphaned_claims"]] == [orphaned.job_id]
    assert "1 pending, 1 running" in text and f"running {running.label}" in text
    assert f"orphaned claim {orphaned.label}" in text and "takes the job over" in text
    assert "run the pending jobs" in text


def settle_later(out: Path, spec, settle) -> threading.Thread:
    """Another node holds `spec` (a fresh claim); after 2 s `settle` writes its outcome and the claim goes."""
    claim_file(out, spec, "node-b", 1)

    def later():
        time.sleep(2)
        settle()
        claim_path(out, spec.job_id).unlink()

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_a_job_finished_by_another_sweep_is_counted_not_rerun(tmp_path):
    specs = [resolve(smoke_spec(strategy, rounds=1)) for strategy in ("random", "margin")]
    elsewhere = tmp_path / "elsewhere"
    run_sweep([specs[0]], elsewhere, options=RunOptions(workers=1))
    out = tmp_path / "shared"
    (out / "jobs").mkdir(parents=True)
    result = next((elsewhere / "jobs").glob("*.parquet"))
    thread = settle_later(out, specs[0], lambda: os.replace(result, out / "jobs" / result.name))
    outcome = run_sweep(specs, out, options=RunOptions(workers=1))
    thread.join()
    assert [spec.job_id for spec in outcome.ran] == [specs[1].job_id]
    assert [spec.job_id for spec in outcome.elsewhere] == [specs[0].job_id] and not outcome.failed


def test_a_job_that_failed_in_another_sweep_meanwhile_is_reported_not_rerun(tmp_path):
    spec = resolve(smoke_spec(rounds=1))
    thread = settle_later(tmp_path, spec, lambda: write_failure(tmp_path, spec, "ValueError: boom", ""))
    outcome = run_sweep([spec], tmp_path, options=RunOptions(workers=1))
    thread.join()
    assert outcome.failed == {spec.job_id: "failed in another sweep: ValueError: boom"}
    assert not list((tmp_path / "jobs").glob("*.parquet"))


def test_a_read_only_results_folder_is_one_line(tmp_path, monkeypatch):
    import alscope_autoal.bench as bench

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(bench.tempfile, "NamedTemporaryFile", read_only)
    result = runner.invoke(app, ["bench", *GRID[:4], "--strategies", "random", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"error: cannot write to the output folder {tmp_path} (Read-only file system); choose another with --out"]


def test_an_unwritable_claims_folder_is_one_line(tmp_path, monkeypatch):
    real_write = Path.write_text

    def read_only_claims(path, *args, **kwargs):
        if path.parent.name == "claims":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only_claims)
    result = runner.invoke(app, ["bench", *GRID[:4], "--strategies", "random", "--workers", "1",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "read-only file system" in errors[0] and "choose another --out" in errors[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the monkeypatched tests cover it")
def test_a_results_folder_without_write_permission_is_one_line(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = runner.invoke(app, ["bench", *GRID[:4], "--strategies", "random", "--out", str(out)])
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2 and "choose another with --out" in result.output
