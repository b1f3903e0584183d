"""BatchBALD (Kirsch, van Amersfoort & Gal 2019): greedily grow a batch maximising the mutual information
between the batch's joint prediction and the weights, with MC dropout as the posterior.

The joint entropy of the batch plus a candidate is estimated from `samples` label configurations of the batch,
drawn exactly from the MC mixture (draw a pass k, then a label per batch member from p_k), and importance-weighted
as in the paper's sampled estimator:
  H(y_batch, y_x) ~ -1/S sum_s sum_c [P_s . p_x,c / P_s . 1] log(P_s . p_x,c / K)
where P_s[k] = prod_i p_k(y_i^s). While the batch is empty this is exactly H[mean_k p_k(y_x)], so the first
pick is the BALD maximiser. Memory: the K x N x C MC-dropout samples and their copy in `precision`, S x K for
the batch plus one chunk of candidates, and the shortlist's own copy; time O(budget S K N C).

At the paper's scale (N = 49k, budget 1,000) that time is the problem, so two parameters bound it. `candidates`
keeps only the N' unlabeled samples with the highest BALD score (at least the budget) for the greedy joint step;
0 keeps them all. `precision` is float64 or float32 for the joint-entropy sums. Their defaults come from the
profile (`resolved_params`): the paper profile shortlists 10,000 candidates in float32, the linear profile 1,000
(ten times its budget of 100) in float32; the others keep the whole pool in float64, as before. The maths runs on
the job's device.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .base import QueryContext, Selection, top_k
from .chunked import chunk_size
from .mc_dropout import bald_score, per_sample
from .uncertainty import entropy

PRECISIONS = {"float64": torch.float64, "float32": torch.float32}
# The whole pool in float64 elsewhere. On the linear profile's text pools the whole pool cost 20x more per job
# for the same AUBC (docs/frozen-encoders.md, "Frozen encoders and text datasets").
PROFILE_DEFAULTS = {"paper": {"candidates": 10_000, "precision": "float32"},
                    "released": {"candidates": 10_000, "precision": "float32"},
                    "linear": {"candidates": 1_000, "precision": "float32"}}


def smallest(dtype: torch.dtype) -> float:
    """The floor under probabilities before a log or a division (1e-300 in float64, as before)."""
    return 1e-300 if dtype == torch.float64 else torch.finfo(dtype).tiny


def joint_entropy(batch_probs: torch.Tensor, mc: torch.Tensor) -> torch.Tensor:
    """Estimated H(y_batch, y_x) for every candidate x. batch_probs: (S, K); mc: (K, N, C) -> (N,)."""
    s, k = batch_probs.shape
    _, n, c = mc.shape
    out = torch.empty(n, dtype=batch_probs.dtype, device=batch_probs.device)
    norm = batch_probs.sum(1, keepdim=True)  # (S, 1): K * p(y_batch^s)
    step = chunk_size(s * c)
    for start in range(0, n, step):
        block = mc[:, start:start + step].to(batch_probs.dtype).reshape(k, -1)  # (K, n_chunk * C)
        joint = (batch_probs @ block).reshape(s, -1, c) / k  # p(y_batch^s, y_x = c)
        weight = joint / (norm[:, :, None] / k)
        out[start:start + step] = -(weight * torch.log(joint.clamp_min(smallest(joint.dtype)))).sum(2).mean(0)
    return out


class BatchBALD:
    def __init__(self, passes: int = 20, samples: int = 1000, candidates: int | None = None,
                 precision: str | None = None):
        if not isinstance(passes, int) or passes < 2:
            raise UserError(f"passes must be an integer of at least 2 for MC dropout, not {passes!r}")
        if candidates is not None and (not isinstance(candidates, int) or candidates < 0):
            raise UserError(f"candidates must be a non-negative integer (0: the whole pool), not {candidates!r}")
        if precision is not None and precision not in PRECISIONS:
            raise UserError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.passes, self.samples, self.candidates, self.precision = passes, samples, candidates, precision

    @classmethod
    def resolved_params(cls, profile) -> dict:
        return PROFILE_DEFAULTS.get(profile.name, {})

    def settings(self, profile) -> tuple[int, torch.dtype]:
        """(shortlist size, 0 for all; dtype): the parameters given, else the profile's defaults."""
        defaults = {"candidates": 0, "precision": "float64"} | self.resolved_params(profile)
        candidates = defaults["candidates"] if self.candidates is None else self.candidates
        return candidates, PRECISIONS[self.precision or defaults["precision"]]

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        size, dtype = self.settings(ctx.profile)
        mc = ctx.mc_probs(candidates, self.passes).to(ctx.device, dtype)  # (K, N, C)
        shortlist = self.shortlist(mc, max(size, budget) if size else 0, rng)
        if shortlist is not None:
            mc, candidates = mc[:, torch.as_tensor(shortlist, device=mc.device)], candidates[shortlist]
        return Selection(candidates[self.greedy(mc, budget, rng)])

    @staticmethod
    def shortlist(mc: torch.Tensor, size: int, rng: np.random.Generator) -> np.ndarray | None:
        """Positions of the `size` highest BALD scores (ties drawn by `rng`); None when that is every candidate."""
        if not size or size >= mc.shape[1]:
            return None
        return np.sort(top_k(per_sample(bald_score, mc), size, rng))

    def greedy(self, mc: torch.Tensor, budget: int, rng: np.random.Generator) -> np.ndarray:
        """Positions (in mc's candidates) of the greedy BatchBALD batch."""
        k, n, _ = mc.shape
        conditional = entropy(mc).mean(0)  # E_k H[p_k(y_x)] per candidate
        pass_of_sample = torch.as_tensor(rng.integers(k, size=self.samples), device=mc.device)
        batch_probs = torch.ones(self.samples, k, dtype=mc.dtype, device=mc.device)
        taken = torch.zeros(n, dtype=torch.bool, device=mc.device)
        picked: list[int] = []
        for _ in range(budget):
            gain = joint_entropy(batch_probs, mc) - conditional
            gain[taken] = -float("inf")
            j = int(torch.argmax(gain))
            picked.append(j)
            taken[j] = True
            labels = self.draw_labels(mc[:, j], pass_of_sample, rng).to(mc.device)  # one label per configuration
            batch_probs = batch_probs * mc[:, j, :].T[labels]  # (S, K): times p_k(y_j^s)
            # rescale; ratios are unchanged
            batch_probs = batch_probs / batch_probs.mean().clamp_min(smallest(batch_probs.dtype))
        return np.asarray(picked, dtype=np.int64)

    @staticmethod
    def draw_labels(probs_kc: torch.Tensor, pass_of_sample: torch.Tensor, rng: np.random.Generator
                    ) -> torch.Tensor:
        p = probs_kc[pass_of_sample].cpu().double().numpy()  # (S, C): each configuration draws from its own pass
        u = rng.random((len(p), 1))
        return torch.as_tensor((p.cumsum(1) < u * p.sum(1, keepdims=True)).sum(1).clip(0, p.shape[1] - 1))
