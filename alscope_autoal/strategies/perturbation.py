"""Strategies that perturb the model or its features and query samples whose prediction moves:
ALFA-Mix (feature interpolation towards labeled anchors) and noise stability (Gaussian weight noise)."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch.nn import functional as F

from ..training import pool_logits
from .base import QueryContext, Selection
from .chunked import (chunk_size, closest_member_per_cluster, euclidean_distance_to, k_center_greedy, kmeans,
                      sq_norms)
from .diversity import fill_up


def class_anchors(ctx: QueryContext) -> torch.Tensor:
    """Mean labeled embedding per known class; a class without labels takes the mean of all labeled ones."""
    labeled = ctx.pool.trainable_indices()
    z, y = ctx.embeddings(labeled).float(), ctx.labeled_targets(labeled)
    overall = z.mean(0)
    return torch.stack([z[y == c].mean(0) if (y == c).any() else overall for c in range(ctx.n_classes)])


def loss_gradient(head: torch.nn.Module, z: torch.Tensor, pseudo: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        z = z.clone().requires_grad_(True)
        loss = F.cross_entropy(head(z), pseudo, reduction="sum")
        return torch.autograd.grad(loss, z)[0]


def interpolation_step(z: torch.Tensor, anchor: torch.Tensor, grad: torch.Tensor, eps: float) -> torch.Tensor:
    """alpha * (z* - z) for the paper's closed-form alpha* = eps' ||z* - z|| g / ||g||, divided elementwise by
    z* - z: a step of length eps' ||z* - z|| along the loss gradient g, the first-order maximiser of the loss over
    steps no longer than that (which contains every alpha with ||alpha||_2 <= eps', since
    ||alpha * (z* - z)|| <= ||alpha||_2 ||z* - z||). As in the authors' code eps' = eps / sqrt(d), the component
    of a uniform alpha of L2 norm eps, and nothing is clipped: where g points away from the anchor, alpha is
    negative and the step keeps that component. The division by z* - z cancels, so it is never computed."""
    scale = eps / math.sqrt(z.shape[1]) * (anchor - z).norm(dim=1, keepdim=True)
    return scale * grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)


class ALFAMix:
    """ALFA-Mix (Parvaneh et al. 2022): interpolate each unlabeled embedding z towards every class anchor z*
    with the paper's closed-form alpha (`interpolation_step`); a sample whose predicted label changes for some
    anchor is a candidate. eps grows in `alpha_step` increments until more than `budget` candidates are found;
    then k-means on the candidates' normalised embeddings, one sample nearest each centre (as the authors'
    code), random top-up if short."""

    def __init__(self, alpha_step: float = 1 / 32):
        self.alpha_step = alpha_step

    def changes(self, ctx: QueryContext, z: torch.Tensor, anchors: torch.Tensor, eps: float) -> torch.Tensor:
        out = torch.zeros(len(z), dtype=torch.bool)
        head, anchors = ctx.model.head, anchors.to(ctx.device)
        step = chunk_size(z.shape[1] * len(anchors))
        for start in range(0, len(z), step):
            zc = z[start:start + step].to(ctx.device)
            with torch.no_grad():
                pred = head(zc).argmax(1)
            grad = loss_gradient(head, zc, pred)
            with torch.no_grad():
                for anchor in anchors:
                    mixed = zc + interpolation_step(zc, anchor, grad, eps)
                    out[start:start + step] |= (head(mixed).argmax(1) != pred).cpu()
        return out

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        z = ctx.embeddings(candidates).float()
        anchors = class_anchors(ctx)
        ctx.model.eval()
        changed = torch.zeros(len(z), dtype=torch.bool)
        eps = 0.0
        while eps < 1.0 and int(changed.sum()) <= budget:
            eps += self.alpha_step
            changed |= self.changes(ctx, z, anchors, eps)
        picked = np.flatnonzero(changed.numpy())
        if len(picked) > budget:
            feats = F.normalize(z[torch.as_tensor(picked)], dim=1)
            _, assign, dist = kmeans(feats, budget, rng)
            picked = picked[closest_member_per_cluster(assign, dist, budget)]
        return Selection(candidates[fill_up(picked, len(candidates), budget, rng)],
                         {"alfamix_candidates": int(changed.sum())})


class NoiseStability:
    """Noise stability (Li et al. 2024): add Gaussian noise to every weight tensor, scaled so its norm is
    `noise_scale` times the tensor's norm, and describe each sample by its softmax deviations
    (p_noisy - p) / ||p||, concatenated over `samples` draws. Greedy k-center on these vectors, starting from
    the clean model's output (the zero deviation), takes the least stable sample first and then the one whose
    deviations differ most from everything taken: uncertainty and diversity at once. Costs `samples` forward
    passes over the pool and holds an N x (samples * C) matrix (120 MB for 100k samples, 30 draws, 10 classes),
    a few N x C arrays and one evaluation batch (`training.pool_logits`: no copy of the pool, no embeddings);
    the k-center step itself needs O(N) more (`chunked.k_center_greedy`)."""

    def __init__(self, samples: int = 30, noise_scale: float = 1e-3):
        self.samples, self.noise_scale = samples, noise_scale

    @torch.inference_mode()
    def noisy_copy(self, model: torch.nn.Module, gen: torch.Generator) -> torch.nn.Module:
        twin = copy.deepcopy(model).eval()
        for module in twin.modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor) and weight.numel():
                noise = torch.randn(weight.shape, generator=gen).to(weight.device)
                weight.add_(noise * (self.noise_scale * weight.norm() / noise.norm().clamp_min(1e-12)))
        return twin

    @torch.inference_mode()
    def deviations(self, ctx: QueryContext, candidates: np.ndarray, gen: torch.Generator) -> torch.Tensor:
        """(n, samples * C): each draw's normalised softmax deviation, side by side."""
        base = ctx.probs(candidates)
        c = base.shape[1]
        out = torch.empty(len(candidates), self.samples * c)
        for draw in range(self.samples):
            logits = pool_logits(self.noisy_copy(ctx.model, gen), ctx.x, candidates, ctx.spec, ctx.device,
                                 ctx.profile.eval_batch_size)
            out[:, draw * c:(draw + 1) * c] = (torch.softmax(logits, 1) - base) / base.norm(dim=1, keepdim=True)
        return out

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        feats = self.deviations(ctx, candidates, gen).to(ctx.device)
        from_clean_output = sq_norms(feats)  # squared distance to the zero deviation, the first centre
        return Selection(candidates[k_center_greedy(euclidean_distance_to(feats), from_clean_output, budget, rng)])
