"""BatchBALD (Kirsch, van Amersfoort & Gal 2019): greedily grow a batch maximising the mutual information
between the batch's joint prediction and the weights, with MC dropout as the posterior.

The joint entropy of the batch plus a candidate is estimated from `samples` label configurations of the batch,
drawn exactly from the MC mixture (draw a pass k, then a label per batch member from p_k), and importance-weighted
as in the paper's sampled estimator:
  H(y_batch, y_x) ~ -1/S sum_s sum_c [P_s . p_x,c / P_s . 1] log(P_s . p_x,c / K)
where P_s[k] = prod_i p_k(y_i^s). While the batch is empty this is exactly H[mean_k p_k(y_x)], so the first
pick is the BALD maximiser. Memory: S x K for the batch plus one chunk of candidates; time O(budget S K N C).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .base import QueryContext
from .chunked import chunk_size
from .uncertainty import entropy


def joint_entropy(batch_probs: torch.Tensor, mc: torch.Tensor) -> torch.Tensor:
    """Estimated H(y_batch, y_x) for every candidate x. batch_probs: (S, K); mc: (K, N, C) -> (N,)."""
    s, k = batch_probs.shape
    _, n, c = mc.shape
    out = torch.empty(n, dtype=torch.float64)
    norm = batch_probs.sum(1, keepdim=True)  # (S, 1): K * p(y_batch^s)
    step = chunk_size(s * c)
    for start in range(0, n, step):
        block = mc[:, start:start + step].double().reshape(k, -1)  # (K, n_chunk * C)
        joint = (batch_probs @ block).reshape(s, -1, c) / k  # p(y_batch^s, y_x = c)
        weight = joint / (norm[:, :, None] / k)
        out[start:start + step] = -(weight * torch.log(joint.clamp_min(1e-300))).sum(2).mean(0)
    return out


class BatchBALD:
    def __init__(self, passes: int = 20, samples: int = 1000):
        if not isinstance(passes, int) or passes < 2:
            raise UserError(f"passes must be an integer of at least 2 for MC dropout, not {passes!r}")
        self.passes, self.samples = passes, samples

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> np.ndarray:
        candidates = ctx.pool.unlabeled_indices()
        if budget >= len(candidates):
            return candidates
        mc = ctx.mc_probs(candidates, self.passes).double()  # (K, N, C)
        k = mc.shape[0]
        conditional = entropy(mc).mean(0)  # E_k H[p_k(y_x)] per candidate
        pass_of_sample = torch.as_tensor(rng.integers(k, size=self.samples))
        batch_probs = torch.ones(self.samples, k, dtype=torch.float64)
        taken = torch.zeros(len(candidates), dtype=torch.bool)
        picked: list[int] = []
        for _ in range(budget):
            gain = joint_entropy(batch_probs, mc) - conditional
            gain[taken] = -float("inf")
            j = int(torch.argmax(gain))
            picked.append(j)
            taken[j] = True
            labels = self.draw_labels(mc[:, j], pass_of_sample, rng)  # one label per configuration
            batch_probs = batch_probs * mc[:, j, :].T[labels]  # (S, K): times p_k(y_j^s)
            batch_probs = batch_probs / batch_probs.mean().clamp_min(1e-300)  # rescale; ratios are unchanged
        return candidates[np.asarray(picked, dtype=np.int64)]

    @staticmethod
    def draw_labels(probs_kc: torch.Tensor, pass_of_sample: torch.Tensor, rng: np.random.Generator
                    ) -> torch.Tensor:
        p = probs_kc[pass_of_sample].numpy()  # (S, C): each configuration draws from its own pass
        u = rng.random((len(p), 1))
        return torch.as_tensor((p.cumsum(1) < u * p.sum(1, keepdims=True)).sum(1).clip(0, p.shape[1] - 1))
