"""--deterministic (numerics switch recorded in every result file, no effect on CPU numbers), BatchBALD's candidate
shortlist and precision, and `benchmarks/gpu_check.py --tiny` as CI runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.determinism import CUBLAS_WORKSPACE, numerics
from alscope_autoal.identity import resolve
from alscope_autoal.profiles import PROFILES
from alscope_autoal.results import read_metadata, read_results
from alscope_autoal.runner import RunOptions, run_sweep
from alscope_autoal.strategies.batchbald import BatchBALD
from alscope_autoal.strategies.mc_dropout import bald_score

from conftest import REPO, smoke_spec

TIMING = ["train_seconds", "eval_seconds", "selection_seconds", "train_cpu_seconds", "eval_cpu_seconds",
          "selection_cpu_seconds"]
runner = CliRunner()


def rows_of(out) -> pd.DataFrame:
    rows = read_results(out).drop(columns=TIMING, errors="ignore")
    return rows.sort_values(["job_id", "round"]).reset_index(drop=True)


@pytest.mark.slow
def test_the_switch_is_recorded_and_changes_no_cpu_number(tmp_path):
    specs = [resolve(smoke_spec(strategy, rounds=1)) for strategy in ("margin", "batchbald")]
    on = run_sweep(specs, tmp_path / "on", options=RunOptions(workers=2, threads=1, device="cpu"))  # workers
    off = run_sweep(specs, tmp_path / "off", options=RunOptions(workers=1, threads=1, device="cpu",
                                                                deterministic=False))
    assert not on.failed and not off.failed
    pd.testing.assert_frame_equal(rows_of(tmp_path / "on"), rows_of(tmp_path / "off"))
    for folder, flag in (("on", True), ("off", False)):
        for path in (tmp_path / folder / "jobs").glob("*.parquet"):
            meta = read_metadata(path)
            assert meta["deterministic"] is flag
            if flag:  # the worker process had cuBLAS's workspace fixed before its job ran
                assert meta["cublas_workspace_config"] == CUBLAS_WORKSPACE


def test_numerics_sets_the_flags_for_the_block_and_restores_them(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    with numerics(True):
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark and os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    with numerics(False):
        assert not torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.benchmark
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark) == before


def test_bench_takes_no_deterministic(tmp_path):
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--rounds", "1", "--strategies", "random",
                                 "--workers", "1", "--no-deterministic", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert read_metadata(next((tmp_path / "jobs").glob("*.parquet")))["deterministic"] is False


def mc_probs(n: int = 60, k: int = 8, c: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(k, n, c, generator=g) * 2, -1)


def test_batchbald_shortlist_is_the_top_bald_candidates():
    mc = mc_probs()
    short = BatchBALD.shortlist(mc, 10, np.random.default_rng(0))
    assert set(short) == set(bald_score(mc).argsort(descending=True)[:10].tolist())
    assert BatchBALD.shortlist(mc, 60, np.random.default_rng(0)) is None
    assert BatchBALD.shortlist(mc, 0, np.random.default_rng(0)) is None


def context_with(mc: torch.Tensor, profile: str):
    from test_strategies_behaviour import synthetic

    n = mc.shape[1]
    ctx = synthetic(np.zeros((n, mc.shape[2])))
    ctx.profile = PROFILES.get(profile)
    ctx._cache[("mc", 20, np.arange(n).tobytes())] = mc
    return ctx


def test_batchbald_picks_come_from_the_shortlist_and_float32_agrees_with_float64():
    mc = mc_probs(n=80, k=20)
    full = BatchBALD(passes=20).select(context_with(mc, "smoke"), 5, np.random.default_rng(1)).indices
    shortlisted = BatchBALD(passes=20, candidates=15).select(context_with(mc, "smoke"), 5,
                                                            np.random.default_rng(1)).indices
    top = set(bald_score(mc).argsort(descending=True)[:15].tolist())
    assert set(shortlisted.tolist()) <= top and full[0] == shortlisted[0]  # the first pick is the BALD maximiser
    single = BatchBALD(passes=20, precision="float32").select(context_with(mc, "smoke"), 5,
                                                              np.random.default_rng(1)).indices
    assert single.tolist() == full.tolist()


def test_batchbald_defaults_follow_the_profile():
    assert BatchBALD().settings(PROFILES.get("paper")) == (10_000, torch.float32)
    assert BatchBALD().settings(PROFILES.get("cpu")) == (0, torch.float64)
    assert BatchBALD().settings(PROFILES.get("linear")) == (1_000, torch.float32)
    assert BatchBALD(candidates=500, precision="float64").settings(PROFILES.get("paper")) == (500, torch.float64)
    assert dict(resolve(smoke_spec("batchbald", profile="paper")).resolved)["strategy.candidates"] == 10_000


@pytest.mark.parametrize("params, words", [({"candidates": -1}, "candidates must be"),
                                           ({"precision": "float16"}, "precision must be one of")])
def test_batchbald_bad_parameters(params, words):
    from alscope_autoal.errors import UserError

    with pytest.raises(UserError, match=words):
        BatchBALD(**params)


@pytest.mark.slow
def test_gpu_check_tiny_runs_on_cpu_and_checks_determinism(tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--tiny", "--json",
                           str(tmp_path / "check.json")], capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["identical"] and report["device"] == "cpu"
    from alscope_autoal.strategies import STRATEGIES

    assert set(report["strategies"]) == set(STRATEGIES)
