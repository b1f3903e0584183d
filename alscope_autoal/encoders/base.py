"""What every encoder is: a frozen network that maps a dataset's samples to one float32 vector each, plus the
fingerprint of its weights (the embedding cache is keyed by it). Weights live under `DATA_DIR/weights/`."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from ..errors import UserError

WEIGHTS_DIR = "weights"
BATCH_SIZE = 64


@dataclass
class Encoder:
    name: str
    modality: str  # "text" or "image"
    dim: int
    embed_batch: Callable[[Sequence], torch.Tensor]  # a batch of samples -> (n, dim) float embeddings
    length: Callable[[object], int] | None = None  # texts: batch by length, so batches carry little padding

    @torch.inference_mode()
    def encode(self, samples: Sequence, progress: str = "") -> np.ndarray:
        """(N, dim) float32 embeddings of `samples` (texts, or a uint8 image tensor), in the samples' order."""
        from tqdm import tqdm

        out = np.empty((len(samples), self.dim), dtype=np.float32)
        order = (np.argsort([self.length(s) for s in samples], kind="stable") if self.length
                 else np.arange(len(samples)))
        starts = range(0, len(samples), BATCH_SIZE)
        for start in tqdm(starts, desc=progress, unit="batch", disable=None if progress else True, leave=False):
            idx = order[start:start + BATCH_SIZE]
            out[idx] = self.embed_batch(take(samples, idx)).float().cpu().numpy()
        return out


def take(samples: Sequence, idx: np.ndarray) -> Sequence:
    if isinstance(samples, torch.Tensor):
        return samples[torch.as_tensor(idx)]
    return [samples[i] for i in idx]


@dataclass(frozen=True)
class EncoderInfo:
    """A registered encoder: its modality and size, where its weights are (found, or fetched with `download`),
    and how to build it from them. `random_seed` builds the same architecture with seeded random weights."""

    modality: str
    dim: int
    weights: Callable[[Path, bool], list[Path]]  # (data_dir, download) -> the files that make the weights
    build: Callable[[Path, bool, int | None], Encoder]  # (data_dir, download, random_seed) -> Encoder

    def fingerprint(self, data_dir: Path, download: bool, random_seed: int | None = None) -> str:
        """The weights' identity, without loading the network: the sha256 of their files."""
        if random_seed is not None:
            return f"random-seed{random_seed}"
        return files_fingerprint(self.weights(data_dir, download))


def files_fingerprint(paths: Sequence[Path]) -> str:
    return _files_fingerprint(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths))


@functools.lru_cache(maxsize=16)
def _files_fingerprint(stamped: tuple[tuple[str, int, int], ...]) -> str:
    """Hashed once per process and file version (size and mtime in the key): jobs of a sweep share one."""
    digest = hashlib.sha256()
    for name, _, _ in sorted(stamped, key=lambda item: Path(item[0]).name):
        digest.update(Path(name).name.encode() + b"\0")
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def encoding_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def missing_weights(encoder: str, path: Path, hint: str) -> UserError:
    return UserError(f"no weights for encoder {encoder!r} at {path}: rerun with --download to fetch them "
                     f"({hint}), or put the file there")


def needs_transformers(encoder: str) -> UserError:
    return UserError(f"encoder {encoder!r} needs the transformers package: pip install 'alscope-autoal[text]'")
