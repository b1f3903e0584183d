"""The two ResNet-18 regimes: `released` (the released AutoAL code's values, each checked against that code) and
`paper` (from scratch, ids unchanged); the ImageNet-initialised model and its weights file, with random weights."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.errors import UserError
from alscope_autoal.identity import resolve
from alscope_autoal.loop import job_profile, pretrained_weights
from alscope_autoal.models import build_model
from alscope_autoal.models.pretrained import WEIGHTS_FILE, ResNet18ImageNet, load_weights, weights_path
from alscope_autoal.profiles import PROFILES
from alscope_autoal.spec import JobSpec
from alscope_autoal.training import ImageSpec, make_optimizer, make_schedule, new_model

runner = CliRunner()

# The released code, github.com/haizailache999/AutoAL at commit 5200ce7, as its files give the values.
RELEASED_BUDGET = (2000, 1000, 18000 // 1000)  # arguments.py:24 initseed, :17 batch, :16 quota / batch
RELEASED = {  # dataset: (n_epoch, optimizer, lr, weight decay (AdamW's default 1e-2 where none is given))
    "cifar10": (200, "sgd", 0.001, 5e-4),  # parameters.py:124,139,140
    "svhn": (200, "adam", 0.001, 5e-4),  # parameters.py:112,118,121
    "cifar100": (200, "adam", 0.001, 1e-2),  # parameters.py:195,207,209
    "dermamnist": (400, "adam", 0.003, 1e-2),  # parameters.py:32,43,44
    "pathmnist": (400, "adam", 0.001, 1e-2),  # parameters.py:47,58,59
    "organcmnist": (400, "sgd", 0.001, 5e-4),  # parameters.py:62,72,73
    "tiny-imagenet": (40, "adam", 0.001, 1e-2),  # parameters.py:227,234,236
}
RELEASED_MILESTONE = 120  # nets.py:42 MultiStepLR(optimizer, milestones=[120]), default gamma 0.1
RELEASED_LAYER_WIDTHS = [16, 8, 4, 2]  # nets.py:339-342: layer1-4 outputs on 32x32 images (max-pool kept)


def spec_for(dataset: str, profile: str = "released", **changes) -> JobSpec:
    budget = PROFILES.get(profile).budget_for(dataset)
    return JobSpec(dataset=dataset, strategy="random", seed=0, profile=profile, initial=budget.initial,
                   query_size=budget.query_size, rounds=budget.rounds, **changes)


@pytest.mark.parametrize("dataset", sorted(RELEASED))
def test_released_profile_trains_as_the_released_code_does(dataset):
    profile = job_profile(spec_for(dataset))
    epochs, optimizer, lr, decay = RELEASED[dataset]
    assert (profile.epochs, profile.optimizer, profile.lr, profile.weight_decay) == (epochs, optimizer, lr, decay)
    assert profile.batch_size == 128 and profile.min_steps == 0  # parameters.py loader_tr_args; epochs only
    assert profile.lr_step_epoch == RELEASED_MILESTONE
    assert profile.model == "resnet18-imagenet"
    if optimizer == "sgd":  # nets.py:39 passes only lr and weight decay: plain SGD
        sgd = make_optimizer(nn.Linear(2, 2), profile)
        assert sgd.defaults["momentum"] == 0 and not sgd.defaults["nesterov"]
    budget = PROFILES.get("released").budget_for(dataset)
    assert (budget.initial, budget.query_size, budget.rounds) == RELEASED_BUDGET


def test_svhn_trains_without_augmentation_as_released():
    assert not job_profile(spec_for("svhn")).augment  # parameters.py:114: ToTensor and Normalize only
    assert job_profile(spec_for("cifar10")).augment


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # the released code's order
def test_released_step_schedule_matches_multisteplr_stepped_before_each_epoch():
    """Our per-step schedule gives every step of an epoch the learning rate the released loop trains that
    epoch with: MultiStepLR(milestones=[m]) stepped at the start of each epoch (nets.py:45-46)."""
    profile = PROFILES.get("released").with_(lr_step_epoch=3, lr=1.0)
    steps_per_epoch, epochs = 2, 5
    ours = make_schedule(torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0), profile, 10, steps_per_epoch)
    theirs_opt = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    theirs = torch.optim.lr_scheduler.MultiStepLR(theirs_opt, milestones=[3])
    for _ in range(epochs):
        theirs.step()
        for _ in range(steps_per_epoch):
            assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0])
            ours.optimizer.step()
            ours.step()


def test_paper_profile_is_the_from_scratch_regime_with_its_ids():
    spec = resolve(spec_for("cifar10", profile="paper"))
    resolved = dict(spec.resolved)
    assert resolved["profile.model"] == "resnet18" and resolved["profile.lr"] == 0.05
    assert not any(key in resolved for key in ("profile.momentum", "profile.lr_step_epoch",
                                               "profile.training_overrides", "profile.precision"))


def test_released_identity_differs_per_dataset_where_the_released_code_does():
    cifar = dict(resolve(spec_for("cifar10")).resolved)
    svhn = dict(resolve(spec_for("svhn")).resolved)
    assert cifar["profile.optimizer"] == "sgd" and svhn["profile.optimizer"] == "adam"
    assert cifar["profile.momentum"] == 0.0 and cifar["profile.lr_step_epoch"] == 120
    assert "profile.training_overrides" not in cifar


def test_imagenet_resnet_has_the_released_stem_pool_and_head():
    model = ResNet18ImageNet(3, 10)
    stem = model.features[0]
    assert (stem.kernel_size, stem.stride, stem.padding, stem.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert isinstance(model.features[3], nn.MaxPool2d)
    widths = []
    hooks = [model.features[i].register_forward_hook(lambda _m, _i, out: widths.append(out.shape[-1]))
             for i in range(4, 8)]
    logits = model(torch.zeros(2, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    assert widths == RELEASED_LAYER_WIDTHS and logits.shape == (2, 10)
    assert ResNet18ImageNet(1, 11).features[0].in_channels == 1  # grey MedMNIST sets ("OrganC:1", nets.py:381)


@pytest.fixture
def fake_weights(tmp_path, monkeypatch):
    """A random torchvision ResNet-18 state dict with one recognisable tensor, saved under a torchvision-style
    name carrying its own hash prefix (the real file cannot be fetched here)."""
    from torchvision.models import resnet18

    state = resnet18(weights=None).state_dict()
    state["layer1.0.conv1.weight"] = torch.full_like(state["layer1.0.conv1.weight"], 0.125)
    scratch = tmp_path / "scratch.pth"
    torch.save(state, scratch)
    name = f"resnet18-{hashlib.sha256(scratch.read_bytes()).hexdigest()[:8]}.pth"
    path = weights_path(tmp_path, name)
    path.parent.mkdir(parents=True)
    scratch.rename(path)
    monkeypatch.setattr(ResNet18ImageNet, "weights_file", name)
    load_weights.cache_clear()
    return tmp_path, path


def test_the_model_starts_from_the_weights_file_except_stem_and_head(fake_weights):
    data_dir, _ = fake_weights
    profile = job_profile(spec_for("cifar10"))
    weights = pretrained_weights(profile, data_dir)
    img = ImageSpec(3, 10, torch.zeros(3), torch.ones(3), True, pretrained=weights)
    model = new_model(img, profile, torch.device("cpu"))
    assert torch.all(model.features[4][0].conv1.weight == 0.125)
    assert torch.equal(model.features[1].weight, weights["bn1.weight"])
    assert model.features[0].weight.shape == (64, 3, 3, 3)  # fresh 3x3 stem, not the file's 7x7
    random_init = build_model("resnet18-imagenet", 3, 10, 0.3)
    assert not torch.all(random_init.features[4][0].conv1.weight == 0.125)


def test_a_weights_file_whose_hash_does_not_match_its_name_is_refused(fake_weights):
    _, path = fake_weights
    path.write_bytes(path.read_bytes() + b"x")
    load_weights.cache_clear()
    with pytest.raises(UserError, match="damaged or not torchvision's file"):
        load_weights(path)


def test_missing_weights_is_one_line_saying_where_to_put_them(tmp_path):
    result = runner.invoke(app, ["bench", "--profile", "released", "--datasets", "digits", "--data-dir",
                                 str(tmp_path), "--out", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and WEIGHTS_FILE in lines[0] and str(tmp_path / "weights") in lines[0]
    assert "--download" in lines[0] and "download.pytorch.org" in lines[0]


def test_a_failed_download_is_one_line_saying_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(*_args, **_kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    result = runner.invoke(app, ["bench", "--profile", "released", "--datasets", "digits", "--data-dir",
                                 str(tmp_path), "--out", str(tmp_path / "out"), "--download", "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "could not fetch" in lines[0] and str(tmp_path / "weights") in lines[0]
