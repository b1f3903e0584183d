"""The rival selectors `albl`, `tailor` and `tcm`: their update rules on hand-checkable numbers, their state
across rounds (learned from once per revealed batch), and their columns in a real job's rows."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from alscope_autoal.data import load_dataset
from alscope_autoal.errors import UserError
from alscope_autoal.loop import run_job
from alscope_autoal.strategies import QueryContext, Selection, make_strategy
from alscope_autoal.strategies.autoal.candidates import PAPER_CANDIDATES
from alscope_autoal.strategies.selectors import (class_weights, exp4p_update, expert_probabilities, iw_accuracy,
                                                 thompson_batch)
from conftest import rng, smoke_spec


class Planted:
    """A candidate with a fixed ranked list: it proposes the still-unlabeled entries in that order."""

    def __init__(self, ranked):
        self.ranked = np.asarray(ranked, dtype=np.int64)
        self.calls = 0

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        self.calls += 1
        return Selection(self.ranked[~ctx.pool.labeled_mask[self.ranked]][:budget])


def planted(name: str, ctx: QueryContext, lists: list[list[int]], **params):
    """`name` over len(lists) candidates whose proposals are the given positions in ctx's unlabeled set."""
    selector = make_strategy(name, {"candidates": ",".join(PAPER_CANDIDATES[:len(lists)]), **params})
    unlabeled = ctx.pool.unlabeled_indices()
    selector.strategies = [Planted(unlabeled[positions]) for positions in lists]
    return selector


def next_round(ctx: QueryContext, picked: np.ndarray) -> QueryContext:
    """The next round's context as the loop builds it: the picks labeled, the round advanced (same model)."""
    pool = ctx.pool.copy()
    pool.label(picked, ctx.round + 1)
    return QueryContext(ctx.model, pool, ctx.x, ctx.y, ctx.spec, ctx.profile, ctx.device, ctx.round + 1, ctx.seed)


# ------------------------------------------------------------------------------------------------ parameters

@pytest.mark.parametrize("name", ["albl", "tailor"])
@pytest.mark.parametrize("candidates", ["entropy", "entropy,entropy", "entropy,autoal", "entropy,margn"])
def test_bad_candidate_lists_are_user_errors(name, candidates):
    with pytest.raises(UserError):
        make_strategy(name, {"candidates": candidates})


@pytest.mark.parametrize("name, params", [
    ("albl", {"p_min": 0.0}), ("albl", {"p_min": 0.2}),  # 8 experts: p_min must lie in (0, 1/8]
    ("albl", {"delta": 0.0}), ("albl", {"delta": 1.0}), ("albl", {"horizon": 0}), ("albl", {"horizon": 2.5}),
    ("tcm", {"switch_labels_per_class": -1}), ("tcm", {"switch_labels_per_class": "many"}),
])
def test_bad_parameters_are_user_errors(name, params):
    with pytest.raises(UserError):
        make_strategy(name, params)


def test_albl_accepts_p_min_of_one_over_the_expert_count():
    assert make_strategy("albl", {"candidates": "entropy,margin,kmeans", "p_min": 0.25}).p_min == 0.25


# ---------------------------------------------------------------------------------------------------- albl

def test_iw_accuracy_by_hand():
    # correct samples count 1/q each: (2 + 4) / (n T) with n = 10, T = 3
    assert iw_accuracy(np.array([1.0, 0.0, 1.0]), np.array([2.0, 5.0, 4.0]), 10, 3) == pytest.approx(0.2)


def test_p_min_keeps_every_expert_at_least_p_min():
    p = expert_probabilities(np.array([0.0, -1000.0, -1000.0]), 0.1)
    assert p == pytest.approx([0.8, 0.1, 0.1])
    assert expert_probabilities(np.zeros(4), 0.25) == pytest.approx([0.25] * 4)  # N p_min = 1: uniform


def test_always_rewarded_expert_gains_weight_round_after_round():
    """Three experts over 100 samples, batches of 10: expert 0 advises the 10 drawn samples, expert 1 ten others,
    expert 2 is random. With reward 1 every round, expert 0's probability must rise every round."""
    n, b, p_min = 100, 10, 0.05
    advice = np.zeros((n, 3))
    advice[:b, 0], advice[b:2 * b, 1], advice[:, 2] = 1 / b, 1 / b, 1 / n
    log_w, history = np.zeros(3), []
    for _ in range(5):
        p = expert_probabilities(log_w, p_min)
        history.append(p[0])
        q = advice @ p
        log_w = exp4p_update(log_w, p, advice[:b], q[:b], 1.0, p_min, 0.1, horizon=50)
    assert np.all(np.diff(history) > 0)
    p = expert_probabilities(log_w, p_min)
    assert p[0] > 0.5 and p[1] < 1 / 3 and p[2] >= p_min


