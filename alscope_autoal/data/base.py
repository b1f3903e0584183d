"""The in-memory form every loader returns, and the file helpers they share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import DataError


@dataclass
class ImageDataset:
    """Images as uint8 tensors (N, C, H, W) and labels as int64, kept whole in memory.

    Subsets are cut by index; nothing is rebuilt per round.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    fingerprint: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of its bytes
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    flips_ok: bool = False  # horizontal flips keep the label (natural images, not digits)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and std of the training images, on the 0-1 scale (embeddings: unused, 0 and 1)."""
        if self.train_x.ndim == 2:
            return torch.zeros(self.n_channels), torch.ones(self.n_channels)
        x = self.train_x.float().div_(255)
        return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)).clamp_min(1e-3)


@dataclass
class TextDataset:
    """Sentences and int64 labels; a job reads them only through an encoder's cached embeddings."""

    name: str
    train_texts: list[str]
    train_y: torch.Tensor
    test_texts: list[str]
    test_y: torch.Tensor
    classes: list[str]
    fingerprint: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of its bytes

    @property
    def n_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to read it from disk and, for users with a network, how to fetch it."""

    load: Callable[[Path], "ImageDataset | TextDataset"]
    layout: str  # where the official files sit under the data dir, shown in errors
    download: Callable[[Path], None] | None = None
    modality: str = "image"  # or "text": which encoders can embed it
    citation: str = ""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_file(path: Path, dataset: str, layout: str) -> Path:
    """Return `path` if it exists, else a one-line error that says how to get it."""
    if not path.is_file():
        raise DataError(
            f"missing file {path} for dataset {dataset!r}: expected {layout}; "
            f"rerun with --download to fetch it, or point --data-dir at a folder that holds it"
        )
    return path


def corrupt(path: Path, dataset: str, reason: object) -> DataError:
    return DataError(
        f"cannot read {path} for dataset {dataset!r} ({reason}); the file looks corrupt: "
        f"delete it and rerun with --download, or replace it with the official file"
    )


def to_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, H, W) or (N, C, H, W) uint8 plus labels -> contiguous (N, C, H, W) uint8 and int64 tensors."""
    if x.ndim == 3:
        x = x[:, None]
    return torch.from_numpy(np.array(x, dtype=np.uint8, order="C")), torch.from_numpy(
        np.asarray(y, dtype=np.int64).reshape(-1).copy()
    )
