"""The look-ahead `oracle` (after BoSS, Huseljic et al., 2026): a ceiling for choosing among strategies.

Each round it draws M batches of b pool samples: one from each candidate strategy, then uniformly random ones.
For each batch it trains a fresh task model on the labeled set plus that batch with the batch's TRUE labels, scores
the model on labeled data no model trained on, and queries the batch that scored best. By default that scoring set
is the rest of the pool: every unlabeled known-class sample in none of the M batches, the same set for every batch
of the round, drawn anew each round, so nothing is carved out of the pool the candidates pick from. A fixed
held-out split of the pool, set aside once per job and never queried, is the alternative (`holdout=N`). It reads labels nobody
paid for (every batch's, and the held-out split's), so it shows what a perfect choice among these batches would
gain; it is never ranked among strategies (`alscope_autoal.roles.ORACLES`).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import UserError
from ..seeds import derive_seed
from ..training import forward_pool, train_model
from .autoal.candidates import build_candidates, parse_candidates
from .base import QueryContext, Selection, select_or_all

RANDOM_SOURCE = "random"  # the source of the batches drawn uniformly from the pool
REST_OF_POOL = "rest"  # holdout value: score on the unlabeled samples in none of the round's batches


def whole_number(name: str, value: Any, minimum: int, alternative: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"oracle {name} must be {alternative}a whole number of at least {minimum}, got {value!r}")
    return value


def pool_without(ctx: QueryContext, excluded: np.ndarray) -> tuple[QueryContext, np.ndarray]:
    """The round's context with the `excluded` samples taken out of the pool, and the real pool index of each
    sample it keeps. Candidates pick from it exactly as from the real pool (same model, labeled set and seeds)
    but cannot pick, count or cluster an excluded sample."""
    members = np.setdiff1d(np.arange(len(ctx.pool)), excluded)
    return ctx.view(members), members


class Oracle:
    """Look-ahead selection among candidate batches with unpaid labels; see the module docstring.

    candidates: the strategies that propose a batch each (default: AutoAL's seven); candidate_params: their
    parameters, {name: {key: value}}. batches (M): how many batches are compared, the candidates' first, then
    random ones (default: one per candidate plus one random). holdout: what the retrained models are scored on:
    "rest" (the round's unlabeled known-class samples in none of its batches) or a number N of known-class pool
    samples set aside once per job (seeded), never queried nor shown to the candidates. retrain_epochs, retrain_min_steps:
    a cheaper schedule for the look-ahead models (None: the profile's, so the winning batch's model is the one
    the loop trains next).
    """

    def __init__(self, candidates: str | Sequence[str] | None = None, candidate_params: dict | None = None,
                 batches: int | None = None, holdout: int | str = REST_OF_POOL, retrain_epochs: int | None = None,
                 retrain_min_steps: int | None = None):
        self.candidates = parse_candidates(candidates, minimum=1, who="oracle")
        self.strategies = build_candidates(self.candidates, candidate_params)
        self.batches = whole_number("batches", len(self.candidates) + 1 if batches is None else batches, 1)
        self.holdout_size = (None if holdout == REST_OF_POOL
                             else whole_number("holdout", holdout, 1, alternative=f'"{REST_OF_POOL}" or '))
        schedule = {"epochs": retrain_epochs, "min_steps": retrain_min_steps}
        self.schedule = {key: whole_number(f"retrain_{key}", value, 0)
                         for key, value in schedule.items() if value is not None}
        self._holdout: np.ndarray | None = None
        self._holdout_job: tuple | None = None

    def reserved_pool(self) -> int:
        """Pool samples this strategy sets aside and never queries (bench checks the pool can spare them)."""
        return self.holdout_size or 0

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        """`rng` is not used: every draw comes from streams seeded by the job and the round, so repeated calls
        for one round give the same picks."""
        held_out = self.holdout(ctx, budget) if self.holdout_size else np.empty(0, dtype=np.int64)
        batches, sources = self.draw_batches(ctx, held_out, budget)
        scored_on = held_out if self.holdout_size else self.rest_of_pool(ctx, batches)
        t0 = time.perf_counter()
        if len(scored_on):
            scores = self.score_batches(ctx, batches, scored_on)
        else:  # nothing left to judge on (see rest_of_pool): the first batch, and the row says it was not judged
            scores = [(float("nan"), float("nan")), *[(float("-inf"), float("-inf"))] * (len(batches) - 1)]
        best = max(range(len(batches)), key=lambda i: scores[i])  # the first of equal scores: deterministic
        return Selection(batches[best], {
            "oracle_best_batch": best,
            **{f"autoal_weight_{name}": float(sources[best] == name) for name in self.candidates},
            "oracle_holdout_accuracy": scores[best][0],
            "oracle_holdout_size": len(scored_on),
            "oracle_retrain_seconds": time.perf_counter() - t0,
        })

    def holdout(self, ctx: QueryContext, budget: int) -> np.ndarray:
        """The held-out split, drawn at the job's first select (seeded by the job), minus any sample labeled since."""
        job = (ctx.seed, len(ctx.pool))
        if self._holdout is None or self._holdout_job != job:
            self._holdout, self._holdout_job = self.draw_holdout(ctx), job
        holdout = self._holdout[~ctx.pool.labeled_mask[self._holdout]]
        left = len(ctx.pool.unlabeled_indices()) - len(holdout)
        if left < budget:
            raise UserError(f"oracle: with its {len(holdout)} held-out samples set aside the pool keeps {left} "
                            f"unlabeled samples, fewer than the batch of {budget}; lower oracle.holdout")
        return holdout

    @staticmethod
    def rest_of_pool(ctx: QueryContext, batches: list[np.ndarray]) -> np.ndarray:
        """The unlabeled known-class samples in none of the batches: labeled data no look-ahead model trained on,
        the same for every batch of the round. Scoring each model on everything outside its own batch instead
        would favour batches of hard samples: their model would be spared those samples while every other model
        is scored on them. Empty when the batches cover the whole pool (a budget that empties it): the oracle
        then takes the first batch unjudged, and its row records a held-out size of 0."""
        rest = np.setdiff1d(ctx.pool.unlabeled_indices(), np.concatenate(batches))
        return rest[~ctx.pool.is_unknown[rest]]

    def draw_holdout(self, ctx: QueryContext) -> np.ndarray:
        known = ctx.pool.unlabeled_indices()
        known = known[~ctx.pool.is_unknown[known]]
        if len(known) < self.holdout_size:
            raise UserError(f"oracle holdout={self.holdout_size} is larger than the {len(known)} unlabeled samples "
                            "of known classes; lower oracle.holdout")
        draw = np.random.default_rng(derive_seed(ctx.seed, "oracle-holdout"))
        return np.sort(draw.choice(known, self.holdout_size, replace=False))

    def draw_batches(self, ctx: QueryContext, holdout: np.ndarray, budget: int) -> tuple[list[np.ndarray], list[str]]:
        """M batches in real pool indices, none touching the held-out split, and the source of each."""
        view, members = pool_without(ctx, holdout) if len(holdout) else (ctx, np.arange(len(ctx.pool)))
        batches, sources = [], []
        for name, strategy in list(zip(self.candidates, self.strategies))[:self.batches]:
            own = np.random.default_rng(derive_seed(ctx.seed, "oracle-candidate", name, ctx.round))
            batches.append(members[np.asarray(select_or_all(strategy, view, budget, own).indices, dtype=np.int64)])
            sources.append(name)
        selectable = view.pool.unlabeled_indices()
        for m in range(len(batches), self.batches):
            draw = np.random.default_rng(derive_seed(ctx.seed, "oracle-random", ctx.round, m))
            batches.append(members[draw.choice(selectable, budget, replace=False)])
            sources.append(RANDOM_SOURCE)
        return batches, sources

    def score_batches(self, ctx: QueryContext, batches: list[np.ndarray], holdout: np.ndarray
                      ) -> list[tuple[float, float]]:
        """(held-out accuracy, minus mean cross-entropy) per batch: higher is better. Every model trains with the
        same seed, so equal batches score the same and each distinct batch is trained once."""
        seen: dict[bytes, tuple[float, float]] = {}
        scores = []
        for batch in batches:
            key = np.sort(batch).tobytes()
            if key not in seen:
                seen[key] = self.score_batch(ctx, batch, holdout)
            scores.append(seen[key])
        return scores

    def score_batch(self, ctx: QueryContext, batch: np.ndarray, holdout: np.ndarray) -> tuple[float, float]:
        model = train_model(*self.training_set(ctx, batch), ctx.spec, ctx.profile.with_(**self.schedule),
                            self.model_seed(ctx), ctx.device)
        logits, _ = forward_pool(model, ctx.x[torch.as_tensor(holdout, device=ctx.x.device)], ctx.spec, ctx.device,
                                 ctx.profile.eval_batch_size)
        truth = ctx.oracle_targets(holdout)
        accuracy = float((logits.argmax(1) == truth).float().mean())
        return accuracy, -float(F.cross_entropy(logits, truth))

    @staticmethod
    def training_set(ctx: QueryContext, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The labeled samples plus the batch's known-class samples, in pool order as the loop trains on them;
        labels of the batch come from the oracle."""
        new = batch[~ctx.pool.is_unknown[batch]]
        train = np.sort(np.concatenate([ctx.pool.trainable_indices(), new]))
        paid = ctx.pool.labeled_mask[train]
        targets = torch.empty(len(train), dtype=ctx.y.dtype)
        targets[torch.as_tensor(paid)] = ctx.labeled_targets(train[paid])
        targets[torch.as_tensor(~paid)] = ctx.oracle_targets(train[~paid])
        return ctx.x[torch.as_tensor(train, device=ctx.x.device)], targets

    @staticmethod
    def model_seed(ctx: QueryContext) -> int:
        """The seed the loop trains the next model with, so that the look-ahead models are the loop's own."""
        if ctx.next_model_seed is not None:
            return ctx.next_model_seed
        return derive_seed(ctx.seed, "oracle-model", ctx.round)
