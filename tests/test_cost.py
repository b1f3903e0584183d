"""`autoal bench --dry-run` estimates a sweep's device-hours from measured speeds only: stored by earlier jobs in
the results folder, or a short calibration; without either it says how to get one."""

from __future__ import annotations

import re
import time

import pytest
from conftest import smoke_spec
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.cost import Rates, Work, estimate, job_work
from alscope_autoal.results import read_metadata, result_files

runner = CliRunner()
SMOKE = ["bench", "--profile", "smoke", "--strategies", "random,entropy", "--workers", "1", "--threads", "1"]


def test_job_work_counts_every_rounds_training_and_passes():
    # smoke: batch 32, 2 epochs, at least 10 steps; 20, 30 and 40 labels -> 10 steps of 20, 10 of 30, 5 x (32 + 8)
    work = job_work(smoke_spec(), pool_size=300, test_size=200)
    assert work.train_image_steps == 200 + 300 + 200
    assert work.infer_images == 3 * 200 + (300 - 20) + (300 - 30)
    assert work.query_rounds == 2


def test_paper_cifar10_job_is_the_image_steps_the_issue_counts():
    """One paper CIFAR-10 job: 11 trainings of 200 epochs over 1,000 to 11,000 labels, about 13.2 M image-steps."""
    from alscope_autoal.bench import BenchRequest, job_specs

    spec = job_specs(BenchRequest(datasets=("cifar10",), strategies=("random",), profile="paper"), "cifar10")[0]
    assert job_work(spec, 50_000, 10_000).train_image_steps == 200 * sum(1000 * k for k in range(1, 12))


def test_estimate_adds_training_inference_selection_and_start():
    jobs = [(smoke_spec("entropy"), Work(1000, 500, 2)), (smoke_spec("margin"), Work(1000, 500, 2))]
    est = estimate(jobs, Rates(train=100.0, infer=50.0, source="test", selection={"entropy": 1.5}, overhead=2.0))
    assert est.seconds == pytest.approx(2 * 10 + 2 * 10 + 1.5 * 2 + 2 * 2)
    assert est.unmeasured_selection == ("margin",)


def test_without_a_measured_speed_the_dry_run_says_how_to_calibrate(tmp_path):
    result = runner.invoke(app, [*SMOKE, "--out", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert "no measured speed for smoke on digits in fp32 on cpu" in line and "--dry-run --calibrate" in line
    assert not re.search(r"device-hours", line)


def test_calibrate_measures_a_speed_on_this_device(tmp_path):
    result = runner.invoke(app, [*SMOKE, "--out", str(tmp_path), "--dry-run", "--calibrate"])
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert "device-hours" in line and "20-step calibration on cpu" in line
    assert "selection of entropy, random not measured" in line


def test_calibrate_without_dry_run_is_one_line(tmp_path):
    result = runner.invoke(app, [*SMOKE, "--out", str(tmp_path), "--calibrate"])
    assert result.exit_code == 2 and result.output.strip() == "error: --calibrate times this device for a cost " \
        "estimate: add --dry-run"
    assert not (tmp_path / "jobs").exists()


def estimated_hours(output: str) -> float:
    return float(re.search(r"about ([0-9.e+-]+) device-hours", output).group(1))


@pytest.mark.slow
def test_stored_rates_estimate_a_second_sweep_within_a_sane_factor(tmp_path):
    """Seed 0 finishes; the dry run of seeds 0-1 estimates the seed-1 jobs from seed 0's stored speeds; running
    them measures their job seconds (from their footers), which the estimate must match within 4x either way
    (a shared 2-core machine: other processes move every timing)."""
    out = tmp_path / "out"
    assert runner.invoke(app, [*SMOKE, "--out", str(out)]).exit_code == 0
    first = {path.name for path in result_files(out)}
    planned = runner.invoke(app, [*SMOKE, "--seeds", "2", "--out", str(out), "--dry-run"])
    assert "speed from 2 finished job(s)" in planned.output, planned.output
    predicted = estimated_hours(planned.output) * 3600
    started = time.perf_counter()
    assert runner.invoke(app, [*SMOKE, "--seeds", "2", "--out", str(out)]).exit_code == 0
    wall = time.perf_counter() - started
    measured = sum(read_metadata(p)["job_seconds"] for p in result_files(out) if p.name not in first)
    assert measured <= wall
    assert measured / 4 <= predicted <= measured * 4, (predicted, measured)