def test_without_reward_equal_experts_stay_equal():
    """Reward 0 leaves only the confidence term, which is the same for experts followed equally often."""
    p = np.full(3, 1 / 3)
    advice = np.array([[0.5, 0.0, 0.1], [0.5, 0.0, 0.1]])
    log_w = exp4p_update(np.zeros(3), p, advice, advice @ p, 0.0, 0.1, 0.1, horizon=20)
    assert np.ptp(log_w) == pytest.approx(0.0)
    assert log_w[0] == pytest.approx(2 * 0.1 / 2 * math.sqrt(math.log(3 / 0.1) / 60) * 3)


def test_albl_query_respects_p_min_for_random(fresh_context):
    albl = planted("albl", fresh_context, [[0, 1, 2, 3], [4, 5, 6, 7]], p_min=0.1)
    albl.log_weights = np.array([0.0, -1000.0, -1000.0])  # everything on candidate 0
    selection = albl.select(fresh_context, 4, rng())
    assert selection.extras["albl_random_weight"] == pytest.approx(0.1)
    assert selection.extras["autoal_weight_entropy"] == pytest.approx(0.8)
    assert albl.pending.details["q"].min() >= 0.1 / len(fresh_context.pool.unlabeled_indices())
    assert len(set(selection.indices.tolist())) == 4


def test_albl_learns_once_from_a_revealed_batch_even_when_select_runs_twice(fresh_context):
    albl = planted("albl", fresh_context, [list(range(0, 10)), list(range(10, 20))])
    selection = albl.select(fresh_context, 6, rng())
    picked = selection.indices
    assert math.isnan(selection.extras["albl_reward"])
    ctx = next_round(fresh_context, picked)
    first = albl.select(ctx, 6, rng(1))
    weights = albl.log_weights.copy()
    second = albl.select(ctx, 6, rng(1))
    assert np.array_equal(albl.log_weights, weights)
    assert np.array_equal(first.indices, second.indices)
    assert first.extras == second.extras and 0 <= first.extras["albl_reward"] <= 1
    assert len(albl.queried) == 1 and np.array_equal(albl.queried[0], picked)
    assert [s.calls for s in albl.strategies] == [2, 2]  # once per round, not once per call


def correct_and_wrong(ctx: QueryContext, n: int) -> tuple[list[int], list[int]]:
    """Positions in ctx's unlabeled set of n samples the round's model classifies correctly and n it gets wrong
    (read through the ground truth, which only a test may do)."""
    unlabeled = ctx.pool.unlabeled_indices()
    right = (ctx.probs(unlabeled).argmax(1) == ctx.y[unlabeled]).numpy()
    return np.flatnonzero(right)[:n].tolist(), np.flatnonzero(~right)[:n].tolist()


def test_albl_reward_is_iw_accuracy_of_the_round_model_on_the_queried_samples(fresh_context):
    albl = planted("albl", fresh_context, list(correct_and_wrong(fresh_context, 10)))
    picked = albl.select(fresh_context, 10, rng()).indices
    inverse_q = 1 / albl.pending.details["q"]
    ctx = next_round(fresh_context, picked)
    reward = albl.select(ctx, 10, rng()).extras["albl_reward"]
    correct = (ctx.probs(picked).argmax(1) == ctx.labeled_targets(picked)).numpy().astype(float)
    expected = (correct * inverse_q).sum() / (len(ctx.pool) * albl.horizon_labels)
    assert expected > 0 and reward == pytest.approx(expected)
    assert albl.horizon_labels == fresh_context.profile.budget.rounds * 10


def test_albl_credits_the_reward_to_the_candidates_whose_proposals_were_drawn(fresh_context):
    """Two disjoint candidates followed equally: each one's reward estimate is r / q summed over its own drawn
    proposals, so after a rewarded round the candidate with more drawn proposals gains more weight."""
    right, wrong = correct_and_wrong(fresh_context, 10)
    albl = planted("albl", fresh_context, [right, wrong])
    picked = albl.select(fresh_context, 10, rng()).indices
    unlabeled = fresh_context.pool.unlabeled_indices()
    drawn = [int(np.isin(picked, unlabeled[positions]).sum()) for positions in (right, wrong)]
    log = albl.select(next_round(fresh_context, picked), 10, rng()).extras
    assert log["albl_reward"] > 0 and drawn[0] != drawn[1]
    gain = log["autoal_weight_entropy"] - log["autoal_weight_margin"]
    assert np.sign(gain) == np.sign(drawn[0] - drawn[1])


# -------------------------------------------------------------------------------------------------- tailor

def test_class_weights_by_hand():
    assert class_weights(np.array([0, 4, 1])) == pytest.approx([1.0, 0.25, 1.0])


def test_tailor_prefers_the_candidate_whose_posterior_favours_the_rarest_class():
    """Class 2 is rare (1 label against 50 and 50): candidate 0 almost surely proposes class 2, candidate 1
    class 0. Every slot goes to candidate 0 until its list runs out, then to candidate 1."""
    v = class_weights(np.array([50, 50, 1]))
    alpha = np.array([[1.0, 1.0, 500.0], [500.0, 1.0, 1.0]])
    beta = np.array([[500.0, 500.0, 1.0], [1.0, 500.0, 500.0]])
    proposals = [np.array([10, 11, 12]), np.array([20, 21, 22])]
    picked, source = thompson_batch(proposals, alpha, beta, v, 5, rng())
    assert picked == [10, 11, 12, 20, 21] and source == [0, 0, 0, 1, 1]


