"""`--subsample N`: each round a strategy sees the labeled set and a seeded N of the unlabeled samples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from alscope_autoal import loop
from alscope_autoal.analysis.aggregate import label_strategies
from alscope_autoal.cli.app import app
from alscope_autoal.data import load_dataset
from alscope_autoal.identity import resolve
from alscope_autoal.pool import LabelState

from conftest import smoke_spec

runner = CliRunner()


def run_capturing_queries(monkeypatch, spec) -> tuple[list[dict], list[tuple]]:
    """The job's rows, and for each query the context's pool indices, its unlabeled ones and the picks."""
    seen, query = [], loop.query

    def spy(strategy, ctx, budget, rng):
        selection, seconds = query(strategy, ctx, budget, rng)
        seen.append((ctx.pool_ids(np.arange(len(ctx.pool))), ctx.pool_ids(ctx.pool.unlabeled_indices()),
                     ctx.pool_ids(selection.indices)))
        return selection, seconds

    monkeypatch.setattr(loop, "query", spy)
    return loop.run_job(resolve(spec), load_dataset("digits"), torch.device("cpu")), seen


def test_every_pick_comes_from_the_rounds_subset_and_the_labeled_set_stays_visible(monkeypatch):
    rows, seen = run_capturing_queries(monkeypatch, smoke_spec("margin", subsample=40))
    for row, (shown, unlabeled, picked) in zip(rows, seen):
        assert len(unlabeled) == 40 and len(shown) == row["n_labeled"] + 40
        assert set(picked) <= set(unlabeled)
    assert [row["subsample"] for row in rows] == [40, 40, 40]
    assert set(seen[0][1]) != set(seen[1][1])  # a new subset each round


def test_in_round_zero_every_strategy_sees_the_same_candidates(monkeypatch):
    candidates = [run_capturing_queries(monkeypatch, smoke_spec(name, subsample=40))[1][0][1]
                  for name in ("margin", "random")]
    np.testing.assert_array_equal(*candidates)


@pytest.mark.parametrize("strategy", ["albl", "tailor", "oracle", "autoal", "typiclust", "coreset"])
def test_selectors_oracle_and_labeled_set_strategies_run_on_a_subset(strategy):
    rows = loop.run_job(resolve(smoke_spec(strategy, subsample=40)), load_dataset("digits"), torch.device("cpu"))
    assert [row["n_labeled"] for row in rows] == [20, 30, 40]
    if strategy == "albl":  # it learned from round 1's batch in round 2, though round 2 showed another subset
        assert math.isfinite(rows[2]["albl_reward"])
    if strategy == "tailor":
        assert rows[2]["tailor_updates"] == 10


def test_a_subset_as_large_as_the_unlabeled_pool_is_the_whole_pool():
    pool = LabelState(100)
    pool.label(np.arange(10), 0)
    assert loop.visible_rows(pool, 90, seed=1) is None and loop.visible_rows(pool, 0, seed=1) is None
    assert len(loop.visible_rows(pool, 50, seed=1)) == 60


def test_the_job_id_changes_only_when_subsample_is_set():
    plain = resolve(smoke_spec("margin"))
    assert "subsample" not in plain.canonical()
    assert resolve(smoke_spec("margin", subsample=40)).job_id != plain.job_id


def test_a_subsampled_job_is_its_own_arm_in_tables():
    rows = pd.DataFrame({"strategy": ["margin", "margin", "autoal"], "strategy_params": ["", "", '{"K":3}'],
                         "subsample": [float("nan"), 40.0, 40.0]})
    assert label_strategies(rows)["strategy"].tolist() == ["margin", "margin(subsample=40)",
                                                           "autoal(K=3,subsample=40)"]


@pytest.mark.parametrize("size, words", [
    ("5", "--subsample 5 is smaller than the query size 10"),
    ("1000", "--subsample 1000 is larger than the 280 unlabeled samples of digits"),
    ("0", "--subsample must be a positive number"),
])
def test_a_subsample_the_pool_cannot_honour_is_one_line_and_exit_2(tmp_path, size, words):
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--strategies", "margin", "--subsample", size,
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("jobs/*.parquet"))
