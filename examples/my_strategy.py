"""A strategy from outside the package: margin sampling weighted by the distance to the labeled set.

Uncertain samples that lie far from everything labeled so far come first, so a batch does not spend its labels on
one confusing corner of the pool. Benchmark it against margin and AutoAL (docs/own-strategy.md):

    autoal check far-margin --plugin examples/my_strategy.py
    autoal bench --plugin examples/my_strategy.py --strategies far-margin,margin,autoal --out results-mine
"""

import torch

from alscope_autoal.strategies import ScoreStrategy, register_strategy


@register_strategy("far-margin", "small top-2 margin times distance to the nearest labeled sample (example plugin)")
class FarMargin(ScoreStrategy):
    def scores(self, ctx, candidates):
        top2 = ctx.probs(candidates).topk(2, dim=1).values
        uncertainty = 1 - (top2[:, 0] - top2[:, 1])  # 1 - margin: 1 when the two top classes tie
        labeled = ctx.embeddings(ctx.pool.labeled_indices())
        distance = torch.cdist(ctx.embeddings(candidates), labeled).min(dim=1).values
        return uncertainty * distance / distance.max().clamp_min(1e-12)  # higher scores are queried first
