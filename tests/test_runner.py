"""The job runner: resume after SIGKILL, concurrent writers, failure isolation, --retry-failed, status, dry-run."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from alscope_autoal.bench import BenchRequest, plan
from alscope_autoal.cli.app import app
from alscope_autoal.identity import resolve
from alscope_autoal.results import read_results
from alscope_autoal.runner import RunOptions, run_sweep
from alscope_autoal.runner.local import Slot, environment, oversubscription_warning, plan_slots, slot_environment
from alscope_autoal.runner.threads import job_threads
from alscope_autoal.spec import JobSpec

import runner_children
from conftest import smoke_spec

GRID = ["--profile", "smoke", "--rounds", "1", "--strategies", "random,entropy,margin,least-confidence"]
REQUEST = BenchRequest(strategies=("random", "entropy", "margin", "least-confidence"), profile="smoke", rounds=1)
TIMING = ["train_seconds", "eval_seconds", "selection_seconds", "train_cpu_seconds", "eval_cpu_seconds",
          "selection_cpu_seconds"]
runner = CliRunner()


def comparable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows without the timing columns (the only ones that differ between runs), in a fixed order."""
    rows = rows.drop(columns=[c for c in rows.columns if c in TIMING])
    return rows.sort_values(["job_id", "round"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("uninterrupted")
    outcome = run_sweep(plan(REQUEST), out, options=RunOptions(workers=1))
    assert not outcome.failed
    return comparable(read_results(out))


def autoal(log: Path, *args: str) -> subprocess.Popen:
    """`autoal ...` in its own process group (so the test can kill it with its workers), stderr to `log`."""
    with log.open("w") as stderr:
        return subprocess.Popen([sys.executable, "-c", "from alscope_autoal.cli.app import main; main()", *args],
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)


@pytest.mark.slow
def test_sigkill_mid_sweep_then_rerun_gives_the_uninterrupted_rows(tmp_path, uninterrupted):
    out = tmp_path / "results"
    log = tmp_path / "stderr.txt"
    sweep = autoal(log, "bench", *GRID, "--workers", "2", "--out", str(out))
    deadline = time.monotonic() + 120
    while not list((out / "jobs").glob("*.parquet")) and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    finished_before = len(list((out / "jobs").glob("*.parquet")))
    assert 1 <= finished_before < 4, log.read_text()

    rerun = autoal(log, "bench", *GRID, "--workers", "2", "--resume", "--out", str(out))
    assert rerun.wait(timeout=180) == 0, log.read_text()
    for path in (out / "jobs").glob("*.parquet"):
        pq.read_table(path)  # no corrupt file
    rows = comparable(read_results(out))
    assert not rows.duplicated(["job_id", "round"]).any()
    pd.testing.assert_frame_equal(rows, uninterrupted)


@pytest.mark.slow
def test_two_processes_writing_results_at_once_lose_nothing(tmp_path):
    specs = [JobSpec("digits", "random", seed, "smoke", 20, 10, 1).canonical() for seed in range(60)]
    ctx = mp.get_context("spawn")
    # Both writers write the 20 shared jobs too: a job written twice must still leave one whole file.
    shares = [specs[:20] + specs[20 + 20 * i:40 + 20 * i] for i in range(2)]
    writers = [ctx.Process(target=runner_children.write_many, args=(str(tmp_path), share)) for share in shares]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    rows = read_results(tmp_path)
    assert sorted(rows["seed"]) == list(range(60))
    assert not list((tmp_path / "jobs").glob(".*.tmp"))


def smoke(strategy: str, **changes) -> JobSpec:
    """A job as `autoal bench` plans it: resolved, so its id covers the profile's values."""
    return resolve(smoke_spec(strategy, **({"rounds": 1} | changes)))


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory):
    """A 2-worker sweep with a job that raises and a job whose result path is blocked (a disk-side failure)."""
    out = tmp_path_factory.mktemp("failing")
    good, bad, blocked = smoke("random"), smoke("random", initial=5000), smoke("entropy")
    (out / "jobs" / f"{blocked.job_id}.parquet").mkdir(parents=True)
    outcome = run_sweep([good, bad, blocked], out, options=RunOptions(workers=2))
    return out, (good, bad, blocked), outcome


@pytest.mark.slow
def test_a_failing_job_is_recorded_and_the_others_finish(failing_sweep):
    out, (good, bad, blocked), outcome = failing_sweep
    assert set(outcome.failed) == {bad.job_id, blocked.job_id}
    assert "ValueError" in outcome.failed[bad.job_id]
    assert len(read_results(out)) == 2 and set(read_results(out)["job_id"]) == {good.job_id}
    record = json.loads((out / "failures" / f"{bad.job_id}.json").read_text())
    assert record["spec"]["initial"] == 5000 and "Traceback" in record["traceback"]


@pytest.mark.slow
def test_status_counts_done_failed_and_pending(failing_sweep):
    out, (good, bad, blocked), _ = failing_sweep
    pending = smoke("margin")
    (out / "sweeps" / "extra.json").write_text(json.dumps({"command": "autoal bench --out x", "jobs": [
        json.loads(pending.canonical())]}))
    try:
        result = runner.invoke(app, ["status", str(out), "--json"])
        assert result.exit_code == 0, result.output
        state = json.loads(result.output)
        assert (state["done"], state["failed"], state["pending"]) == (1, 2, 1)
        text = runner.invoke(app, ["status", str(out)]).output
        assert "1 done, 2 failed, 1 pending" in text and "--retry-failed" in text
    finally:
        (out / "sweeps" / "extra.json").unlink()


@pytest.mark.slow
def test_dry_run_lists_jobs_to_run_and_done_and_runs_nothing(failing_sweep):
    out, (good, *_), _ = failing_sweep
    before = sorted(os.listdir(out / "jobs"))
    result = runner.invoke(app, ["bench", *GRID[:4], "--strategies", "random,margin", "--dry-run", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 job(s) to run, 1 already done" in result.output
    assert f"done  {good.job_id}" in result.output and f"run   {smoke('margin').job_id}" in result.output
    assert sorted(os.listdir(out / "jobs")) == before


@pytest.mark.slow
def test_retry_failed_reruns_exactly_the_failed_jobs(failing_sweep, tmp_path):
    source, (good, bad, blocked), _ = failing_sweep
    out = tmp_path / "copy"
    shutil.copytree(source, out)
    (out / "jobs" / f"{blocked.job_id}.parquet").rmdir()  # the disk problem is fixed
    good_mtime = (out / "jobs" / f"{good.job_id}.parquet").stat().st_mtime_ns
    result = runner.invoke(app, ["bench", "--retry-failed", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 1, result.output  # the bad job fails again
    assert "1 job(s) failed" in result.output and "--retry-failed" in result.output
    assert "2 run, 0 already there" in result.output
    assert not (out / "failures" / f"{blocked.job_id}.json").exists()  # it succeeded: its record is gone
    assert (out / "failures" / f"{bad.job_id}.json").exists()
    assert set(read_results(out)["job_id"]) == {good.job_id, blocked.job_id}
    assert (out / "jobs" / f"{good.job_id}.parquet").stat().st_mtime_ns == good_mtime


def test_the_retry_command_stays_on_one_line_when_output_is_not_a_terminal(tmp_path):
    out = tmp_path / ("a-results-folder-with-a-long-name-" * 4) / "sweep"
    bad = smoke("random", initial=5000)
    run_sweep([bad], out, options=RunOptions(workers=1))
    command = f"autoal bench --out {out} --retry-failed"
    assert len(command) > 160  # longer than any console width the CLI would wrap at
    result = runner.invoke(app, ["bench", "--retry-failed", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"rerun just them: {command}" in result.output.splitlines()[-1]
    status = runner.invoke(app, ["status", str(out)]).output.splitlines()
    assert f"rerun the failed jobs: {command}" in status


def test_workers_are_spread_over_gpus_and_share_the_cores():
    slots = plan_slots(None, 2, ["0", "1"], cpus=16)
    assert [slot.gpu for slot in slots] == ["0", "1", "0", "1"] and {slot.threads for slot in slots} == {4}
    assert plan_slots(None, 1, [], cpus=8) == [Slot(None, 1)] * 8  # CPU: one worker per core, one thread each
    assert plan_slots(None, 1, [], cpus=8, jobs=3) == [Slot(None, 1)] * 3  # never more workers than jobs
    assert len(plan_slots(1000, 1, [], cpus=2, jobs=80)) == 80
    assert plan_slots(3, 1, [], cpus=2) == [Slot(None, 1)] * 3
    assert plan_slots(2, 1, [], cpus=16, threads=4) == [Slot(None, 4)] * 2  # --threads overrides
    assert plan_slots(None, 1, ["0"], cpus=16, threads=2) == [Slot("0", 2)]


def test_one_thread_per_job_by_default_on_every_backend():
    assert job_threads(None) == 1 and job_threads(3) == 3  # CPU (local workers, in this process, Ray)
    assert job_threads(None, gpu_share=8) == 8 and job_threads(2, gpu_share=8) == 2  # a GPU job: its core share


def test_more_workers_than_cores_is_one_warning_line(tmp_path, monkeypatch):
    assert oversubscription_warning(None, 2) is None and oversubscription_warning(2, 2) is None
    monkeypatch.setattr("alscope_autoal.runner.local.usable_cpus", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--rounds", "1", "--strategies", "random",
                                 "--workers", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warning == ["warning: --workers 3 is more than the 2 CPU cores here: the jobs will compete for them and "
                       "the sweep runs slower; leave out --workers for one job per core"]


@pytest.mark.slow
def test_default_results_do_not_depend_on_the_number_of_workers(tmp_path, monkeypatch):
    """The default run (one worker per core: 2 spawned workers here) and --workers 1 (in this process, where torch
    is first set to 2 threads, as an unset thread count would leave it on a multi-core machine) give the same rows,
    all under one torch thread."""
    import torch

    from alscope_autoal.results import read_metadata

    monkeypatch.setattr("alscope_autoal.runner.local.usable_cpus", lambda: 4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the spawned workers see no GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # nor this process, if CUDA started here already
    smoke = ["bench", "--profile", "smoke", "--strategies", "random,entropy", "--rounds", "2"]
    assert runner.invoke(app, [*smoke, "--out", str(tmp_path / "default")]).exit_code == 0
    torch.set_num_threads(2)
    try:
        assert runner.invoke(app, [*smoke, "--workers", "1", "--out", str(tmp_path / "one")]).exit_code == 0
    finally:
        torch.set_num_threads(1)  # the suite's setting (conftest)
    default, one = (comparable(read_results(tmp_path / name)) for name in ("default", "one"))
    assert len(default) == 2 * 3
    pd.testing.assert_frame_equal(default, one)
    threads = {read_metadata(path)["torch_threads"] for path in tmp_path.glob("*/jobs/*.parquet")}
    assert threads == {1}
    env = slot_environment(Slot("1", 4))
    assert env == {"CUDA_VISIBLE_DEVICES": "1", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"}


def test_threads_option_sets_the_thread_count_the_results_record(tmp_path):
    import torch

    from alscope_autoal.results import read_metadata

    try:
        run_sweep([smoke_spec(rounds=1)], tmp_path, options=RunOptions(workers=1, threads=2))
        meta = read_metadata(next((tmp_path / "jobs").glob("*.parquet")))
    finally:
        torch.set_num_threads(1)  # the suite's setting (conftest)
    assert meta["torch_threads"] == 2


@pytest.mark.slow
def test_a_spawned_worker_gets_its_gpu_and_thread_count_before_torch_loads():
    ctx = mp.get_context("spawn")
    answers = ctx.Queue()
    child = ctx.Process(target=runner_children.report_environment, args=(answers,))
    with environment(slot_environment(Slot("3", 1))):
        child.start()
    assert answers.get(timeout=60) == ("3", 1)
    child.join(10)
    assert os.environ.get("CUDA_VISIBLE_DEVICES") != "3"  # the parent's environment is restored


def test_bad_runner_options_are_one_line_errors(tmp_path):
    for args, words in [(["--workers", "0"], "--workers must be a positive"),
                        (["--threads", "0"], "--threads must be a positive"),
                        (["--backend", "slurm"], "choose one of: local, ray"),
                        (["--address", "1.2.3.4:6379"], "add --backend ray")]:
        result = runner.invoke(app, ["bench", *GRID, "--out", str(tmp_path), *args])
        assert result.exit_code == 2 and words in result.output, result.output
