"""Uncertainty sampling on the softmax output of the trained model (one deterministic forward pass)."""

from __future__ import annotations

import numpy as np
import torch

from .base import QueryContext, ScoreStrategy


def entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=-1)


def margin_score(probs: torch.Tensor) -> torch.Tensor:
    """Minus the gap between the two most likely classes: small gaps rank first."""
    top2 = probs.topk(2, dim=-1).values
    return -(top2[..., 0] - top2[..., 1])


def least_confidence_score(probs: torch.Tensor) -> torch.Tensor:
    return 1 - probs.max(dim=-1).values


class EntropySampling(ScoreStrategy):
    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        return entropy(ctx.probs(candidates))


class MarginSampling(ScoreStrategy):
    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        return margin_score(ctx.probs(candidates))


class LeastConfidence(ScoreStrategy):
    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        return least_confidence_score(ctx.probs(candidates))
