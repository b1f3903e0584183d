"""The look-ahead `oracle`: it keeps the batch whose retrained model scores best on its held-out split, never
selects (or lets a candidate see) that split, is deterministic, and refuses impossible settings in one line."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.data import load_dataset
from alscope_autoal.errors import UserError
from alscope_autoal.loop import run_job
from alscope_autoal.pool import LabelState
from alscope_autoal.roles import ORACLES
from alscope_autoal.strategies import STRATEGIES, Selection, make_strategy
from alscope_autoal.strategies.oracle import Oracle
from conftest import rng, smoke_spec

runner = CliRunner()


class OfClasses:
    """A fake candidate: the first unlabeled samples (of the context it is given) whose class is in `classes`."""

    def __init__(self, classes):
        self.classes = list(classes)

    def select(self, ctx, budget, generator):
        unlabeled = ctx.pool.unlabeled_indices()
        return Selection(unlabeled[np.isin(ctx.y[unlabeled].numpy(), self.classes)][:budget])


class Spy:
    """A fake candidate that records the pool it was shown and picks its first unlabeled samples."""

    def __init__(self):
        self.seen: list[tuple[int, int]] = []

    def select(self, ctx, budget, generator):
        self.seen.append((len(ctx.pool), len(ctx.pool.unlabeled_indices())))
        return Selection(ctx.pool.unlabeled_indices()[:budget])


def with_fakes(oracle: Oracle, fakes: dict) -> Oracle:
    oracle.candidates, oracle.strategies = tuple(fakes), list(fakes.values())
    return oracle


def without_classes(ctx, missing, n_labeled: int = 40):
    """The context with a labeled set holding no sample of the `missing` classes."""
    y = ctx.y.numpy()
    pool = LabelState(len(ctx.pool), ctx.pool.is_unknown)
    pool.label(np.flatnonzero(~np.isin(y, missing))[:n_labeled], 0)
    ctx.pool = pool
    return ctx


@pytest.mark.parametrize("order", [("covered", "missing"), ("missing", "covered")])
def test_oracle_keeps_the_batch_that_teaches_the_missing_classes(fresh_context, order):
    ctx = without_classes(fresh_context, missing=[7, 8, 9])
    fakes = {"missing": OfClasses([7, 8, 9]), "covered": OfClasses([0])}
    oracle = with_fakes(Oracle(candidates="entropy,margin", batches=2, holdout=100, retrain_min_steps=60),
                        {name: fakes[name] for name in order})
    selection = oracle.select(ctx, 15, rng())
    log = selection.extras
    assert set(ctx.y[selection.indices].tolist()) <= {7, 8, 9}
    assert log["autoal_weight_missing"] == 1.0 and log["autoal_weight_covered"] == 0.0
    assert log["oracle_best_batch"] == order.index("missing")


def test_planted_scores_decide_and_cross_entropy_breaks_ties(fresh_context, monkeypatch):
    oracle = Oracle(candidates="entropy,margin", batches=4, holdout=50)
    offered = []

    def planted(self, ctx, batch, holdout):
        offered.append(batch)
        return (0.9 if len(offered) == 4 else 0.5), -1.0  # the second random batch wins
    monkeypatch.setattr(Oracle, "score_batch", planted)
    selection = oracle.select(fresh_context, 10, rng())
    log = selection.extras
    assert np.array_equal(selection.indices, offered[3]) and log["oracle_best_batch"] == 3
    assert log["autoal_weight_entropy"] == log["autoal_weight_margin"] == 0.0

    offered.clear()
    monkeypatch.setattr(Oracle, "score_batch", lambda self, ctx, batch, holdout: (
        offered.append(batch) or (0.5, -0.1 if len(offered) == 2 else -0.7)))  # equal accuracy, margin's CE lowest
    log = oracle.select(fresh_context, 10, rng()).extras
    assert log["oracle_best_batch"] == 1 and log["autoal_weight_margin"] == 1.0


def test_holdout_is_never_selected_nor_shown_to_candidates(fresh_context):
    spy = Spy()
    oracle = with_fakes(Oracle(candidates="entropy", holdout=120, retrain_min_steps=1), {"spy": spy})
    pool, n_pool = fresh_context.pool, len(fresh_context.pool)
    for round_ in range(3):
        fresh_context.round = round_
        n_unlabeled = len(pool.unlabeled_indices())
        picked = oracle.select(fresh_context, 20, rng()).indices
        assert not np.isin(picked, oracle._holdout).any()
        assert spy.seen[-1] == (n_pool - 120, n_unlabeled - 120)  # the candidates' pool lacks the held-out split
        pool.label(picked, round_ + 1)
    assert len(oracle._holdout) == 120 and not pool.labeled_mask[oracle._holdout].any()
    assert not fresh_context.y[oracle._holdout].lt(0).any()  # known classes only: it is scored on them


def test_by_default_it_scores_on_the_rest_of_the_pool_and_hides_nothing(fresh_context, monkeypatch):
    spy, scored = Spy(), []
    oracle = with_fakes(Oracle(candidates="entropy", batches=3), {"spy": spy})
    assert oracle.reserved_pool() == 0
    monkeypatch.setattr(Oracle, "score_batch", lambda self, ctx, batch, held_out: (
        scored.append((batch, held_out)) or (0.5, -float(len(scored)))))
    pool = fresh_context.pool
    unlabeled = pool.unlabeled_indices()
    assert pool.labeled_mask.any() and not pool.is_unknown.any()
    selection = oracle.select(fresh_context, 15, rng())
    assert spy.seen == [(len(pool), len(unlabeled))]  # the candidates see the whole pool
    batches, sets = [b for b, _ in scored], [h for _, h in scored]
    assert len(batches) == 3 and all(np.array_equal(sets[0], h) for h in sets)  # one scoring set for all
    assert np.array_equal(sets[0], np.setdiff1d(unlabeled, np.concatenate(batches)))  # no labeled, no batch sample
    assert selection.extras["oracle_holdout_size"] == len(sets[0])
    assert np.array_equal(selection.indices, batches[0])  # equal accuracy: the lowest cross-entropy (the first) wins


def test_same_round_same_picks(digits_context, fresh_context):
    params = dict(candidates="entropy,kmeans", holdout=60, retrain_min_steps=5)
    first, second = Oracle(**params), Oracle(**params)
    picked = first.select(fresh_context, 12, rng(1))
    assert np.array_equal(picked.indices, first.select(fresh_context, 12, rng(2)).indices)  # other generator
    other = digits_context.__class__(**{**fresh_context.__dict__, "_cache": {}})
    again = second.select(other, 12, rng(3))
    assert np.array_equal(picked.indices, again.indices)
    assert picked.extras == pytest.approx({**again.extras, "oracle_retrain_seconds":
                                           picked.extras["oracle_retrain_seconds"]})


def test_a_holdout_larger_than_the_unlabeled_pool_is_refused(fresh_context):
    pool = fresh_context.pool
    pool.label(pool.unlabeled_indices()[:-30], 0)
    with pytest.raises(UserError, match="lower oracle.holdout"):
        Oracle(holdout=200).select(fresh_context, 10, rng())


@pytest.mark.parametrize("params, expected", [
    ({"batches": 0}, "batches must be a whole number of at least 1"),
    ({"batches": -3}, "batches must be a whole number of at least 1"),
    ({"holdout": 0}, 'holdout must be "rest" or a whole number of at least 1'),
    ({"holdout": "half"}, 'holdout must be "rest" or a whole number of at least 1'),
    ({"retrain_epochs": 1.5}, "retrain_epochs must be a whole number"),
    ({"candidates": "autoal,entropy"}, "cannot be a candidate of oracle"),
])
def test_bad_parameters_are_one_line_user_errors(params, expected):
    with pytest.raises(UserError, match=expected) as caught:
        make_strategy("oracle", params)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("param, expected", [
    ("oracle.holdout=100000", "oracle sets 100000 pool samples aside"),
    ("oracle.batches=0", "batches must be a whole number of at least 1"),
])
def test_cli_refuses_before_any_job_runs(tmp_path, param, expected):
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--strategies", "random,oracle", "--strategy-param",
                                 param, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], result.output
    assert not (tmp_path / "out" / "jobs").exists()


@pytest.mark.slow
def test_a_real_smoke_job_logs_the_oracle_columns():
    spec = smoke_spec("oracle", strategy_params=(("candidates", "entropy,margin,kmeans"), ("holdout", 100),
                                                 ("retrain_min_steps", 5)))
    rows = run_job(spec, load_dataset("digits"))
    assert len(rows) == spec.rounds + 1
    assert rows[0]["strategy_params"] == '{"candidates":"entropy,margin,kmeans","holdout":100,"retrain_min_steps":5}'
    for row in rows[1:]:
        weights = [row[f"autoal_weight_{name}"] for name in ("entropy", "margin", "kmeans")]
        assert sum(weights) in (0.0, 1.0) and set(weights) <= {0.0, 1.0}  # the winner's candidate, if any
        assert row["oracle_best_batch"] in range(4) and 0 <= row["oracle_holdout_accuracy"] <= 1
        assert row["oracle_retrain_seconds"] > 0 and row["n_queried"] == spec.query_size
        assert (weights.index(1.0) if 1.0 in weights else 3) == row["oracle_best_batch"]


def test_oracles_are_registered_and_listed_as_ceilings():
    assert ORACLES <= set(STRATEGIES.names())
    assert STRATEGIES.describe("oracle").startswith("ORACLE (uses unpaid labels; a ceiling, never ranked):")
    listed = runner.invoke(app, ["list", "strategies"]).output.strip().splitlines()
    assert listed[-1].split()[0] == "oracle" and "ORACLE" in listed[-1]
