"""AutoAL: gradients reach SearchNet (and do not under the released code's hard mask), the candidate matrices
are computed once per round, picks are deterministic, the loss head takes part in the score, and the votes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alscope_autoal.strategies import Selection, make_strategy
from alscope_autoal.strategies.autoal import AutoAL, Vote, VoteRandom
from alscope_autoal.strategies.autoal.networks import SearchNet, fitnet
from alscope_autoal.strategies.autoal.search import SearchConfig, search
from alscope_autoal.training import seeded
from conftest import make_context, rng, smoke_spec

CANDIDATES = "entropy,margin,kmeans"


@pytest.fixture(scope="module")
def labeled_context():
    """A smoke context with 120 labeled samples, so L_fit and L_val hold 60 each."""
    return make_context(smoke_spec(), n_extra_labeled=100)


def run_search(ctx, hard_mask: bool, steps: int = 8):
    """One search on the context's labeled set; returns SearchNet's initial and final selection parameters."""
    strategy = AutoAL(candidates=CANDIDATES)
    labeled = ctx.pool.trainable_indices()
    fit, val = labeled[::2], labeled[1::2]
    picks = strategy.val_matrix(ctx, fit, val)
    cfg = SearchConfig(backbone="small-cnn", width=8, pretrain_steps=4, search_steps=steps, batch_size=32,
                       lr=0.05, temperature=0.1, ratio=0.2, hard_mask=hard_mask)
    with seeded(11, ctx.device):  # the same draws `search` makes, to recover SearchNet's initial weights
        fitnet(cfg.backbone, ctx.spec.n_channels, ctx.spec.n_classes, cfg.width)
        initial = SearchNet(cfg.backbone, ctx.spec.n_channels, picks.shape[1], cfg.width)
    outcome = search((ctx.x[torch.as_tensor(fit)], ctx.y[torch.as_tensor(fit)]),
                     (ctx.x[torch.as_tensor(val)], ctx.y[torch.as_tensor(val)], picks), ctx.spec, cfg, 11,
                     ctx.device)
    return initial.selection_parameters(), outcome


def moved(before, after) -> float:
    return max(float((a.detach().cpu() - b.detach().cpu()).abs().max()) for a, b in zip(after, before))


def test_searchnet_gets_gradient_and_moves_with_finite_temperature(labeled_context):
    before, outcome = run_search(labeled_context, hard_mask=False)
    assert outcome.steps == 8
    assert outcome.grad_norm > 1e-4
    assert moved(before, outcome.net.selection_parameters()) > 1e-4


def test_hard_mask_of_released_code_gives_no_gradient(labeled_context):
    before, outcome = run_search(labeled_context, hard_mask=True)
    assert outcome.grad_norm < 1e-9
    assert moved(before, outcome.net.selection_parameters()) == 0.0


class Counting:
    """Wraps a candidate and counts its select() calls."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def select(self, ctx, budget, generator):
        self.calls += 1
        return self.inner.select(ctx, budget, generator)


@pytest.mark.parametrize("val_model", ["task", "fitnet"])
def test_candidate_matrices_computed_once_per_round(fresh_context, val_model):
    fresh_context.pool.label(fresh_context.pool.unlabeled_indices()[:60], 0)
    strategy = AutoAL(candidates=CANDIDATES, search_steps=12, val_model=val_model)
    strategy.strategies = [Counting(s) for s in strategy.strategies]
    strategy.select(fresh_context, 10, rng())
    assert [c.calls for c in strategy.strategies] == [2, 2, 2]  # once on L_val, once on U
    strategy.select(fresh_context, 10, rng(1))  # the same round and pool: served from the cache
    assert [c.calls for c in strategy.strategies] == [2, 2, 2]
    fresh_context.round += 1
    strategy.select(fresh_context, 10, rng())
    assert [c.calls for c in strategy.strategies] == [4, 4, 4]


@pytest.mark.parametrize("val_model", ["task", "fitnet"])
def test_same_spec_same_picks_and_weights(digits_context, fresh_context, val_model):
    first, second = AutoAL(candidates=CANDIDATES, val_model=val_model), AutoAL(candidates=CANDIDATES,
                                                                                val_model=val_model)
    a = first.select(fresh_context, 12, rng(5))
    b = second.select(digits_context.__class__(**{**fresh_context.__dict__, "_cache": {}}), 12, rng(5))
    assert np.array_equal(a.indices, b.indices)
    assert a.extras["autoal_searchnet_grad_norm"] == b.extras["autoal_searchnet_grad_norm"]
    assert {k: v for k, v in a.extras.items() if "weight" in k} == {k: v for k, v in b.extras.items() if "weight" in k}


def test_extras_hold_weights_time_split_and_grad_norm(fresh_context):
    log = make_strategy("autoal", {"candidates": CANDIDATES}).select(fresh_context, 10, rng()).extras
    weights = [log[f"autoal_weight_{name}"] for name in CANDIDATES.split(",")]
    assert sum(weights) == pytest.approx(1.0, abs=1e-5)
    for key in ("autoal_candidate_seconds", "autoal_search_seconds", "autoal_query_seconds"):
        assert log[key] >= 0
    assert log["autoal_searchnet_grad_norm"] > 0


