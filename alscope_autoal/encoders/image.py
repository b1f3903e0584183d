"""Image encoders: torchvision's ImageNet `resnet50` (2048-d, global average pool) and `vit-b16` (768-d class
token), and DINOv2 ViT-S/14 `dinov2-s14` (384-d, the layer-normed class token, via `transformers`).

Every image is scaled to 0-1, grey images repeated to 3 channels, resized to 224 x 224 (bilinear, antialiased;
no crop: the sets here are small centred images a crop would cut) and normalised with ImageNet's mean and std,
as the weights were trained. Weights come from `DATA_DIR/weights/` (torchvision's file name, or the
`dinov2-small/` model folder), or torch's own checkpoint cache; `--download` fetches them into the first place.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import UserError
from .base import WEIGHTS_DIR, Encoder, encoding_device, missing_weights, needs_transformers

SIDE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION = {  # encoder -> (builder name, weights enum name, weights member, embedding size)
    "resnet50": ("resnet50", "ResNet50_Weights", "IMAGENET1K_V2", 2048),
    "vit-b16": ("vit_b_16", "ViT_B_16_Weights", "IMAGENET1K_V1", 768),
}
DINOV2_HUB_ID = "facebook/dinov2-small"
DINOV2_FOLDER = "dinov2-small"
DINOV2_SMALL = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
                    image_size=518, layerscale_value=1.0)


def preprocess(images: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """uint8 (n, C, H, W) -> normalised float (n, 3, side, side)."""
    x = images.float() / 255
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def image_encoder(name: str, dim: int, net: nn.Module, features: Callable[[torch.Tensor], torch.Tensor]) -> Encoder:
    device = encoding_device()
    net.eval().to(device)
    return Encoder(name, "image", dim, lambda images: features(preprocess(images.to(device))))


def torchvision_weights(name: str):
    import torchvision.models as tvm

    _, enum_name, member, _ = TORCHVISION[name]
    return getattr(getattr(tvm, enum_name), member)


def torchvision_file(name: str, data_dir: Path, download: bool) -> Path:
    """The weights file: DATA_DIR/weights/<torchvision's file name>, else torch's checkpoint cache."""
    weights = torchvision_weights(name)
    file_name = weights.url.rsplit("/", 1)[1]
    local = data_dir / WEIGHTS_DIR / file_name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / file_name
    if local.is_file():
        return local
    if cached.is_file():
        return cached
    if not download:
        raise missing_weights(name, local, weights.url)
    local.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(weights.url, str(local), progress=True)  # a temporary file, then renamed
    return local


def build_torchvision(name: str) -> Callable[[Path, bool, int | None], Encoder]:
    def build(data_dir: Path, download: bool, random_seed: int | None = None) -> Encoder:
        import torchvision.models as tvm

        builder, _, _, dim = TORCHVISION[name]
        if random_seed is None:
            path = torchvision_file(name, data_dir, download)
            net = getattr(tvm, builder)(weights=None)
            try:
                net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
                raise UserError(f"the weights file {path} of encoder {name!r} does not load "
                                f"({str(exc).splitlines()[0]}); delete it and rerun with --download") from None
        else:  # the same architecture with random weights (tests)
            with torch.random.fork_rng():
                torch.manual_seed(random_seed)
                net = getattr(tvm, builder)(weights=None)
        if name == "resnet50":
            net.fc = nn.Identity()  # the 2048-d pooled features
        else:
            net.heads = nn.Identity()  # the 768-d class token after the final layer norm
        return image_encoder(name, dim, net, net)

    return build


def dinov2_folder(data_dir: Path, download: bool) -> Path:
    local = data_dir / WEIGHTS_DIR / DINOV2_FOLDER
    if (local / "model.safetensors").is_file():
        return local
    if not download:
        raise missing_weights("dinov2-s14", local, f"the hub's {DINOV2_HUB_ID}")
    from huggingface_hub import snapshot_download

    snapshot_download(DINOV2_HUB_ID, local_dir=str(local), allow_patterns=["config.json", "model.safetensors"])
    return local


def build_dinov2(data_dir: Path, download: bool, random_seed: int | None = None) -> Encoder:
    try:
        from transformers import Dinov2Config, Dinov2Model
    except ImportError:
        raise needs_transformers("dinov2-s14") from None
    from .text import quiet_transformers

    if random_seed is None:
        folder = dinov2_folder(data_dir, download)
        quiet_transformers()
        net = Dinov2Model.from_pretrained(str(folder))
    else:
        with torch.random.fork_rng():
            torch.manual_seed(random_seed)
            net = Dinov2Model(Dinov2Config(**DINOV2_SMALL))
    return image_encoder("dinov2-s14", DINOV2_SMALL["hidden_size"], net, lambda x: net(pixel_values=x).pooler_output)


def dinov2_files(data_dir: Path, download: bool) -> list[Path]:
    folder = dinov2_folder(data_dir, download)
    return [folder / "config.json", folder / "model.safetensors"]


def torchvision_files(name: str) -> Callable[[Path, bool], list[Path]]:
    return lambda data_dir, download: [torchvision_file(name, data_dir, download)]
