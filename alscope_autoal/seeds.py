"""Per-purpose seeds derived by hashing names (docs/protocol.md, "Seeds and pairing").

One repetition seed fans out into independent streams: the data split and the initial labeled set depend only on
(dataset, setting, seed), so every strategy of a repetition starts from the same labeled set, while model
initialisation and strategy randomness get their own streams.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np


def derive_seed(seed: int, *purpose: object) -> int:
    """A 63-bit seed that depends only on `seed` and the purpose names."""
    text = json.dumps([seed, *purpose], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rng_for(seed: int, *purpose: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *purpose))