class Fixed:
    """A fake candidate that always picks the given pool indices."""

    def __init__(self, picks):
        self.picks = np.asarray(picks)

    def select(self, ctx, budget, generator):
        return Selection(self.picks[:budget])


def with_fixed_candidates(strategy, ctx):
    u = ctx.pool.unlabeled_indices()
    strategy.strategies = [Fixed(u[[0, 1, 2]]), Fixed(u[[1, 2, 3]]), Fixed(u[[2, 4, 5]])]
    return strategy, u


def test_vote_ranks_by_number_of_candidates(fresh_context):
    vote, u = with_fixed_candidates(Vote(candidates=CANDIDATES), fresh_context)
    assert list(vote.select(fresh_context, 2, rng()).indices) == [u[2], u[1]]
    third = {vote.select(fresh_context, 3, rng(s)).indices[2] for s in range(20)}
    assert third <= {u[0], u[3], u[4], u[5]} and len(third) > 1  # one-vote ties go to the seeded draw


def test_vote_random_stays_inside_the_candidates_picks(fresh_context):
    vote, u = with_fixed_candidates(VoteRandom(candidates=CANDIDATES), fresh_context)
    draws = [tuple(sorted(vote.select(fresh_context, 3, rng(s)).indices)) for s in range(10)]
    assert all(set(d) <= set(u[:6]) for d in draws)
    assert len(set(draws)) > 1


@pytest.mark.parametrize("use_loss_head", [True, False])
def test_loss_head_takes_part_in_the_final_score_only_when_on(fresh_context, use_loss_head):
    strategy = AutoAL(candidates=CANDIDATES, use_loss_head=use_loss_head)
    strategy.select(fresh_context, 10, rng())
    unlabeled = fresh_context.pool.unlabeled_indices()
    picks = strategy.pool_matrix(fresh_context, 10)
    outcome = strategy.last_search
    before, _ = strategy.final_scores(fresh_context, outcome, unlabeled, picks)
    with torch.no_grad():
        outcome.net.loss_head.out.weight.copy_(torch.randn_like(outcome.net.loss_head.out.weight))
    after, _ = strategy.final_scores(fresh_context, outcome, unlabeled, picks)
    assert torch.equal(before, after) is not use_loss_head


def test_bad_parameters_are_user_errors():
    from alscope_autoal.errors import UserError

    with pytest.raises(UserError, match="did you mean"):
        AutoAL(candidates="entropy,margn")
    with pytest.raises(UserError, match="temperature"):
        AutoAL(temperature=0)
    with pytest.raises(UserError, match="cannot be a candidate of AutoAL"):
        AutoAL(candidates="entropy,vote")


def test_per_strategy_margins_threshold_each_candidate_at_its_own_quantile():
    from alscope_autoal.strategies.autoal.candidates import quantile_margins

    # two candidates in different units and orders; a third that only picks (0/1), with ties
    raw = torch.tensor([[0.9, 10.0, 1.0], [0.1, 40.0, 0.0], [0.5, 20.0, 0.0], [0.7, 30.0, 1.0]])
    margins = quantile_margins(raw, fraction=0.5)
    assert torch.equal(margins[:, 0] > 0, torch.tensor([True, False, False, True]))
    assert torch.equal(margins[:, 1] > 0, torch.tensor([False, True, False, True]))
    assert torch.equal(margins[:, 2] > 0, torch.tensor([True, False, False, True]))
    assert margins[:, 2].unique().numel() == 2  # tied picks share one margin
    assert torch.allclose(margins[:, 0].sort().values, margins[:, 1].sort().values)  # units no longer matter
    assert margins[0, 0] > margins[3, 0] > 0  # a higher score lies further above the threshold


def test_per_strategy_mode_scores_each_candidate_once_per_round_and_is_deterministic(fresh_context):
    fresh_context.pool.label(fresh_context.pool.unlabeled_indices()[:60], 0)
    first = AutoAL(candidates=CANDIDATES, search_steps=12, thresholds="per-strategy")
    picked = first.select(fresh_context, 10, rng())
    assert first.calls == {name: 2 for name in CANDIDATES.split(",")}  # once on L_val, once on U
    first.select(fresh_context, 10, rng(1))
    assert first.calls == {name: 2 for name in CANDIDATES.split(",")}
    matrix = first.search_matrix(fresh_context, 10)
    assert matrix.shape == (len(fresh_context.pool.unlabeled_indices()), 3) and (matrix < 0).any()
    second = AutoAL(candidates=CANDIDATES, search_steps=12, thresholds="per-strategy")
    fresh_context._cache = {}
    again = second.select(fresh_context, 10, rng())
    assert np.array_equal(again.indices, picked.indices)
    assert picked.extras["autoal_searchnet_grad_norm"] == again.extras["autoal_searchnet_grad_norm"] > 0


def test_unknown_threshold_mode_is_a_user_error():
    from alscope_autoal.errors import UserError

    with pytest.raises(UserError, match="per-strategy"):
        AutoAL(thresholds="gmm")
