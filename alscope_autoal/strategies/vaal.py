"""VAAL, variational adversarial active learning (Sinha, Ebrahimi & Darrell 2019): a VAE learns a latent
space of labeled and unlabeled images while a discriminator learns to tell labeled from unlabeled latents and
the VAE learns to fool it; the samples the discriminator rates least likely to be labeled are queried.

VAAL's networks are independent of the task model, so they are trained inside `select`, from scratch each round
(as the authors' code does), with seeds derived from `ctx.seed` and the round; other strategies pay nothing.
Scaled to this suite: images are resized to 32 x 32, the VAE is a 3-stage conv net (`width` x 1, 2, 4
channels: 32-64-128 by default; latent 32), the discriminator the paper's 3-layer MLP; both use Adam at 5e-4,
beta = 1 and adversary weight 1, one VAE and one discriminator step per iteration, and the profile's step count
over the labeled set (epochs x batches, at least `min_steps`), so the smoke profile trains in a blink.

On embeddings (the linear profile) the VAE is an MLP and both networks are 128 units wide (`EMBEDDING_WIDTH`): the
VAE two 128-unit layers each way around the 32-d latent, the discriminator the paper's 3-layer MLP at 128 units
instead of 512. They train for 20 passes over the labeled set (`training.MINIBATCH_PASSES`), no
longer at least 300 steps. The paper sized its networks for 32 x 32 images and trained them as long as the task
network (100 epochs, conv VAE); a 384-d embedding of a few thousand sentences needs neither, and at 512 units the
two networks' products cost about 16x more per step for a selection the task model's own training no longer
outweighs (docs/frozen-encoders.md measures the cost per job).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..seeds import derive_seed
from ..training import minibatch_profile, normalise, seeded
from .base import QueryContext, Selection, top_k

SIDE = 32
EMBEDDING_WIDTH = 128  # hidden units of the VAE and the discriminator on embeddings


def down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class VAE(nn.Module):
    def __init__(self, channels: int, z_dim: int = 32, width: int = 32):
        super().__init__()
        w = width
        self.width = w
        self.encoder = nn.Sequential(down(channels, w), down(w, 2 * w), down(2 * w, 4 * w), nn.Flatten())
        self.mu, self.logvar = nn.Linear(4 * w * 16, z_dim), nn.Linear(4 * w * 16, z_dim)
        self.expand = nn.Linear(z_dim, 4 * w * 16)
        self.decoder = nn.Sequential(up(4 * w, 2 * w), up(2 * w, w), nn.ConvTranspose2d(w, channels, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(self.expand(z).view(-1, 4 * self.width, 4, 4)), mu, logvar


class VectorVAE(nn.Module):
    """VAAL's VAE for embedding inputs (linear profile): two `hidden`-unit layers each way around the latent."""

    def __init__(self, dim: int, z_dim: int = 32, hidden: int = EMBEDDING_WIDTH):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu, self.logvar = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        return self.decoder(mu + torch.randn_like(mu) * (0.5 * logvar).exp()), mu, logvar


def discriminator(z_dim: int = 32, hidden: int = 512) -> nn.Sequential:
    return nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(0, I)), summed over latent dimensions and the batch as in the authors' code.
    A mean over both would shrink beta by batch size x latent size (2,048 at batch 64) and leave a near-plain
    autoencoder."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()


def vae_loss(vae: VAE, x: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean reconstruction MSE plus beta times the summed KL term, as the authors' code."""
    recon, mu, logvar = vae(x)
    return F.mse_loss(recon, x) + beta * kl_to_standard_normal(mu, logvar), mu


class VAAL:
    def __init__(self, beta: float = 1.0, adversary_weight: float = 1.0, lr: float = 5e-4, width: int = 32):
        self.beta, self.adversary_weight, self.lr, self.width = beta, adversary_weight, lr, width

    def images(self, ctx: QueryContext, idx: torch.Tensor) -> torch.Tensor:
        x = normalise(ctx.x[idx.to(ctx.x.device)].to(ctx.device), ctx.spec)
        if x.ndim == 2:  # embeddings
            return x
        return F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)

    def train(self, ctx: QueryContext, labeled: np.ndarray, unlabeled: np.ndarray, seed: int):
        with seeded(seed, ctx.device):
            if ctx.x.ndim == 4:
                vae, disc = VAE(ctx.spec.n_channels, width=self.width), discriminator()
            else:
                vae, disc = VectorVAE(ctx.spec.n_channels), discriminator(hidden=EMBEDDING_WIDTH)
            vae, disc = vae.to(ctx.device), disc.to(ctx.device)
        opt_vae = torch.optim.Adam(vae.parameters(), lr=self.lr)
        opt_disc = torch.optim.Adam(disc.parameters(), lr=self.lr)
        profile = minibatch_profile(ctx.profile)
        steps = max(profile.epochs * math.ceil(len(labeled) / profile.batch_size), profile.min_steps)
        gen = torch.Generator().manual_seed(seed)
        lab, unl = torch.as_tensor(labeled), torch.as_tensor(unlabeled)
        vae.train(), disc.train()
        with seeded(seed + 1, ctx.device):
            for _ in range(steps):
                xl = self.images(ctx, lab[torch.randint(len(lab), (profile.batch_size,), generator=gen)])
                xu = self.images(ctx, unl[torch.randint(len(unl), (profile.batch_size,), generator=gen)])
                (loss_l, mu_l), (loss_u, mu_u) = vae_loss(vae, xl, self.beta), vae_loss(vae, xu, self.beta)
                ones = torch.ones(len(xl), device=ctx.device)
                fool = F.binary_cross_entropy_with_logits(disc(torch.cat([mu_l, mu_u])).squeeze(1),
                                                          torch.cat([ones, ones]))
                opt_vae.zero_grad(set_to_none=True)
                (loss_l + loss_u + self.adversary_weight * fool).backward()
                opt_vae.step()
                logits = disc(torch.cat([mu_l, mu_u]).detach()).squeeze(1)
                d_loss = F.binary_cross_entropy_with_logits(logits, torch.cat([ones, torch.zeros_like(ones)]))
                opt_disc.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_disc.step()
        return vae.eval(), disc.eval()

    @torch.inference_mode()
    def labeled_probability(self, ctx: QueryContext, vae: nn.Module, disc: nn.Module, candidates: np.ndarray):
        out, bs = [], ctx.profile.eval_batch_size
        for start in range(0, len(candidates), bs):
            mu = vae.mu(vae.encoder(self.images(ctx, torch.as_tensor(candidates[start:start + bs]))))
            out.append(torch.sigmoid(disc(mu).squeeze(1)).float().cpu())
        return torch.cat(out)

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        vae, disc = self.train(ctx, ctx.pool.labeled_indices(), candidates,
                               derive_seed(ctx.seed, "vaal", ctx.round))
        return Selection(candidates[top_k(-self.labeled_probability(ctx, vae, disc, candidates), budget, rng)])
