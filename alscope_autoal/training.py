"""Training and inference of the task model on in-memory uint8 image tensors.

Images stay uint8 (on the compute device) and are normalised batch by batch, so a round costs no copies of the
pool. All randomness comes from the seeds passed in; the global RNGs are forked and restored.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .errors import UserError
from .models import build_model
from .profiles import Profile


@dataclass(frozen=True)
class ImageSpec:
    """What the model needs to know about the images: shape, classes and normalisation."""

    n_channels: int
    n_classes: int
    mean: torch.Tensor  # per channel, 0-1 scale
    std: torch.Tensor
    flips_ok: bool


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global RNG (used by layer init and dropout) inside a block, then restore it."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def normalise(x: torch.Tensor, spec: ImageSpec) -> torch.Tensor:
    if x.ndim == 2:  # frozen-encoder embeddings (linear profile): used as the encoder gives them
        return x.float()
    mean = spec.mean.to(x.device).view(1, -1, 1, 1)
    std = spec.std.to(x.device).view(1, -1, 1, 1)
    return (x.float() / 255 - mean) / std


def augment(x: torch.Tensor, flips_ok: bool, gen: torch.Generator) -> torch.Tensor:
    """Random crop after 4-pixel reflection padding, and random horizontal flips where labels allow."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dy = torch.randint(0, 9, (n,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 9, (n,), generator=gen, device=gen.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
    out = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flips_ok:
        flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out


def batches(n: int, batch_size: int, steps: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """`steps` index batches drawn epoch by epoch from seeded permutations; batches of one are skipped (BN)."""
    done = 0
    while done < steps:
        order = torch.randperm(n, generator=gen, device=gen.device)
        for start in range(0, n, batch_size):
            chunk = order[start:start + batch_size]
            if len(chunk) < 2 and n > 1:
                continue
            yield chunk
            done += 1
            if done == steps:
                return


def fit_full_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, profile: Profile) -> nn.Module:
    """L-BFGS over the whole labeled set on the model's dropout-marginalised loss (`marginal_loss`): at most
    `profile.epochs` iterations (each a pass over the set) with a strong-Wolfe line search, stopping earlier only
    at convergence. The objective has no sampling, so the result depends on the seed only through the
    initialisation, and a training is a few dozen evaluations of about eight (n x dim x classes) products instead
    of hundreds of mini-batch steps, each paying Python's and autograd's fixed cost."""
    optimizer = torch.optim.LBFGS(model.parameters(), lr=profile.lr, max_iter=profile.epochs, history_size=10,
                                  line_search_fn="strong_wolfe")
    x2 = x * x

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = model.marginal_loss(x, y, x2)
        if profile.weight_decay:
            loss = loss + 0.5 * profile.weight_decay * model.classifier.weight.square().sum()
        loss.backward()
        return loss

    model.train()
    optimizer.step(closure)
    return model.eval()


def minibatch_profile(profile: Profile) -> Profile:
    """The schedule of a strategy's own mini-batch training (VAAL's networks, learning-loss's joint copy). On a
    full-batch profile (linear) that is Adam at lr 0.01 in batches of `batch_size` for `epochs` passes: the linear
    profile's old optimiser, for as many passes over the labeled set as the head's L-BFGS makes."""
    return profile.with_(optimizer="adam", lr=1e-2) if profile.optimizer == "lbfgs" else profile


def make_optimizer(model: nn.Module, profile: Profile) -> torch.optim.Optimizer:
    if profile.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=profile.lr, momentum=0.9, weight_decay=profile.weight_decay,
                               nesterov=True)
    return torch.optim.AdamW(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)


def train_model(x: torch.Tensor, y: torch.Tensor, spec: ImageSpec, profile: Profile, seed: int,
                device: torch.device) -> nn.Module:
    """Train a fresh task model from scratch on (x, y): retraining from scratch each round is the default."""
    with seeded(seed, device):
        model = build_model(profile.model, spec.n_channels, spec.n_classes, profile.dropout).to(device)
    if profile.optimizer == "lbfgs":
        if not hasattr(model, "marginal_loss"):
            raise UserError(f"optimizer 'lbfgs' trains the linear head only, not model {profile.model!r}; use "
                            "'adam' or 'sgd'")
        return fit_full_batch(model, normalise(x.to(device), spec), y.to(device), profile)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    steps = max(profile.epochs * math.ceil(len(x) / profile.batch_size), profile.min_steps)
    optimizer = make_optimizer(model, profile)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    model.train()
    with seeded(seed + 1, device):
        for idx in batches(len(x), profile.batch_size, steps, gen):
            xb = x[idx.to(x.device)].to(device)
            if profile.augment:
                xb = augment(xb, spec.flips_ok, gen)
            loss = F.cross_entropy(model(normalise(xb, spec)), y[idx.to(y.device)].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.inference_mode()
def forward_pool(model: nn.Module, x: torch.Tensor, spec: ImageSpec, device: torch.device,
                 batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and penultimate embeddings of every image in `x`, in eval mode, on the CPU."""
    model.eval()
    logits, embeddings = [], []
    for start in range(0, len(x), batch_size):
        emb = model.embed(normalise(x[start:start + batch_size].to(device), spec))
        embeddings.append(emb.float().cpu())
        logits.append(model.head(emb).float().cpu())
    if not logits:
        return torch.empty(0, spec.n_classes), torch.empty(0, 0)
    return torch.cat(logits), torch.cat(embeddings)


@torch.inference_mode()
def pool_logits(model: nn.Module, x: torch.Tensor, rows: np.ndarray, spec: ImageSpec, device: torch.device,
                batch_size: int = 1024) -> torch.Tensor:
    """Logits of the images `x[rows]`, in eval mode, on the CPU: the batches of `forward_pool(model, x[rows])`,
    gathered one at a time and without the embeddings, so nothing of size len(rows) x d is ever held."""
    model.eval()
    out = torch.empty(len(rows), spec.n_classes)
    for start in range(0, len(rows), batch_size):
        batch = x[torch.as_tensor(rows[start:start + batch_size], device=x.device)]
        out[start:start + batch_size] = model.head(model.embed(normalise(batch.to(device), spec))).float().cpu()
    return out


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy (mean recall over classes present) and macro-F1 (over classes present)."""
    confusion = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, -1)
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(1), confusion.sum(0)
    present = support > 0
    recall = tp[present] / support[present]
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)[present]
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(recall),
                   where=(precision + recall) > 0)
    return {"accuracy": float(tp.sum() / max(len(y_true), 1)), "balanced_accuracy": float(recall.mean()),
            "macro_f1": float(f1.mean())}
