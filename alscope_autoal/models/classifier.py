"""What every task model shares: `features` to an embedding, then dropout and a linear `classifier`.

Embedding strategies read `embed`, gradient strategies `head`; MC-dropout strategies sample the dropout between
them.
"""

from __future__ import annotations

import torch
from torch import nn


class EmbedThenClassify(nn.Module):
    """Subclasses set `self.features`, `self.dropout` and `self.classifier`."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
