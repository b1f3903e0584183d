"""The candidate matrix: which samples each candidate strategy would pick (S_k in {0, 1}), computed once per round.

On the real pool the candidates see the round's context; during the search they see a context whose only
"unlabeled" samples are L_val (a small pool built from the labeled set alone: L_fit labeled, L_val unlabeled),
so they pick among L_val exactly as they would pick among U. Neither matrix depends on SearchNet, so both are
computed once per round and reused by every search step and by the final query (the released code recomputed
every candidate in each of hundreds of inner steps).
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
import torch
from scipy.stats import rankdata

from ...errors import UserError
from ...pool import LabelState
from ...roles import SELECTORS
from ...seeds import derive_seed
from ..base import QueryContext, ScoreStrategy, select_or_all

THRESHOLDS = ("shared", "per-strategy")

# The AutoAL paper's seven candidates, in the paper's order; ablation subsets take the first k.
PAPER_CANDIDATES = ("entropy", "margin", "least-confidence", "kmeans", "bald", "var-ratio", "mean-std")



def parse_candidates(candidates: str | Sequence[str] | None, minimum: int = 1,
                     who: str = "AutoAL") -> tuple[str, ...]:
    """A comma-separated string or a sequence of registered strategy names; None: the paper's seven.
    `minimum`: the fewest candidates `who` (the strategy asking, for the error message) can work with."""
    from .. import STRATEGIES

    if candidates is None:
        return PAPER_CANDIDATES
    names = tuple(c.strip() for c in candidates.split(",")) if isinstance(candidates, str) else tuple(candidates)
    names = tuple(n for n in names if n)
    if len(names) < minimum:
        raise UserError(f"{who} needs at least {minimum} candidate strategies, got {len(names)} "
                        f"({','.join(names) or 'none'}); e.g. candidates=entropy,margin,kmeans")
    if len(set(names)) != len(names):
        raise UserError(f"{who} candidates must be distinct, got {','.join(names)}")
    bad = set(SELECTORS) & set(names)
    if bad:
        raise UserError(f"{', '.join(sorted(bad))} cannot be a candidate of {who}; use single strategies")
    for name in names:
        STRATEGIES.check(name)
    return names


def build_candidates(names: Sequence[str], params: dict[str, dict[str, Any]] | None = None) -> list:
    from .. import make_strategy

    return [make_strategy(name, (params or {}).get(name)) for name in names]


def pick_matrix(ctx: QueryContext, strategies: Sequence, names: Sequence[str], budget: int, seed: int,
                counter: dict[str, int] | None = None) -> torch.Tensor:
    """(n_unlabeled, K) 0/1 matrix over `ctx.pool.unlabeled_indices()` (in that order): column k marks the
    `budget` samples candidate k selects. Each candidate draws its tie-breaks from its own seeded stream."""
    unlabeled = ctx.pool.unlabeled_indices()
    position = np.full(len(ctx.pool), -1)
    position[unlabeled] = np.arange(len(unlabeled))
    matrix = torch.zeros(len(unlabeled), len(strategies))
    for k, (name, strategy) in enumerate(zip(names, strategies)):
        own = np.random.default_rng(derive_seed(seed, "candidate", name))
        picks = np.asarray(select_or_all(strategy, ctx, budget, own).indices)
        matrix[torch.as_tensor(position[picks]), k] = 1.0
        if counter is not None:
            counter[name] = counter.get(name, 0) + 1
    return matrix


def quantile_margins(raw: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per-strategy thresholds: column k becomes F_k(x) - (1 - fraction), with F_k the empirical CDF of
    candidate k's own score over the set (mid-ranks, ties averaged). A sample is positive exactly when it lies
    above that candidate's (1 - fraction) quantile, its own threshold, and the margins of candidates whose
    scores have different units (entropy in nats, a margin in probability) become comparable."""
    n = raw.shape[0]
    ranks = rankdata(raw.double().numpy(), method="average", axis=0)
    return torch.from_numpy((ranks - 0.5) / n - (1 - fraction)).float()


def margin_matrix(ctx: QueryContext, strategies: Sequence, names: Sequence[str], budget: int, seed: int,
                  counter: dict[str, int] | None = None) -> torch.Tensor:
    """(n_unlabeled, K) per-strategy margins over `ctx.pool.unlabeled_indices()`: a scoring candidate
    contributes its continuous score, a candidate that only selects (k-means) its 0/1 picks; every column is
    then thresholded at its own (1 - budget / n) quantile (`quantile_margins`)."""
    unlabeled = ctx.pool.unlabeled_indices()
    columns = []
    for name, strategy in zip(names, strategies):
        if isinstance(strategy, ScoreStrategy):
            columns.append(strategy.scores(ctx, unlabeled).float().cpu())
            if counter is not None:
                counter[name] = counter.get(name, 0) + 1
        else:
            columns.append(pick_matrix(ctx, [strategy], [name], budget, seed, counter)[:, 0])
    return quantile_margins(torch.stack(columns, 1), budget / max(len(unlabeled), 1))


def candidate_matrix(thresholds: str, ctx: QueryContext, strategies: Sequence, names: Sequence[str], budget: int,
                     seed: int, counter: dict[str, int] | None = None) -> torch.Tensor:
    """The candidates' view of the pool that SearchNet weighs: 0/1 picks under one shared threshold (the
    paper's S_k), or continuous margins above per-strategy thresholds."""
    build = pick_matrix if thresholds == "shared" else margin_matrix
    return build(ctx, strategies, names, budget, seed, counter)


def simulated_context(ctx: QueryContext, fit: np.ndarray, val: np.ndarray) -> tuple[QueryContext, np.ndarray]:
    """A context over the labeled set only, in which L_fit is labeled and L_val is the unlabeled pool.

    Returns it with the real pool indices of its samples (its positions index into them). It holds no
    unlabeled pool sample, so no candidate can read a label it should not.
    """
    members = np.sort(np.concatenate([fit, val]))
    pool = LabelState(len(members))
    pool.label(np.searchsorted(members, np.sort(fit)), 0)
    index = torch.as_tensor(members, device=ctx.x.device)
    sub = QueryContext(ctx.model, pool, ctx.x[index], ctx.y[torch.as_tensor(members)], ctx.spec, ctx.profile,
                       ctx.device, ctx.round, ctx.seed)
    return sub, members


class RoundCache:
    """Keeps one round's candidate matrices, keyed by the round, the pool state and the budget."""

    def __init__(self):
        self._key: tuple | None = None
        self._store: dict[str, Any] = {}

    def get(self, ctx: QueryContext, budget: int, name: str, compute) -> Any:
        key = (ctx.round, ctx.seed, hashlib.sha1(ctx.pool.labeled_round.tobytes()).hexdigest())
        if key != self._key:
            self._key, self._store = key, {}
        if (name, budget) not in self._store:
            self._store[name, budget] = compute()
        return self._store[name, budget]
