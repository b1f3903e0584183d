"""ImageNet-initialised ResNet-18 as the released AutoAL code builds it, and the torchvision weights it starts from.

The released code (github.com/haizailache999/AutoAL, nets.py:290-298, `CIFAR10_Net`; `MedMNIST_Net` at 376-384 is
the same) loads torchvision's ResNet-18 with `ResNet18_Weights.IMAGENET1K_V1`, keeps every child but `fc`
(so the 3x3 max-pool stays: its layer outputs are 16, 8, 4 and 2 pixels wide on 32x32 images, nets.py:339-342),
replaces the 7x7 stem by a fresh 3x3 stride-1 convolution and puts a fresh linear classifier on the 512 pooled
features. We add the profile's dropout before the classifier, as in every task model here.

The weights are torchvision's file, read from `DATA_DIR/weights/` (no network needed) or fetched with
`--download`; like torchvision, the file name carries the first hex digits of its SHA-256, checked on load.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..errors import UserError
from .classifier import EmbedThenClassify

WEIGHTS_FILE = "resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_FILE}"
WEIGHTS_FOLDER = "weights"  # inside the data folder


class ResNet18ImageNet(EmbedThenClassify):
    embedding_dim = 512
    weights_file = WEIGHTS_FILE  # the loop loads this file for the model (`needs_weights`)

    def __init__(self, in_channels: int, n_classes: int, dropout: float = 0.3,
                 pretrained: Mapping[str, torch.Tensor] | None = None):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        if pretrained is not None:
            net.load_state_dict(pretrained)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)  # nets.py:295
        self.features = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2,
                                      net.layer3, net.layer4, net.avgpool, nn.Flatten())
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(512, n_classes)  # nets.py:297

    def loss_taps(self) -> list[nn.Module]:
        """The residual blocks, for learning-loss (it keeps the last of each stage)."""
        return [block for layer in self.features[4:8] for block in layer]


def needs_weights(model_class: type) -> bool:
    return getattr(model_class, "weights_file", None) is not None


def weights_path(weights_dir: Path, file_name: str = WEIGHTS_FILE) -> Path:
    return Path(weights_dir) / WEIGHTS_FOLDER / file_name


def hash_prefix(file_name: str) -> str:
    """The SHA-256 prefix a torchvision weights file carries in its name ("resnet18-f37072fd.pth" -> "f37072fd")."""
    match = re.search(r"-([a-f0-9]+)\.", file_name)
    return match.group(1) if match else ""


def check_weights(data_dir: Path, download: bool, file_name: str = WEIGHTS_FILE) -> Path:
    """The weights file under `data_dir`, fetched first with `download`; a missing file is a one-line error."""
    path = weights_path(data_dir, file_name)
    if path.is_file():
        return path
    if not download:
        raise UserError(f"pretrained weights {file_name} not found: put torchvision's file ({WEIGHTS_URL}) in "
                        f"{path.parent}/, or add --download")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(path), hash_prefix=hash_prefix(file_name))
    except (OSError, RuntimeError) as exc:  # no network, a full disk, or a file whose hash does not match
        raise UserError(f"could not fetch {WEIGHTS_URL} ({exc}); put the file in {path.parent}/ by hand") from exc
    return path


@functools.lru_cache(maxsize=2)
def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in `path` (on the CPU), after checking its SHA-256 against the prefix in its name."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if not digest.startswith(hash_prefix(Path(path).name)):
        raise UserError(f"{path} is damaged or not torchvision's file (its SHA-256 starts {digest[:8]}, its name "
                        f"says {hash_prefix(Path(path).name)}): delete it and fetch it again ({WEIGHTS_URL})")
    return torch.load(path, map_location="cpu", weights_only=True)
