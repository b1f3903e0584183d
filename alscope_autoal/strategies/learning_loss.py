"""Learning loss (Yoo & Kweon 2019): a loss-prediction module reads intermediate features of the task network,
is trained jointly with it to rank per-sample losses, and the samples with the largest predicted loss are queried.
The module reads each stage's output (on ResNet-18 after the residual addition and ReLU), as in the paper.

The paper trains the module together with the task model. The loop trains the task model and must not be changed
for one strategy, so this strategy trains its own joint copy inside `select`: a fresh task model of the same
architecture and profile schedule, plus the module, on the labeled set, with seeds derived from `ctx.seed` and
the round. Only this strategy pays that second training. As in the paper, the ranking loss has weight 1 and
margin 1, the module has one 128-unit branch per feature level, and the features are detached from the module's
loss after 60% of the steps (120 of 200 epochs in the paper).

On the linear profile the task model itself trains full-batch with L-BFGS, which has no mini-batches to attach the
module's ranking loss to, so the joint copy trains with Adam at lr 0.01 in batches of 64 for 20 passes over the
labeled set (`training.minibatch_profile`, `MINIBATCH_PASSES`): the paper's joint mini-batch training, at 1/10 of
its 200 epochs and at 2/5 of this profile's former 50 passes (at least 300 steps) -- on frozen embeddings the head
fits in far fewer passes than a CNN from scratch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models import build_model
from ..models.resnet import BasicBlock
from ..seeds import derive_seed
from ..training import augment, batches, make_optimizer, minibatch_profile, normalise, seeded
from .base import QueryContext, Selection, top_k


def building_blocks(model: nn.Module) -> list[nn.Module]:
    """Modules whose output is a block's output: a ResNet's residual blocks (after the skip addition and ReLU),
    else a plain CNN's conv-BN-ReLU(-pool) blocks, the sequentials that open with a convolution; a model without
    blocks (the linear head on embeddings) names its taps itself."""
    if hasattr(model, "loss_taps"):
        return model.loss_taps()
    residual = [m for m in model.modules() if isinstance(m, BasicBlock)]
    if residual:
        return residual
    return [m for m in model.modules() if isinstance(m, nn.Sequential) and len(m) and isinstance(m[0], nn.Conv2d)]


def feature_taps(model: nn.Module, sample: torch.Tensor) -> list[nn.Module]:
    """The last block of each stage, a stage being a run of blocks with one output shape: ResNet-18's four stage
    outputs (the paper's layer1-4 features), the small CNN's three conv blocks. Found by a dry run."""
    ran: list[tuple[nn.Module, tuple]] = []  # (block, output shape) in execution order
    hooks = [b.register_forward_hook(lambda mod, _i, out: ran.append((mod, tuple(out.shape[1:]))))
             for b in building_blocks(model)]
    with torch.no_grad():
        model.eval()(sample)
    for h in hooks:
        h.remove()
    if not ran:
        raise ValueError(f"learning-loss found no convolutional blocks to read in {type(model).__name__}")
    next_shapes = [shape for _, shape in ran[1:]] + [None]
    return [block for (block, shape), following in zip(ran, next_shapes) if shape != following]


class LossPredictionModule(nn.Module):
    def __init__(self, channels: list[int], width: int = 128):
        super().__init__()
        self.branches = nn.ModuleList(nn.Linear(c, width) for c in channels)
        self.out = nn.Linear(width * len(channels), 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        pooled = [F.relu(fc(f.mean((2, 3)) if f.ndim == 4 else f)) for fc, f in zip(self.branches, features)]
        return self.out(torch.cat(pooled, 1)).squeeze(1)


def ranking_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """The paper's pair loss: pairs (i, B-1-i); the predicted order must match the true order by a margin."""
    half = len(predicted) // 2
    diff_pred = (predicted - predicted.flip(0))[:half]
    sign = torch.sign((target - target.flip(0))[:half]).clamp_min(0) * 2 - 1
    return F.relu(margin - sign * diff_pred).mean()


class Capture:
    """Forward hooks that collect the tapped features of one forward pass."""

    def __init__(self, taps: list[nn.Module]):
        self.features: list[torch.Tensor] = []
        self.hooks = [t.register_forward_hook(lambda _m, _i, out: self.features.append(out)) for t in taps]

    def take(self) -> list[torch.Tensor]:
        out, self.features = self.features, []
        return out


class LearningLoss:
    def __init__(self, weight: float = 1.0, margin: float = 1.0, detach_after: float = 0.6):
        self.weight, self.margin, self.detach_after = weight, margin, detach_after

    def train_joint(self, ctx: QueryContext) -> tuple[nn.Module, LossPredictionModule, Capture]:
        profile, spec, device = minibatch_profile(ctx.profile), ctx.spec, ctx.device
        labeled = ctx.pool.trainable_indices()
        x, y = ctx.x[torch.as_tensor(labeled, device=ctx.x.device)], ctx.labeled_targets(labeled)
        seed = derive_seed(ctx.seed, "learning-loss", ctx.round)
        with seeded(seed, device):
            model = build_model(profile.model, spec.n_channels, spec.n_classes, profile.dropout,
                                spec.pretrained).to(device)
            taps = feature_taps(model, normalise(x[:2].to(device), spec))
            capture = Capture(taps)
            model(normalise(x[:2].to(device), spec))
            lpm = LossPredictionModule([f.shape[1] for f in capture.take()]).to(device)
        both = nn.ModuleDict({"model": model, "lpm": lpm})
        steps = max(profile.epochs * math.ceil(len(x) / profile.batch_size), profile.min_steps)
        optimizer = make_optimizer(both, profile)
        gen = torch.Generator().manual_seed(seed)
        both.train()
        with seeded(seed + 1, device):
            for step, idx in enumerate(batches(len(x), profile.batch_size, steps, gen)):
                xb = x[idx.to(x.device)].to(device)
                xb = augment(xb, spec.flips_ok, gen) if profile.augment else xb
                losses = F.cross_entropy(model(normalise(xb, spec)), y[idx].to(device), reduction="none")
                feats = capture.take()
                if step >= self.detach_after * steps:
                    feats = [f.detach() for f in feats]
                loss = losses.mean() + self.weight * ranking_loss(lpm(feats), losses.detach(), self.margin)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return model.eval(), lpm.eval(), capture

    @torch.inference_mode()
    def predicted_loss(self, ctx: QueryContext, model, lpm, capture: Capture, candidates: np.ndarray):
        out = []
        for start in range(0, len(candidates), ctx.profile.eval_batch_size):
            chunk = torch.as_tensor(candidates[start:start + ctx.profile.eval_batch_size], device=ctx.x.device)
            model(normalise(ctx.x[chunk].to(ctx.device), ctx.spec))
            out.append(lpm(capture.take()).float().cpu())
        return torch.cat(out)

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        model, lpm, capture = self.train_joint(ctx)
        scores = self.predicted_loss(ctx, model, lpm, capture, candidates)
        return Selection(candidates[top_k(scores, budget, rng)])
