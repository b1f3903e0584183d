"""Diversity (representativeness) strategies on the penultimate embeddings: embedding k-means and core-set.

All of them work through `chunked`, so their extra memory is O(N) vectors plus one 16 MiB distance block,
independent of the pool size; they never hold an N x N or N x k matrix.
"""

from __future__ import annotations

import numpy as np

from .base import QueryContext, Selection
from .chunked import closest_member_per_cluster, euclidean_distance_to, k_center_greedy, kmeans, nearest


def fill_up(picked: np.ndarray, n: int, k: int, rng: np.random.Generator, allowed: np.ndarray | None = None
            ) -> np.ndarray:
    """Top up `picked` to k distinct positions with uniform draws from `allowed` (default: all n); used only in
    degenerate cases (empty clusters, a fully covered pool)."""
    if len(picked) >= k:
        return picked[:k]
    rest = np.setdiff1d(np.arange(n) if allowed is None else allowed, picked)
    return np.concatenate([picked, rng.choice(rest, k - len(picked), replace=False)])


class KMeansSampling:
    """Embedding k-means (as in DeepAL/AutoAL's KMeansSampling): cluster the unlabeled embeddings into `budget`
    clusters (k-means++ seeding, then Lloyd iterations) and query, per cluster, the sample nearest its centre."""

    def __init__(self, iters: int = 10):
        self.iters = iters

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        x = ctx.embeddings(candidates).float().to(ctx.device)
        _, assign, dist = kmeans(x, budget, rng, self.iters)
        picked = closest_member_per_cluster(assign, dist, budget)
        return Selection(candidates[fill_up(picked, len(candidates), budget, rng)])


class CoreSet:
    """Core-set by k-center greedy (Sener & Savarese 2018): repeatedly query the unlabeled sample farthest (in
    embedding space) from the labeled set and everything queried so far."""

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        x = ctx.embeddings(candidates).float().to(ctx.device)
        covered = ctx.embeddings(ctx.pool.labeled_indices()).float().to(ctx.device)
        min_dist, _ = nearest(x, covered)
        return Selection(candidates[k_center_greedy(euclidean_distance_to(x), min_dist, budget, rng)])
