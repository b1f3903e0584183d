"""The Ray backend on a local Ray instance: the same rows as the local runner, and failures recorded alike."""

from __future__ import annotations

import json

import pytest

from alscope_autoal.results import read_results
from alscope_autoal.runner import RunOptions, run_sweep

from conftest import smoke_spec

pytest.importorskip("ray")

TIMING = ["train_seconds", "eval_seconds", "selection_seconds", "train_cpu_seconds", "eval_cpu_seconds",
          "selection_cpu_seconds"]


def comparable(out):
    rows = read_results(out).drop(columns=TIMING)
    return rows.sort_values(["job_id", "round"]).reset_index(drop=True)


@pytest.mark.slow
def test_ray_gives_the_rows_of_the_local_runner_and_records_failures(tmp_path):
    specs = [smoke_spec(strategy, rounds=1) for strategy in ("random", "entropy", "margin")]
    bad = smoke_spec("random", rounds=1, initial=5000)
    local = run_sweep(specs, tmp_path / "local", options=RunOptions(workers=1))
    assert not local.failed
    outcome = run_sweep([*specs, bad], tmp_path / "ray", options=RunOptions(backend="ray", workers=2))
    assert set(outcome.failed) == {bad.job_id} and "ValueError" in outcome.failed[bad.job_id]
    record = json.loads((tmp_path / "ray" / "failures" / f"{bad.job_id}.json").read_text())
    assert record["spec"]["initial"] == 5000
    assert comparable(tmp_path / "ray").equals(comparable(tmp_path / "local"))
    assert set(outcome.work_seconds) == {spec.job_id for spec in specs}
    rerun = run_sweep(specs, tmp_path / "ray", options=RunOptions(backend="ray"))
    assert rerun.ran == [] and len(rerun.skipped) == 3  # resumes without starting Ray