def test_tailor_skips_proposals_already_in_the_batch_and_stops_when_all_run_out():
    alpha = beta = np.ones((2, 2))
    picked, source = thompson_batch([np.array([1, 2]), np.array([2, 1, 3])], alpha, beta, np.ones(2), 5, rng())
    assert sorted(picked) == [1, 2, 3] and len(source) == 3


def test_tailor_fills_from_random_when_every_candidate_has_run_out(fresh_context):
    tailor = planted("tailor", fresh_context, [[0, 1], [1, 0]])
    selection = tailor.select(fresh_context, 5, rng())
    picked, log = selection.indices, selection.extras
    assert len(set(picked.tolist())) == 5 and not fresh_context.pool.labeled_mask[picked].any()
    assert log["tailor_random_fill"] == pytest.approx(0.6)
    assert log["autoal_weight_entropy"] + log["autoal_weight_margin"] == pytest.approx(0.4)
    assert len(tailor.pending.indices) == 2  # random fills teach the posteriors nothing


def test_tailor_counts_the_previous_batch_once_even_when_select_runs_twice(fresh_context):
    tailor = planted("tailor", fresh_context, [list(range(0, 8)), list(range(8, 16))])
    picked = tailor.select(fresh_context, 6, rng()).indices
    source = tailor.pending.details["source"]
    ctx = next_round(fresh_context, picked)
    labels = ctx.labeled_targets(picked).numpy()
    tailor.select(ctx, 6, rng(1))
    again = tailor.select(ctx, 6, rng(1))
    n_classes = ctx.n_classes
    for k in range(2):
        from_k = labels[source == k]
        assert np.array_equal(tailor.alpha[k] - 1, np.bincount(from_k, minlength=n_classes))
        assert tailor.beta[k].sum() - n_classes == len(from_k) * (n_classes - 1)
    assert again.extras["tailor_updates"] == 6.0


# ----------------------------------------------------------------------------------------------------- tcm

def test_tcm_uses_typiclust_below_the_switch_and_margin_above(fresh_context):
    ctx = fresh_context  # 20 labels over 10 classes: 2 per class
    typiclust = make_strategy("typiclust").select(ctx, 10, rng(4)).indices
    margin = make_strategy("margin").select(ctx, 10, rng(4)).indices
    assert not np.array_equal(np.sort(typiclust), np.sort(margin))
    low = make_strategy("tcm", {"switch_labels_per_class": 3}).select(ctx, 10, rng(4))
    assert np.array_equal(low.indices, typiclust)
    assert low.extras == {"tcm_typiclust": 1.0, "tcm_labels_per_class": 2.0}
    high = make_strategy("tcm", {"switch_labels_per_class": 2}).select(ctx, 10, rng(4))  # 2 per class: margin
    assert np.array_equal(high.indices, margin)
    assert high.extras["tcm_typiclust"] == 0.0


# ------------------------------------------------------------------------------------------- whole rounds

@pytest.mark.parametrize("name", ["albl", "tailor", "tcm"])
def test_same_seed_same_picks_over_two_rounds(fresh_context, name):
    def two_rounds() -> list[np.ndarray]:
        strategy, ctx, picks = make_strategy(name), fresh_context, []
        for round_ in range(2):
            picks.append(strategy.select(ctx, 8, rng(round_)).indices)
            ctx = next_round(ctx, picks[-1])
        return picks

    first, second = two_rounds(), two_rounds()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("name", ["albl", "tailor"])
def test_job_rows_carry_candidate_weights_and_selector_state(name):
    rows = run_job(smoke_spec(name), load_dataset("digits"))
    for row in rows[1:]:
        shares = [row[f"autoal_weight_{c}"] for c in PAPER_CANDIDATES]
        assert all(isinstance(s, float) and 0 <= s <= 1 for s in shares)
        rest = row["albl_random_weight"] if name == "albl" else row["tailor_random_fill"]
        assert sum(shares) + rest == pytest.approx(1.0)
    if name == "albl":
        assert math.isnan(rows[1]["albl_reward"]) and 0 < rows[2]["albl_reward"] <= 1
    else:
        assert rows[1]["tailor_updates"] == 0.0 and rows[2]["tailor_updates"] > 0


def test_albl_plans_for_the_jobs_rounds_not_the_profiles(fresh_context):
    """`--rounds 20` on a profile of fewer rounds: T and the default p_min follow the job's 20 rounds."""
    assert fresh_context.profile.budget.rounds != 20
    ctx = dataclasses.replace(fresh_context, rounds=20)
    albl = planted("albl", ctx, [[0, 1, 2, 3], [4, 5, 6, 7]])
    albl.select(ctx, 4, rng())
    n_experts = 3
    assert albl.horizon_labels == 20 * 4
    assert albl.p_min == pytest.approx(math.sqrt(math.log(n_experts) / (n_experts * 80)))
