"""Training and inference of the task model on in-memory uint8 image tensors.

Images stay uint8 (on the compute device) and are normalised batch by batch, so a round costs no copies of the
pool. All randomness comes from the seeds passed in; the global RNGs are forked and restored.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .errors import UserError
from .models import build_model
from .profiles import Profile

# --precision: the dtype the forward passes run in under autocast (weights, gradients and optimiser stay fp32).
# bf16 also lays CUDA convolutions out channels-last. fp16 is not offered: it needs loss scaling.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class ImageSpec:
    """What the model needs to know about the images: shape, classes and normalisation."""

    n_channels: int
    n_classes: int
    mean: torch.Tensor  # per channel, 0-1 scale
    std: torch.Tensor
    flips_ok: bool
    pretrained: Mapping[str, torch.Tensor] | None = field(default=None, compare=False, repr=False)  # state dict
    #                                             that models starting from ImageNet weights load (resnet18-imagenet)


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
    dy = to_device(torch.randint(0, 9, (n,), generator=gen, device=gen.device), x.device)
    dx = to_device(torch.randint(0, 9, (n,), generator=gen, device=gen.device), x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
    out = padded[torch.arange(n, device=x.device)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flips_ok:
        flip = to_device(torch.rand(n, generator=gen, device=gen.device) < 0.5, x.device)
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


# L-BFGS stops the head when no entry of its objective's gradient exceeds `tolerance_grad`, or an iteration changes
# the objective by less than `tolerance_change` (or after `profile.epochs` iterations). The objective is a mean over
# the labeled set, so the tolerances do not grow with it. Torch's defaults (1e-7, 1e-9) take more iterations for the
# same validation accuracy (docs/frozen-encoders.md, "The head: L-BFGS to convergence, with an L2 term").
HEAD_TOLERANCES = {"tolerance_grad": 1e-3, "tolerance_change": 1e-5}


def head_l2_weight(x2: torch.Tensor, profile: Profile) -> float:
    """The L2 term's weight in the head's mean objective: `profile.weight_decay` x the embeddings' mean squared norm
    / the labeled-set size. Per labeled sample, as in scikit-learn's LogisticRegression, so more labels weigh the
    data more; relative to the embeddings' scale, so one value suits unit-norm text embeddings and image features
    of norm ~25 alike. It equals LogisticRegression's C = 1 / (weight_decay x mean ||x||^2)."""
    return profile.weight_decay * x2.sum(1).mean().item() / len(x2)


def fit_full_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, profile: Profile) -> nn.Module:
    """L-BFGS over the whole labeled set on the model's dropout-marginalised loss (`marginal_loss`, evaluated
    with its gradients in closed form by `marginal_loss_and_grads`) plus an L2 term (`head_l2_weight`), to
    convergence (`HEAD_TOLERANCES`; `profile.epochs` caps the iterations, each a pass over the set), with a
    strong-Wolfe line search. The L2 term gives the objective one minimum even where the labeled set is linearly
    separable, so the head does not depend on where the iterations stop; the seed only sets the start."""
    optimizer = torch.optim.LBFGS(model.parameters(), lr=profile.lr, max_iter=profile.epochs, history_size=10,
                                  line_search_fn="strong_wolfe", **HEAD_TOLERANCES)
    x2, layer = x * x, model.classifier
    l2_weight = head_l2_weight(x2, profile)

    @torch.no_grad()
    def closure() -> torch.Tensor:
        loss, layer.weight.grad, layer.bias.grad = model.marginal_loss_and_grads(x, y, x2)
        loss += 0.5 * l2_weight * layer.weight.square().sum()
        layer.weight.grad += l2_weight * layer.weight
        return loss

    model.train()
    optimizer.step(closure)
    return model.eval()


MINIBATCH_PASSES = 20


def minibatch_profile(profile: Profile) -> Profile:
    """The schedule of a strategy's own mini-batch training (VAAL's networks, learning-loss's joint copy). On a
    full-batch profile (linear) that is Adam at lr 0.01, no weight decay, in batches of `batch_size` for 20 passes
    over the labeled set (`MINIBATCH_PASSES`): the linear profile's schedule before its head trained to
    convergence."""
    if profile.optimizer != "lbfgs":
        return profile
    return profile.with_(optimizer="adam", lr=1e-2, weight_decay=0.0, epochs=MINIBATCH_PASSES)


def make_optimizer(model: nn.Module, profile: Profile) -> torch.optim.Optimizer:
    if profile.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=profile.lr, momentum=profile.momentum,
                               weight_decay=profile.weight_decay, nesterov=profile.momentum > 0)
    return torch.optim.AdamW(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, profile: Profile, steps: int, steps_per_epoch: int):
    """Cosine annealing over all steps, or with `lr_step_epoch` N the released code's one-milestone step: lr x 0.1
    from (1-based) epoch N on (its MultiStepLR is stepped before each epoch, nets.py:42-46)."""
    if not profile.lr_step_epoch:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.1 if step // steps_per_epoch + 1 >= profile.lr_step_epoch else 1.0)


def training_steps(n: int, profile: Profile) -> int:
    return max(profile.epochs * math.ceil(n / profile.batch_size), profile.min_steps)


def image_steps(n: int, profile: Profile) -> int:
    """Images passed forward and backward by one training on n labeled samples: `batches` walks whole epochs of
    n // batch full batches and a last partial one (skipped when it holds a single image)."""
    batch = profile.batch_size
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch >= 2 or (n % batch == 1 and n == 1) else [])
    if not sizes:
        return 0
    epochs, rest = divmod(training_steps(n, profile), len(sizes))
    return epochs * sum(sizes) + sum(sizes[:rest])


