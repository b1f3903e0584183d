"""Rival selectors: strategies that choose among AutoAL's candidate strategies round by round.

`albl` (Hsu & Lin, AAAI 2015) learns which candidate to follow with the EXP4.P bandit and an importance-weighted
accuracy reward; `tailor` (Zhang et al., NeurIPS 2023) with Thompson sampling on a class-diversity reward; `tcm`
(Doucet et al. 2024) switches from TypiClust to margin once the labeled set stops being small.

The loop builds a strategy once per job, so `albl` and `tailor` carry their bandit state across rounds. Each
learns from a batch once: at the first select() after that batch was labeled. A repeated select() on the same
pool state (same round, same labels) learns nothing new and, given the same generator, returns the same picks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import UserError
from ..seeds import derive_seed
from .autoal.candidates import RoundCache, build_candidates, parse_candidates
from .base import QueryContext, Selection, select_or_all, top_k


def pool_state(ctx: QueryContext) -> tuple:
    """What identifies one query situation of a job: the round, the strategy seed and who is labeled when."""
    return ctx.round, ctx.seed, hashlib.sha1(ctx.pool.labeled_round.tobytes()).hexdigest()


@dataclass
class QueriedBatch:
    """A batch a selector queried, kept until its labels are revealed. `details`: what the selector needs to
    learn from it (per-sample arrays follow the order of `indices`). It keeps the loop's pool indices
    (`QueryContext.pool_ids`): a later round may show the strategy another part of the pool (--subsample)."""

    round: int
    indices: np.ndarray
    details: dict[str, np.ndarray]


class CandidateSelector:
    """Shared by `albl` and `tailor`: the candidates, their proposals (once per pool state) and the rule that a
    queried batch is learned from exactly once, when its labels are revealed."""

    who = "selector"

    def __init__(self, candidates: str | Sequence[str] | None, candidate_params: dict | None):
        self.candidates = parse_candidates(candidates, minimum=2, who=self.who)
        self.strategies = build_candidates(self.candidates, candidate_params)
        self.pending: QueriedBatch | None = None  # the last batch queried, until it is learned from
        self.learned: dict[str, float] = {}  # what the learn step of the current pool state logged
        self._learned_state: tuple | None = None
        self._cache = RoundCache()

    def proposals(self, ctx: QueryContext, budget: int) -> list[np.ndarray]:
        """Each candidate's `budget` picks in the order it returns them, from its own seeded stream; computed
        once per pool state and budget."""
        def compute() -> list[np.ndarray]:
            return [np.asarray(select_or_all(strategy, ctx, budget, np.random.default_rng(
                derive_seed(ctx.seed, self.who, name, ctx.round))).indices, dtype=np.int64)
                for name, strategy in zip(self.candidates, self.strategies)]

        return self._cache.get(ctx, budget, "proposals", compute)

    def learn_once(self, ctx: QueryContext) -> None:
        """Learn from the pending batch if this pool state is new and the batch has been labeled since."""
        state = pool_state(ctx)
        if state == self._learned_state:
            return
        self._learned_state, self.learned = state, {}
        batch = self.pending
        rows = None if batch is None or batch.round >= ctx.round else ctx.positions(batch.indices)
        if rows is not None and ctx.pool.labeled_mask[rows].all():
            self.pending = None
            self.learned = self.learn(ctx, dataclasses.replace(batch, indices=rows))

    def learn(self, ctx: QueryContext, batch: QueriedBatch) -> dict[str, float]:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------------- ALBL

def expert_probabilities(log_weights: np.ndarray, p_min: float) -> np.ndarray:
    """EXP4.P's probability of following each expert: (1 - N p_min) w_k / W + p_min, so each keeps p_min."""
    w = np.exp(log_weights - log_weights.max())
    return (1 - len(w) * p_min) * w / w.sum() + p_min


def exp4p_update(log_weights: np.ndarray, p: np.ndarray, advice: np.ndarray, q: np.ndarray, reward: float,
                 p_min: float, delta: float, horizon: int) -> np.ndarray:
    """EXP4.P's weight update (Beygelzimer et al. 2011) for one batch of b draws that shared the query
    distribution q and the reward. advice: (b, N) each expert's advice at the drawn samples; q: (b,) q there;
    horizon: T in draws. Each draw is one trial, so the b updates add up to b times the batch mean of
    r_hat_k = advice_k(x) r / q(x), plus the confidence term sqrt(ln(N / delta) / (N T)) / p_k."""
    n_experts, draws = len(p), len(q)
    estimate = (advice * (reward / q)[:, None]).mean(0)
    confidence = math.sqrt(math.log(n_experts / delta) / (n_experts * horizon)) / p
    return log_weights + draws * p_min / 2 * (estimate + confidence)


