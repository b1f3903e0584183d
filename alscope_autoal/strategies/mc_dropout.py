"""Bayesian uncertainty from Monte-Carlo dropout (Gal & Ghahramani 2016): T stochastic passes with dropout active
and batch-norm frozen. The task models put their only dropout layer right before the classifier, so
`QueryContext.mc_probs` computes the deterministic backbone once and samples the head T times, which is exactly
the distribution of T full stochastic passes at a fraction of the cost. Each pass applies one dropout mask to the
whole pool (consistent MC dropout), so a pass is one draw of the weights for every sample.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .base import MC_CHUNK, QueryContext, ScoreStrategy
from .uncertainty import entropy


def per_sample(statistic, mc: torch.Tensor) -> torch.Tensor:
    """`statistic(mc)` for a statistic computed sample by sample, over MC_CHUNK samples at a time: its (T, n, C)
    temporaries (logs, products, one-hot votes) then stay T x MC_CHUNK x C instead of the size of the pool."""
    return torch.cat([statistic(mc[:, start:start + MC_CHUNK]) for start in range(0, mc.shape[1], MC_CHUNK)])


def bald_score(mc: torch.Tensor) -> torch.Tensor:
    """Mutual information between prediction and weights (Houlsby et al. 2011): H[mean p] - mean H[p]."""
    return entropy(mc.mean(0)) - entropy(mc).mean(0)


def variation_ratio(mc: torch.Tensor) -> torch.Tensor:
    """1 - (passes that vote for the modal class) / T (Freeman 1965; Gal, Islam & Ghahramani 2017)."""
    votes = torch.nn.functional.one_hot(mc.argmax(-1), mc.shape[-1]).sum(0)
    return 1 - votes.max(-1).values.to(mc.dtype) / mc.shape[0]


def mean_std(mc: torch.Tensor) -> torch.Tensor:
    """Mean over classes of the standard deviation of p(c|x) across passes (Kampffmeyer et al. 2016)."""
    second = (mc * mc).mean(0)
    first = mc.mean(0)
    return (second - first * first).clamp_min(0).sqrt().mean(-1)


class MCDropoutStrategy(ScoreStrategy):
    """Ranks the pool by a statistic of T MC-dropout softmax samples; T is the `passes` parameter. Memory: the
    T x N x C samples (float32), then temporaries of MC_CHUNK samples: MC_CHUNK x d for the head
    (`QueryContext.mc_probs`) and at most four float32-sized T x MC_CHUNK x C arrays for the statistic."""

    def __init__(self, passes: int = 20):
        if not isinstance(passes, int) or passes < 2:
            raise UserError(f"passes must be an integer of at least 2 for MC dropout, not {passes!r}")
        self.passes = passes

    def statistic(self, mc: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        return per_sample(self.statistic, ctx.mc_probs(candidates, self.passes))


class MaxEntropy(MCDropoutStrategy):
    """Entropy of the MC-averaged prediction (Gal, Islam & Ghahramani 2017, "Max Entropy")."""

    def statistic(self, mc: torch.Tensor) -> torch.Tensor:
        return entropy(mc.mean(0))


class BALD(MCDropoutStrategy):
    def statistic(self, mc: torch.Tensor) -> torch.Tensor:
        return bald_score(mc)


class VarRatio(MCDropoutStrategy):
    """Many samples tie on the vote count; `top_k` breaks those ties with the seeded generator."""

    def statistic(self, mc: torch.Tensor) -> torch.Tensor:
        return variation_ratio(mc)


class MeanSTD(MCDropoutStrategy):
    def statistic(self, mc: torch.Tensor) -> torch.Tensor:
        return mean_std(mc)
