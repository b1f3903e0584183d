"""AutoAL's two networks: FitNet (a classifier, Omega_F) and SearchNet (per-sample candidate weights, Omega_S)
with a loss-prediction head (Yoo & Kweon 2019) on its intermediate features.

Both are built on the profile's backbone family: the small CNN of the CPU profiles, the CIFAR-style ResNet-18
of the paper profile, or on frozen embeddings (linear profile) a small MLP. SearchNet's trunk is cut into stages
so the loss head can read every stage's output.
"""

from __future__ import annotations

import torch
from torch import nn

from ...models.classifier import EmbedThenClassify
from ...models.resnet import ResNet18
from ...models.small_cnn import SmallCNN, conv_block

BACKBONES = ("small-cnn", "resnet18", "mlp")


class MLP(EmbedThenClassify):
    """FitNet on embeddings: one hidden ReLU layer of `width` units, dropout before the classifier."""

    def __init__(self, in_dim: int, n_classes: int, width: int, dropout: float = 0.0):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(in_dim, width), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, n_classes)


class GlobalPool(nn.Module):
    """Average over the spatial dimensions of conv features; MLP features, already vectors, pass unchanged."""

    def __init__(self):
        super().__init__()
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) if x.ndim == 4 else x


def fitnet(backbone: str, in_channels: int, n_classes: int, width: int, dropout: float = 0.0) -> nn.Module:
    """FitNet: the task-model architecture. Dropout only where the MC-dropout candidates score L_val with it."""
    if backbone == "small-cnn":
        return SmallCNN(in_channels, n_classes, dropout=dropout, width=width)
    if backbone == "resnet18":
        return ResNet18(in_channels, n_classes, dropout=dropout)
    if backbone == "mlp":
        return MLP(in_channels, n_classes, width, dropout)
    raise ValueError(f"unknown AutoAL backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


def trunk_stages(backbone: str, in_channels: int, width: int) -> tuple[nn.ModuleList, list[int]]:
    """The backbone as a list of stages and each stage's channel count (the loss head taps every stage)."""
    if backbone == "small-cnn":
        channels = [width, 2 * width, 4 * width]
        stages = [conv_block(in_channels, channels[0], True), conv_block(channels[0], channels[1], True),
                  conv_block(channels[1], channels[2], False)]
        return nn.ModuleList(stages), channels
    if backbone == "resnet18":
        net = ResNet18(in_channels, 1, dropout=0.0)
        blocks = list(net.stages)
        stages = [nn.Sequential(net.stem, *blocks[:2])] + [nn.Sequential(*blocks[i:i + 2]) for i in (2, 4, 6)]
        return nn.ModuleList(stages), [64, 128, 256, 512]
    if backbone == "mlp":  # in_channels: the embedding size
        stages = [nn.Sequential(nn.Linear(in_channels, width), nn.ReLU()), nn.Sequential(nn.Linear(width, width),
                                                                                          nn.ReLU())]
        return nn.ModuleList(stages), [width, width]
    raise ValueError(f"unknown AutoAL backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")


class LossHead(nn.Module):
    """Learning-loss module: global-average-pool each stage, a small FC per stage, concatenate, predict a scalar.

    It reads detached features, so its ranking loss trains only the head; SearchNet's trunk is shaped by the
    selection objective alone (which keeps SearchNet's gradient norm a clean diagnostic of that objective).
    """

    def __init__(self, channels: list[int], hidden: int = 64):
        super().__init__()
        self.taps = nn.ModuleList(nn.Sequential(GlobalPool(), nn.Linear(c, hidden), nn.ReLU()) for c in channels)
        self.out = nn.Linear(hidden * len(channels), 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.out(torch.cat([tap(f.detach()) for tap, f in zip(self.taps, features)], 1)).squeeze(1)


class SearchNet(nn.Module):
    """Per-sample weights over K candidates (softmax, DARTS-style), the global mixing logits Theta, and the
    loss-prediction head. `forward` returns (weights (n, K), predicted loss (n,))."""

    def __init__(self, backbone: str, in_channels: int, n_candidates: int, width: int, mixing: str = "sigmoid"):
        super().__init__()
        self.mixing_kind = mixing  # "sigmoid": lambda * sigmoid(Theta) (paper); "softmax": softmax(Theta)
        self.stages, channels = trunk_stages(backbone, in_channels, width)
        self.pool = GlobalPool()
        self.weight_head = nn.Linear(channels[-1], n_candidates)
        self.theta = nn.Parameter(torch.zeros(n_candidates))  # architecture logits: lambda * sigmoid(theta)
        self.loss_head = LossHead(channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        weights = torch.softmax(self.weight_head(self.pool(x)), dim=1)
        return weights, self.loss_head(features)

    def selection_parameters(self) -> list[nn.Parameter]:
        """The parameters the selection objective trains (trunk, weight head, Theta), not the loss head."""
        return [*self.stages.parameters(), *self.weight_head.parameters(), self.theta]

    def mixing(self, scale: float = 1.0) -> torch.Tensor:
        """The global trust in each candidate: lambda * sigmoid(Theta) (paper Eq. 6), or softmax(Theta), where
        the candidates compete for one unit of trust."""
        if self.mixing_kind == "softmax":
            return scale * torch.softmax(self.theta, 0)
        return scale * torch.sigmoid(self.theta)
