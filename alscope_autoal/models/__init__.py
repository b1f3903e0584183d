"""Task models. Each returns logits from `forward`, its penultimate features from `embed`, and maps features to
logits with `head`, so strategies can use embeddings (core-set, BADGE) and MC dropout without knowing the model."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..registry import Registry
from .linear import LinearHead
from .pretrained import ResNet18ImageNet, needs_weights
from .resnet import ResNet18
from .small_cnn import SmallCNN

MODELS: Registry[type[nn.Module]] = Registry("model")
MODELS.add("small-cnn", SmallCNN, "three conv blocks, global pooling, dropout before the classifier (CPU profiles)")
MODELS.add("resnet18", ResNet18, "CIFAR-style ResNet-18 (3x3 stem, no max-pool) with dropout before the classifier")
MODELS.add("resnet18-imagenet", ResNet18ImageNet,
           "torchvision ResNet-18 from ImageNet weights, new 3x3 stem, max-pool kept (the released AutoAL code)")
MODELS.add("linear", LinearHead, "dropout then one linear layer on frozen encoder embeddings (linear profile)")


def build_model(name: str, in_channels: int, n_classes: int, dropout: float,
                pretrained: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """A fresh model; `pretrained`: the weights a model that starts from them loads (random init without)."""
    cls = MODELS.get(name)
    extra = {"pretrained": pretrained} if needs_weights(cls) else {}
    return cls(in_channels=in_channels, n_classes=n_classes, dropout=dropout, **extra)
