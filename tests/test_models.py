"""Task models and training helpers: shapes, embeddings, dropout, augmentation, schedules."""

from __future__ import annotations

import pytest
import torch

from alscope_autoal.models import build_model
from alscope_autoal.training import augment, batches


@pytest.mark.parametrize("name, size, dim", [("small-cnn", 8, 128), ("small-cnn", 28, 128), ("resnet18", 32, 512)])
def test_models_give_logits_embeddings_and_have_dropout(name, size, dim):
    model = build_model(name, in_channels=3, n_classes=7, dropout=0.5).eval()
    x = torch.randn(4, 3, size, size)
    emb = model.embed(x)
    assert emb.shape == (4, dim)
    assert torch.allclose(model.head(emb), model(x))
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in model.modules())


def windows(image: torch.Tensor) -> list[torch.Tensor]:
    """Every 6x6 window of the image after the 4-pixel reflection padding that `augment` uses."""
    padded = torch.nn.functional.pad(image[None], (4, 4, 4, 4), mode="reflect")[0]
    return [padded[:, dy:dy + 6, dx:dx + 6] for dy in range(9) for dx in range(9)]


def test_augmentation_crops_windows_and_flips_only_when_allowed():
    x = torch.randn(16, 1, 6, 6)
    plain = augment(x, flips_ok=False, gen=torch.Generator().manual_seed(0))
    assert all(any(torch.equal(out, w) for w in windows(img)) for out, img in zip(plain, x))
    # the same seed draws the same crops; with flips allowed, some of them come out mirrored
    flipped = augment(x, flips_ok=True, gen=torch.Generator().manual_seed(0))
    mirrored = [torch.equal(f, p.flip(-1)) and not torch.equal(f, p) for f, p in zip(flipped, plain)]
    assert all(m or torch.equal(f, p) for m, f, p in zip(mirrored, flipped, plain))
    assert 0 < sum(mirrored) < len(x)


def test_batches_give_the_requested_number_of_steps_without_singletons():
    gen = torch.Generator().manual_seed(0)
    chunks = list(batches(n=5, batch_size=4, steps=7, gen=gen))
    assert len(chunks) == 7 and all(len(c) >= 2 for c in chunks)
