"""Cluster-Margin (Citovsky et al. 2021): uncertainty first, then diversity by round-robin over clusters."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from .base import QueryContext, Selection, top_k
from .uncertainty import margin_score


class ClusterMargin:
    """Take the `ratio` x budget lowest-margin unlabeled samples (at most `max_candidates`), cluster them by
    average-linkage HAC on the embeddings, then visit clusters from smallest to largest, round-robin, taking a
    random member of each until the budget is spent.

    The paper runs HAC once over the whole pool; HAC needs a condensed distance matrix of the clustered points,
    so here it runs on the margin candidates only, which bounds its memory by `max_candidates`^2 / 2 doubles
    (100 MB for the default 5,000), independent of the pool size. The number of clusters is the budget.
    """

    def __init__(self, ratio: float = 10.0, max_candidates: int = 5000):
        self.ratio, self.max_candidates = ratio, max_candidates

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        n_margin = int(min(max(self.ratio * budget, budget), self.max_candidates, len(candidates)))
        shortlist = candidates[top_k(margin_score(ctx.probs(candidates)), n_margin, rng)]
        if n_margin <= budget:
            return Selection(shortlist[:budget])
        z = ctx.embeddings(shortlist).double().numpy()
        clusters = fcluster(linkage(z, method="average"), t=budget, criterion="maxclust")
        return Selection(shortlist[round_robin(clusters, budget, rng)])


def round_robin(clusters: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Positions taken one per cluster per pass, smallest clusters first, members in random order."""
    ids, sizes = np.unique(clusters, return_counts=True)
    order = ids[np.lexsort((rng.random(len(ids)), sizes))]
    queues = [rng.permutation(np.flatnonzero(clusters == c)).tolist() for c in order]
    picked: list[int] = []
    while len(picked) < budget:
        for queue in queues:
            if queue and len(picked) < budget:
                picked.append(queue.pop())
    return np.asarray(picked, dtype=np.int64)