def check_precision(name: str, device: torch.device, initialised_here: bool = True) -> None:
    """Refuse a precision that is unknown, or that this device cannot run, with one line naming the choices.
    `initialised_here=False` (a sweep's driver): a GPU's support is left to the job, where CUDA starts anyway."""
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name == "fp32":
        return
    if device.type == "cuda" and not initialised_here:  # the sweep's driver never starts CUDA: its jobs check
        return
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"{torch.cuda.get_device_name(device)} does not run {name}; use --precision fp32")
    if device.type not in ("cuda", "cpu"):
        raise UserError(f"--precision {name} is for CUDA GPUs and CPUs, not {device.type}; use --precision fp32")
    if device.type == "cpu" and not runs_on_cpu(PRECISIONS[name]):
        raise UserError(f"this CPU's torch build cannot train in {name}; use --precision fp32")


def runs_on_cpu(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            conv = nn.Conv2d(1, 1, 3)
            conv(torch.zeros(1, 1, 4, 4)).float().sum().backward()
        return True
    except RuntimeError:
        return False


def autocast(model: nn.Module, device: torch.device):
    """The model's precision (set by `train_model`) as an autocast block; fp32: a block that changes nothing."""
    dtype = PRECISIONS[getattr(model, "precision", "fp32")]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def model_input(x: torch.Tensor, spec: ImageSpec, model: nn.Module) -> torch.Tensor:
    """Normalised images, laid out channels-last where the model is (bf16 on CUDA)."""
    out = normalise(x, spec)
    if getattr(model, "channels_last", False) and out.ndim == 4:
        return out.contiguous(memory_format=torch.channels_last)
    return out


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on `device` without making the host wait for the GPU: a copy from pinned memory is queued
    behind the GPU's work, where a plain copy (`.to`) waits for that work to finish first."""
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def new_model(spec: ImageSpec, profile: Profile, device: torch.device) -> nn.Module:
    """A fresh task model on `device`, tagged with the precision it runs in (read by `autocast`)."""
    model = build_model(profile.model, spec.n_channels, spec.n_classes, profile.dropout, spec.pretrained).to(device)
    model.precision = profile.precision
    model.channels_last = profile.precision != "fp32" and device.type == "cuda"
    return model.to(memory_format=torch.channels_last) if model.channels_last else model


def train_model(x: torch.Tensor, y: torch.Tensor, spec: ImageSpec, profile: Profile, seed: int,
                device: torch.device) -> nn.Module:
    """Train a fresh task model on (x, y) (from scratch, or from the ImageNet weights in `spec.pretrained`):
    retraining each round is the default. Nothing in the step loop waits for the GPU."""
    with seeded(seed, device):
        model = new_model(spec, profile, device)
    if profile.optimizer == "lbfgs":
        if not hasattr(model, "marginal_loss"):
            raise UserError(f"optimizer 'lbfgs' trains the linear head only, not model {profile.model!r}; use "
                            "'adam' or 'sgd'")
        return fit_full_batch(model, normalise(x.to(device), spec), y.to(device), profile)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    steps = training_steps(len(x), profile)
    optimizer = make_optimizer(model, profile)
    schedule = make_schedule(optimizer, profile, steps, math.ceil(len(x) / profile.batch_size))
    model.train()
    with seeded(seed + 1, device):
        for idx in batches(len(x), profile.batch_size, steps, gen):
            xb = x[to_device(idx, x.device)].to(device)
            if profile.augment:
                xb = augment(xb, spec.flips_ok, gen)
            with autocast(model, device):
                loss = F.cross_entropy(model(model_input(xb, spec, model)), to_device(y[idx.to(y.device)], device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.inference_mode()
def forward_pool(model: nn.Module, x: torch.Tensor, spec: ImageSpec, device: torch.device,
                 batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and penultimate embeddings of every image in `x`, in eval mode, on the CPU.

    Each batch's outputs are copied into two arrays allocated once, not kept batch by batch and concatenated: no
    second copy of the outputs, and no small block outliving its batch inside the heap's freed activation blocks,
    where it would keep the next batch from reusing them: with the allocator thresholds that doubled a CIFAR-10
    job's peak memory (docs/cpu-performance.md, "Peak memory")."""
    model.eval()
    if not len(x):
        return torch.empty(0, spec.n_classes), torch.empty(0, 0)
    logits = embeddings = None
    for start in range(0, len(x), batch_size):
        with autocast(model, device):
            emb = model.embed(model_input(x[start:start + batch_size].to(device), spec, model))
            out = model.head(emb)
        if logits is None:
            logits, embeddings = torch.empty(len(x), out.shape[1]), torch.empty(len(x), emb.shape[1])
        logits[start:start + len(out)] = out.float().cpu()
        embeddings[start:start + len(out)] = emb.float().cpu()
    return logits, embeddings


@torch.inference_mode()
def pool_logits(model: nn.Module, x: torch.Tensor, rows: np.ndarray, spec: ImageSpec, device: torch.device,
                batch_size: int = 1024) -> torch.Tensor:
    """Logits of the images `x[rows]`, in eval mode, on the CPU: the batches of `forward_pool(model, x[rows])`,
    gathered one at a time and without the embeddings, so nothing of size len(rows) x d is ever held."""
    model.eval()
    out = torch.empty(len(rows), spec.n_classes)
    for start in range(0, len(rows), batch_size):
        batch = x[torch.as_tensor(rows[start:start + batch_size], device=x.device)]
        with autocast(model, device):
            logits = model.head(model.embed(model_input(batch.to(device), spec, model)))
        out[start:start + batch_size] = logits.float().cpu()
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
