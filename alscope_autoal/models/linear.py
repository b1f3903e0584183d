"""The `linear` profile's task model: dropout, then one linear layer, on frozen embeddings.

`embed` is the identity, so embedding strategies (core-set, BADGE, ...) read the encoder's embeddings, and the
dropout before the layer gives MC-dropout strategies something to sample, as in the CNNs.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    def __init__(self, in_channels: int, n_classes: int, dropout: float = 0.3):
        super().__init__()
        self.embedding_dim = in_channels  # the encoder's embedding size, passed where CNNs take channels
        self.features = nn.Identity()  # a named tap: learning-loss reads the embedding here
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    def loss_taps(self) -> list[nn.Module]:
        return [self.features]
