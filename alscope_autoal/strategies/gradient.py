"""Strategies on last-layer gradients of the loss with respect to hypothetical labels: BADGE and EGL.

For a linear classifier on penultimate features h with softmax output p, the gradient of cross-entropy with
label y with respect to the weight matrix is the outer product (p - e_y) h^T. Its norm and inner products
factor: <a_i h_i^T, a_j h_j^T> = (a_i . a_j)(h_i . h_j), so both strategies work on N x C and N x d arrays and
never materialise the N x (C*d) gradient embeddings.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import QueryContext, ScoreStrategy, Selection
from .chunked import DistanceTo, kmeans_pp, sq_norms


def badge_factors(probs: torch.Tensor) -> torch.Tensor:
    """a = p - onehot(argmax p): the label factor of BADGE's gradient embedding a h^T (hypothesised label)."""
    a = probs.clone()
    a[torch.arange(len(a)), probs.argmax(1)] -= 1
    return a


def gradient_embedding(probs: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """The explicit (n, C*d) gradient embeddings; for checks on small inputs only (BADGE itself never builds it)."""
    return (badge_factors(probs)[:, :, None] * features[:, None, :]).flatten(1)


def factored_distance_to(a: torch.Tensor, h: torch.Tensor) -> DistanceTo:
    """Squared distance from every gradient embedding a_i h_i^T to the j-th one, in O(N) memory."""
    norms = sq_norms(a) * sq_norms(h)
    return lambda j: (norms + norms[j] - 2 * (a @ a[j]) * (h @ h[j])).clamp_min_(0)


class BADGE:
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al. 2020): k-means++ seeding on the
    gradient embeddings, starting from the largest-norm one as the authors' code does. Memory: O(N (C + d))."""

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        a = badge_factors(ctx.probs(candidates).float().to(ctx.device))
        h = ctx.embeddings(candidates).float().to(ctx.device)
        first = int(torch.argmax(sq_norms(a) * sq_norms(h)))
        return Selection(candidates[kmeans_pp(factored_distance_to(a, h), len(candidates), budget, rng, first=first)])


def expected_gradient_length(probs: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """sum_y p_y || grad of the loss with label y wrt the classifier's weights and bias ||
    = sum_y p_y ||p - e_y|| sqrt(||h||^2 + 1), since ||p - e_y||^2 = ||p||^2 - 2 p_y + 1."""
    sq = (probs * probs).sum(1, keepdim=True) - 2 * probs + 1
    return (probs * sq.clamp_min(0).sqrt()).sum(1) * (sq_norms(features) + 1).sqrt()


class ExpectedGradientLength(ScoreStrategy):
    """Expected gradient length (Settles, Craven & Ray 2008; Huang et al. 2016 for deep nets), i.e. expected
    model change, over the last layer: the samples whose label would move the classifier most."""

    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        return expected_gradient_length(ctx.probs(candidates), ctx.embeddings(candidates))
