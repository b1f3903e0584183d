"""Low-budget strategies that cover the embedding space with typical samples: TypiClust and ProbCover.

Both papers use self-supervised features; here they read the task model's penultimate embeddings, L2-normalised
as the papers' features are. The whole pool (labeled and unlabeled) defines the clusters and the coverage graph.
Memory is O(N) vectors plus one chunk of CHUNK_ELEMENTS distances (see `chunked`); the coverage graph of
ProbCover is never stored, its degrees are updated chunk by chunk as points become covered.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import QueryContext, Selection
from .chunked import (count_within, euclidean_distance_to, kmeans, knn_mean_distance, nearest, nearest_other_label,
                      sq_norms)
from .diversity import fill_up


def unit_embeddings(ctx: QueryContext) -> torch.Tensor:
    """The pool's embeddings scaled to unit length: one new N x d tensor (the division), no other copy."""
    z = ctx.pool_embeddings().to(ctx.device, torch.float32)
    return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)


class TypiClust:
    """TypiClust (Hacohen, Dekel & Weinshall 2022): k-means into |L| + B clusters (at most `max_clusters`),
    visit clusters with the fewest labeled points first (larger first among equals, clusters of at most
    `min_cluster_size` points skipped) and take each one's most typical unlabeled point, typicality being the
    inverse mean distance to its `knn` nearest neighbours inside the cluster."""

    def __init__(self, max_clusters: int = 500, min_cluster_size: int = 5, knn: int = 20, iters: int = 10):
        self.max_clusters, self.min_cluster_size, self.knn, self.iters = max_clusters, min_cluster_size, knn, iters

    def cluster_order(self, assign: np.ndarray, labeled: np.ndarray, k: int) -> np.ndarray:
        sizes = np.bincount(assign, minlength=k)
        labeled_counts = np.bincount(assign[labeled], minlength=k)
        eligible = np.flatnonzero(sizes > self.min_cluster_size)
        eligible = eligible if len(eligible) else np.flatnonzero(sizes > 0)
        return eligible[np.lexsort((-sizes[eligible], labeled_counts[eligible]))]

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        unlabeled = ctx.pool.unlabeled_indices()
        z = unit_embeddings(ctx)
        k = min(len(ctx.pool.labeled_indices()) + budget, self.max_clusters, len(z))
        _, assign, _ = kmeans(z, k, rng, self.iters)
        assign = assign.cpu().numpy()
        order = self.cluster_order(assign, ctx.pool.labeled_indices(), k)
        free = ~ctx.pool.labeled_mask
        picked: list[int] = []
        for step in range(len(order) * budget):  # round-robin; clusters run dry, so bound the visits
            if len(picked) == budget:
                break
            members = np.flatnonzero((assign == order[step % len(order)]) & free)
            if len(members) == 0:
                continue
            knn = min(self.knn, len(members) // 2)
            rows = torch.as_tensor(members, device=z.device)
            typicality = 1 / (knn_mean_distance(z[rows], knn) + 1e-5) if knn > 0 else torch.ones(1)
            best = int(members[int(torch.argmax(typicality))])
            picked.append(best)
            free[best] = False
        return Selection(fill_up(np.asarray(picked, dtype=np.int64), len(ctx.pool), budget, rng, allowed=unlabeled))


class ProbCover:
    """ProbCover (Yehuda et al. 2022): greedy maximum coverage of the pool by balls of radius `delta` around
    queried points; each step queries the point whose ball holds the most uncovered points. With `delta` unset it
    is chosen as the paper does: the largest radius at which a fraction `purity` of balls holds one k-means
    (k = classes) cluster only, estimated on `purity_sample` random balls."""

    def __init__(self, delta: float | None = None, purity: float = 0.95, purity_sample: int = 5000):
        self.delta, self.purity, self.purity_sample = delta, purity, purity_sample

    def choose_delta(self, z: torch.Tensor, n_classes: int, rng: np.random.Generator) -> float:
        _, labels, _ = kmeans(z, min(n_classes, len(z)), rng)
        rows = np.sort(rng.choice(len(z), min(self.purity_sample, len(z)), replace=False))
        d_other = nearest_other_label(z, rows, labels).sqrt()
        finite = d_other[torch.isfinite(d_other)]
        return float(torch.quantile(finite.double(), 1 - self.purity)) if len(finite) else 2.0

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        unlabeled = ctx.pool.unlabeled_indices()
        z = unit_embeddings(ctx)
        delta = self.delta if self.delta is not None else self.choose_delta(z, ctx.n_classes, rng)
        r2 = delta * delta
        labeled = torch.as_tensor(ctx.pool.labeled_indices(), device=z.device)
        covered = (nearest(z, z[labeled])[0] < r2).cpu().numpy()
        norms = sq_norms(z)
        degree = count_within(z, z, r2, torch.as_tensor(~covered), norms)
        degree[torch.as_tensor(ctx.pool.labeled_mask, device=z.device)] = -1
        distance_to = euclidean_distance_to(z)
        picked: list[int] = []
        while len(picked) < budget and degree.max() > 0:
            cur = int(torch.argmax(degree))
            picked.append(cur)
            d_cur = distance_to(cur)
            new = np.flatnonzero(~covered & (d_cur < r2).cpu().numpy())
            covered[new] = True
            near = torch.nonzero(d_cur < 4 * r2).squeeze(1)  # a neighbour of a new point lies within 2 delta
            new_rows = torch.as_tensor(new, dtype=torch.long, device=z.device)
            degree[near] -= count_within(z, z[new_rows], r2, x_norms=norms, x_rows=near)
            degree[cur] = -1
        picked = fill_up(np.asarray(picked, dtype=np.int64), len(ctx.pool), budget, rng, allowed=unlabeled)
        return Selection(picked, {"probcover_delta": delta, "probcover_coverage": float(covered.mean())})
