"""A small CNN that trains in seconds on a CPU and works on any image size from 8x8 up (global pooling)."""

from __future__ import annotations

from torch import nn

from .classifier import EmbedThenClassify


def conv_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return nn.Sequential(*layers)


class SmallCNN(EmbedThenClassify):
    embedding_dim = 128

    def __init__(self, in_channels: int, n_classes: int, dropout: float = 0.3, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            conv_block(in_channels, width, pool=True),
            conv_block(width, 2 * width, pool=True),
            conv_block(2 * width, self.embedding_dim, pool=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.embedding_dim, n_classes)
