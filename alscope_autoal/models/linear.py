"""The `linear` profile's task model: dropout, then one linear layer, on frozen embeddings.

`embed` is the identity, so embedding strategies (core-set, BADGE, ...) read the encoder's embeddings, and the
dropout before the layer gives MC-dropout strategies something to sample, as in the CNNs.

It trains on `marginal_loss`, the dropout objective with the dropout noise integrated out to second order, so a
deterministic full-batch optimiser (L-BFGS, `training.fit_full_batch`) fits it in a few dozen passes instead of
hundreds of noisy mini-batch steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .classifier import EmbedThenClassify


class LinearHead(EmbedThenClassify):
    def __init__(self, in_channels: int, n_classes: int, dropout: float = 0.3):
        super().__init__()
        self.embedding_dim = in_channels  # the encoder's embedding size, passed where CNNs take channels
        self.features = nn.Identity()  # a named tap: learning-loss reads the embedding here
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels, n_classes)

    def loss_taps(self) -> list[nn.Module]:
        return [self.features]

    def marginal_loss(self, x: torch.Tensor, y: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy under this head's dropout, marginalised to second order (Wager, Wang & Liang,
        "Dropout training as adaptive regularization", NeurIPS 2013): the loss at the mean logits z = Wx + b plus
        1/2 tr(H Cov), where Cov = p/(1-p) W diag(x^2) W^T is the covariance dropout gives the logits and
        H = diag(s) - s s^T the softmax Hessian at z (s = softmax(z)). `x2`: x * x, passed when x is reused."""
        weight, p = self.classifier.weight, self.dropout.p
        x2 = x * x if x2 is None else x2
        logits = self.classifier(x)
        probs = logits.softmax(1)
        spread = (probs * (x2 @ (weight * weight).T)).sum(1) - (x2 * (probs @ weight) ** 2).sum(1)
        return F.cross_entropy(logits, y) + 0.5 * p / (1 - p) * spread.mean()

    @torch.no_grad()
    def marginal_loss_and_grads(self, x: torch.Tensor, y: torch.Tensor,
                                x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`marginal_loss` and its gradients with respect to the layer's weight and bias, in closed form: the same
        objective without an autograd graph. With m = s W (the softmax-weighted weights) and A = x2 (W*W)^T, the
        spread is sum_c s_c A_c - sum_j x2_j m_j^2, and sum_j x2_j m_j^2 = sum_c s_c B_c with B = (x2 m) W^T, so
        one (n x dim) element-wise product (x2 m) is the only pass over the data outside the matrix products. The
        spread's derivative is A - 2B through s, and 2 (s^T x2 * W - s^T (x2 m)) through W directly."""
        weight, n = self.classifier.weight, len(y)
        scale = 0.5 * self.dropout.p / (1 - self.dropout.p)
        shifted = torch.addmm(self.classifier.bias, x, weight.T)
        shifted -= shifted.max(1, keepdim=True).values
        probs = shifted.exp()
        total = probs.sum(1, keepdim=True)
        probs /= total  # softmax and cross-entropy by hand: torch's kernels are slow across a few classes
        rows = torch.arange(n)
        cross_entropy = (total.squeeze(1).log() - shifted[rows, y]).mean()
        spread_by_class = x2 @ (weight * weight).T
        x2_mixed = x2 * (probs @ weight)
        mixed_by_class = x2_mixed @ weight.T
        spread = (probs * (spread_by_class - mixed_by_class)).sum(1)
        loss = cross_entropy + scale * spread.mean()
        d_probs = (scale / n) * (spread_by_class - 2 * mixed_by_class)
        d_logits = probs * (d_probs - (probs * d_probs).sum(1, keepdim=True)) + probs / n
        d_logits[rows, y] -= 1 / n
        through_weight = (probs.T @ x2) * weight - probs.T @ x2_mixed
        d_weight = torch.addmm(through_weight, d_logits.T, x, alpha=1.0, beta=2 * scale / n)
        return loss, d_weight, d_logits.sum(0)