def iw_accuracy(correct: np.ndarray, inverse_q: np.ndarray, pool_size: int, horizon: int) -> float:
    """IW-ACC (Hsu & Lin 2015): sum of [correct] / q(x) over the queried samples, divided by n T."""
    return float((correct * inverse_q).sum() / (pool_size * horizon))


def gumbel_top(q: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k positions drawn from q one after another without replacement: the top k of log q + Gumbel noise has
    exactly that distribution, and one seeded draw serves the whole batch."""
    noise = -np.log(-np.log(np.clip(rng.random(len(q)), 1e-300, 1.0 - 1e-16)))
    return top_k(np.log(q) + noise, k, rng)


class ALBL(CandidateSelector):
    """Active Learning by Learning (Hsu & Lin, AAAI 2015): EXP4.P with the candidates and uniform random as
    experts, rewarded with the importance-weighted accuracy of the task model on what it queried.

    As in the authors' implementation (libact), every expert, random included, is followed with probability at
    least p_min: p_k = (1 - N p_min) w_k / W + p_min over the N = K + 1 experts.

    Batch adaptations (the paper queries one sample per model update):
    - expert k's advice over U is uniform over the b samples it would select (`candidate.select(ctx, b)` on its
      own seeded stream); the random expert's is uniform over U. The query distribution is
      q(x) = sum_k p_k advice_k(x), a distribution over U in which every sample keeps q(x) >= p_min / |U|;
    - the b samples are drawn from q one after another without replacement (seeded), and each keeps the
      round's q(x) as its probability;
    - the reward, computed at the next round's select, is IW-ACC: the round's task model (trained after that
      batch was labeled) scored on every sample albl has queried, each weighted 1 / q(x), divided by n T
      (n = pool size, T the horizon in labels), then clipped to [0, 1] as EXP4.P assumes;
    - each of the b draws is one EXP4.P trial, so T = `horizon` rounds x b labels, as the paper's T is its
      label budget, and the batch's update is b times the update with the batch mean of advice_k(x) r / q(x).

    p_min defaults to EXP4.P's sqrt(ln N / (N T)) (libact's default), at most 1 / N; delta to 0.1 (libact's).
    horizon: the number of query rounds the bandit plans for; default: the job's round count (its --rounds).
    """

    who = "albl"

    def __init__(self, candidates: str | Sequence[str] | None = None, candidate_params: dict | None = None,
                 p_min: float | None = None, delta: float = 0.1, horizon: int | None = None):
        super().__init__(candidates, candidate_params)
        n_experts = len(self.candidates) + 1
        if p_min is not None and not 0 < p_min <= 1 / n_experts:
            raise UserError(f"albl needs 0 < p_min <= 1 / {n_experts} (1 / the number of experts, the candidates "
                            f"and random), got {p_min}")
        if not 0 < delta < 1:
            raise UserError(f"albl needs 0 < delta < 1, got {delta}")
        if horizon is not None and (not isinstance(horizon, int) or horizon < 1):
            raise UserError(f"albl horizon is a number of query rounds >= 1, got {horizon!r}")
        self.p_min, self.delta, self.horizon = p_min, delta, horizon
        self.log_weights = np.zeros(n_experts)  # the last expert is uniform random
        self.horizon_labels: int | None = None  # T, fixed at the first select
        self.queried: list[np.ndarray] = []  # every sample albl has queried whose label is revealed
        self.inverse_q: list[np.ndarray] = []  # and 1 / q(x) of its round

    def plan(self, ctx: QueryContext, budget: int) -> None:
        """Fix T (and the default p_min) at the first select: T = horizon rounds x the batch size."""
        if self.horizon_labels is None:
            rounds = self.horizon or ctx.rounds or ctx.profile.budget.rounds
            self.horizon_labels = rounds * max(budget, 1)
        if self.p_min is None:
            n_experts = len(self.log_weights)
            self.p_min = min(math.sqrt(math.log(n_experts) / (n_experts * self.horizon_labels)), 1 / n_experts)

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        self.plan(ctx, budget)
        self.learn_once(ctx)
        p = expert_probabilities(self.log_weights, self.p_min)
        unlabeled = ctx.pool.unlabeled_indices()
        advice = self.advice(ctx, budget, unlabeled)
        q = advice @ p
        drawn = gumbel_top(q, budget, rng)
        self.pending = QueriedBatch(ctx.round, ctx.pool_ids(unlabeled[drawn]),
                                    {"q": q[drawn], "advice": advice[drawn], "p": p})
        return Selection(unlabeled[drawn], self.log(p))

    def advice(self, ctx: QueryContext, budget: int, unlabeled: np.ndarray) -> np.ndarray:
        """(|U|, N) advice over U: each candidate uniform over its picks, random uniform over U."""
        position = np.full(len(ctx.pool), -1)
        position[unlabeled] = np.arange(len(unlabeled))
        advice = np.zeros((len(unlabeled), len(self.log_weights)))
        for k, picks in enumerate(self.proposals(ctx, budget)):
            advice[position[picks], k] = 1 / len(picks)
        advice[:, -1] = 1 / len(unlabeled)
        return advice

    def learn(self, ctx: QueryContext, batch: QueriedBatch) -> dict[str, float]:
        self.queried.append(ctx.pool_ids(batch.indices))
        self.inverse_q.append(1 / batch.details["q"])
        queried = ctx.positions(np.concatenate(self.queried))  # all labeled, so in every later round's context
        predicted = ctx.probs(queried).argmax(1).numpy()
        correct = (predicted == ctx.labeled_targets(queried).numpy()).astype(float)
        reward = iw_accuracy(correct, np.concatenate(self.inverse_q), len(ctx.pool), self.horizon_labels)
        self.log_weights = exp4p_update(self.log_weights, batch.details["p"], batch.details["advice"],
                                        batch.details["q"], min(reward, 1.0), self.p_min, self.delta,
                                        self.horizon_labels)
        return {"albl_reward": reward}

    def log(self, p: np.ndarray) -> dict[str, float]:
        return {**{f"autoal_weight_{name}": float(share) for name, share in zip(self.candidates, p)},
                "albl_random_weight": float(p[-1]), "albl_reward": self.learned.get("albl_reward", math.nan),
                "albl_p_min": float(self.p_min)}


# -------------------------------------------------------------------------------------------------------- TAILOR

def class_weights(labeled_counts: np.ndarray) -> np.ndarray:
    """TAILOR's class-diversity reward weights: v_c = 1 / max(1, N_c), N_c the labeled count of class c."""
    return 1.0 / np.maximum(1, labeled_counts)


def next_proposal(ranked: np.ndarray, cursor: list[int], k: int, taken: set[int]) -> int | None:
    """Candidate k's next proposal not yet in the batch (advancing its cursor), or None when it has run out."""
    while cursor[k] < len(ranked):
        index = int(ranked[cursor[k]])
        cursor[k] += 1
        if index not in taken:
            return index
    return None


def thompson_batch(proposals: list[np.ndarray], alpha: np.ndarray, beta: np.ndarray, v: np.ndarray, budget: int,
                   rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Fill up to `budget` slots: per slot draw theta_k ~ Beta(alpha_k, beta_k) per class, and the candidate with
    the largest <v, theta_k> that still has a proposal supplies its next one. Returns (indices, candidate of
    each); fewer than `budget` when every candidate has run out."""
    cursor, taken, picked, source = [0] * len(proposals), set(), [], []
    for _ in range(budget):
        expected = rng.beta(alpha, beta) @ v
        for k in np.argsort(-expected, kind="stable"):
            index = next_proposal(proposals[k], cursor, int(k), taken)
            if index is not None:
                taken.add(index)
                picked.append(index)
                source.append(int(k))
                break
        else:
            break
    return picked, source


class TAILOR(CandidateSelector):
    """TAILOR (Zhang et al., NeurIPS 2023, "Algorithm selection for deep active learning with imbalanced
    datasets"): Thompson sampling over the candidates with the class-diversity reward.

    Each candidate k has a Beta(alpha[k, c], beta[k, c]) posterior (prior Beta(1, 1)) on the chance that a sample
    it proposes has class c. The round's reward weights are v_c = 1 / max(1, N_c), N_c the labeled count of
    known class c, so a candidate is worth <v, theta_k>: how likely it is to bring a rare class.

    Batch adaptations: each candidate's ranked proposal list is its `select(ctx, b)` order (own seeded stream).
    The batch is built slot by slot: draw theta from every posterior, the candidate with the largest <v, theta_k>
    supplies its next proposal not yet in the batch; a candidate whose list has run out passes the slot to the
    next best; if all have run out, the remaining slots are uniform random over U (seeded). Posteriors learn
    when labels are revealed: at the next round's select, each sample of the batch adds 1 to alpha[k, y] and 1
    to beta[k, c] for every other class c of the candidate k that proposed it (an unknown-class sample of an
    open-set pool adds 1 to beta of every class); random fills teach nothing.
    """

    who = "tailor"

    def __init__(self, candidates: str | Sequence[str] | None = None, candidate_params: dict | None = None):
        super().__init__(candidates, candidate_params)
        self.alpha: np.ndarray | None = None  # (K, C), set at the first select when C is known
        self.beta: np.ndarray | None = None

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        if self.alpha is None:
            self.alpha = np.ones((len(self.candidates), ctx.n_classes))
            self.beta = np.ones((len(self.candidates), ctx.n_classes))
        self.learn_once(ctx)
        unlabeled = ctx.pool.unlabeled_indices()
        v = class_weights(self.labeled_counts(ctx))
        picked, source = thompson_batch(self.proposals(ctx, budget), self.alpha, self.beta, v, budget, rng)
        fill = rng.choice(np.setdiff1d(unlabeled, picked), budget - len(picked), replace=False)
        indices = np.concatenate([np.asarray(picked, dtype=np.int64), fill.astype(np.int64)])
        self.pending = QueriedBatch(ctx.round, ctx.pool_ids(indices[:len(picked)]), {"source": np.asarray(source)})
        return Selection(indices, self.log(v, source, budget))

    @staticmethod
    def labeled_counts(ctx: QueryContext) -> np.ndarray:
        labels = ctx.labeled_targets(ctx.pool.trainable_indices()).numpy()
        return np.bincount(labels[labels >= 0], minlength=ctx.n_classes)

    def learn(self, ctx: QueryContext, batch: QueriedBatch) -> dict[str, float]:
        labels = ctx.labeled_targets(batch.indices).numpy()
        for k, y in zip(batch.details["source"], labels):
            hit = np.arange(self.alpha.shape[1]) == y  # all False for an unknown class (-1)
            self.alpha[k] += hit
            self.beta[k] += ~hit
        return {"tailor_updates": float(len(labels))}

    def log(self, v: np.ndarray, source: list[int], budget: int) -> dict[str, float]:
        supplied = np.bincount(np.asarray(source, dtype=np.int64), minlength=len(self.candidates)) / max(budget, 1)
        expected = (self.alpha / (self.alpha + self.beta)) @ v
        return {**{f"autoal_weight_{name}": float(share) for name, share in zip(self.candidates, supplied)},
                **{f"tailor_expected_reward_{name}": float(e) for name, e in zip(self.candidates, expected)},
                "tailor_random_fill": float((budget - len(source)) / max(budget, 1)),
                "tailor_updates": self.learned.get("tailor_updates", 0.0)}


# ----------------------------------------------------------------------------------------------------------- TCM

class TCM:
    """TCM (Doucet, Estermann, Aczel & Wattenhofer 2024, "Bridging diversity and uncertainty in active learning
    with self-supervised pre-training"): TypiClust while the labeled set is small, margin after.

    The switch: TypiClust while the known-class labels number fewer than `switch_labels_per_class` x C, margin
    from then on. Default 10 per class: the low-budget regime in which TypiClust (Hacohen et al. 2022) reports
    its gains spans a few to about ten labels per class; TCM moves the switch earlier when features come from
    self-supervised pre-training, which this suite's task-model embeddings do not, so the default errs late.
    typiclust_params: parameters of the TypiClust phase (see `typiclust`).
    """

    def __init__(self, switch_labels_per_class: float = 10, typiclust_params: dict[str, Any] | None = None):
        from . import make_strategy

        if isinstance(switch_labels_per_class, bool) or not isinstance(switch_labels_per_class, (int, float)) \
                or not switch_labels_per_class >= 0:
            raise UserError(f"tcm switch_labels_per_class must be a number >= 0, got {switch_labels_per_class!r}")
        self.switch_labels_per_class = switch_labels_per_class
        self.typiclust = make_strategy("typiclust", typiclust_params)
        self.margin = make_strategy("margin")

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        per_class = len(ctx.pool.trainable_indices()) / ctx.n_classes
        low_budget = per_class < self.switch_labels_per_class
        phase = (self.typiclust if low_budget else self.margin).select(ctx, budget, rng)
        return Selection(phase.indices, {**phase.extras, "tcm_typiclust": float(low_budget),
                                         "tcm_labels_per_class": float(per_class)})
