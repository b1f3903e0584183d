"""The `linear` profile's task model: dropout, then one linear layer, on frozen embeddings.

`embed` is the identity, so embedding strategies (core-set, BADGE, ...) read the encoder's embeddings, and the
dropout before the layer gives MC-dropout strategies something to sample, as in the CNNs.
"""

from __future__ import annotations

from torch import nn

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
