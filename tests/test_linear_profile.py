"""The frozen-encoder regime: minilm on real MR sentences, the embedding cache, the linear profile's jobs, and
every registered strategy on it (the strategy conformance checks, on embeddings)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.encoders import ENCODERS
from alscope_autoal.encoders.cache import CACHE_DIR, _embedded, embedded_dataset, job_data
from alscope_autoal.errors import DataError, UserError
from alscope_autoal.identity import resolve
from alscope_autoal.loop import image_spec
from alscope_autoal.pool import LabelState
from alscope_autoal.prepare import initial_indices, prepare
from alscope_autoal.profiles import PROFILES
from alscope_autoal.results import read_results
from alscope_autoal.runner import RunOptions, compute_job
from alscope_autoal.spec import JobSpec
from alscope_autoal.strategies import STRATEGIES, QueryContext, make_strategy
from alscope_autoal.training import train_model
from conftest import rng

PER_CLASS = 100  # real MR sentences per class: 180 train / 20 test after the 90/10 split


def small_mr(shared: Path, root: Path) -> Path:
    """The first sentences of the real rt-polarity files, in the official layout."""
    for polarity in ("pos", "neg"):
        lines = (shared / "text" / "MR" / f"rt-polarity.{polarity}").read_bytes().split(b"\n")[:PER_CLASS]
        target = root / "text" / "MR" / f"rt-polarity.{polarity}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\n".join(lines) + b"\n")
    return root


@pytest.fixture(scope="session")
def mr_root(shared_data, minilm_weights, tmp_path_factory) -> Path:
    root = small_mr(shared_data, tmp_path_factory.mktemp("mr-small"))
    embedded_dataset("mr", "minilm", root)  # computed once for the session
    return root


def linear_spec(strategy: str = "random", **changes) -> JobSpec:
    fields = dict(dataset="mr", strategy=strategy, seed=0, profile="linear", initial=20, query_size=10, rounds=2,
                  encoder="minilm")
    return JobSpec(**(fields | changes))


@pytest.fixture(scope="session")
def linear_context(mr_root) -> QueryContext:
    spec = linear_spec()
    data = embedded_dataset("mr", "minilm", mr_root)
    profile = PROFILES.get("linear")
    prepared = prepare(data, spec, profile)
    img = image_spec(data, prepared)
    pool = LabelState(len(prepared.pool_y), prepared.is_unknown)
    pool.label(initial_indices(prepared, spec), 0)
    trainable = pool.trainable_indices()
    device = torch.device("cpu")
    model = train_model(prepared.pool_x[trainable], prepared.pool_y[trainable], img, profile, 1, device)
    return QueryContext(model, pool, prepared.pool_x, prepared.pool_y, img, profile, device, 0, seed=7)


@pytest.fixture
def fresh_linear(linear_context) -> QueryContext:
    c = linear_context
    return QueryContext(c.model, c.pool.copy(), c.x, c.y, c.spec, c.profile, c.device, c.round, c.seed)


@pytest.mark.slow
def test_minilm_is_all_minilm_l6_v2(tmp_path, minilm_weights):
    """The sentence-transformers documentation's example: these three sentences' cosine similarities."""
    encoder = ENCODERS.get("minilm").build(tmp_path, False, None)
    e = torch.from_numpy(encoder.encode(["The weather is lovely today.", "It's so sunny outside!",
                                         "He drove to the stadium."]))
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    sims = e @ e.T
    assert sims[0, 1].item() == pytest.approx(0.6660, abs=1e-3)
    assert sims[0, 2].item() == pytest.approx(0.1046, abs=1e-3)
    assert sims[1, 2].item() == pytest.approx(0.1411, abs=1e-3)


@pytest.mark.slow
def test_length_batching_keeps_each_text_its_own_embedding(tmp_path, minilm_weights):
    encoder = ENCODERS.get("minilm").build(tmp_path, False, None)
    texts = ["short .", "a much longer sentence with many more words than the first one has ."] * 40 + ["mid one ."]
    together = encoder.encode(texts)
    alone = np.concatenate([encoder.encode([t]) for t in texts[:2] + texts[-1:]])
    assert np.allclose(together[[0, 1, -1]], alone, atol=1e-5)


@pytest.mark.slow
def test_embeddings_are_cached_once_and_fingerprinted(mr_root):
    data = embedded_dataset("mr", "minilm", mr_root)
    folders = [f for f in (mr_root / CACHE_DIR / "mr").iterdir() if f.is_dir()]
    assert len(folders) == 1 and not list(folders[0].parent.glob(".*.tmp"))
    meta = json.loads((folders[0] / "meta.json").read_text())
    assert meta["splits"]["train"]["rows"] == len(data.train_y) == 180 and data.train_x.shape == (180, 384)
    assert meta["dataset_files"] == {k: v for k, v in data.fingerprint.items() if k.startswith("rt-polarity")}
    assert data.fingerprint["minilm weights"] == meta["weights"]
    assert any(key.startswith("embeddings/mr/minilm-") for key in data.fingerprint)
    assert all(meta["splits"][split]["cpu_seconds"] > 0 and meta["splits"][split]["seconds"] > 0
               for split in ("train", "test"))  # what the embedding cost, and where (docs/frozen-encoders.md)
    assert meta["computed_on"]["device"] == "cpu" and meta["computed_on"]["torch_threads"] >= 1


def copy_with_cache(mr_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(mr_root, root)
    _embedded.cache_clear()
    return root


@pytest.mark.slow
def test_changed_dataset_file_refuses_the_cache(mr_root, tmp_path):
    root = copy_with_cache(mr_root, tmp_path)
    pos = root / "text" / "MR" / "rt-polarity.pos"
    pos.write_bytes(pos.read_bytes().replace(b" ", b"  ", 1))
    with pytest.raises(DataError, match="computed from other dataset files.*rt-polarity.pos") as err:
        embedded_dataset("mr", "minilm", root)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_damaged_cache_file_is_named_never_reused(mr_root, tmp_path):
    root = copy_with_cache(mr_root, tmp_path)
    npy = next((root / CACHE_DIR / "mr").glob("minilm-*/train.npy"))
    raw = npy.read_bytes()
    npy.write_bytes(raw[:-4] + b"\0\0\0\1")
    with pytest.raises(DataError, match=f"{npy}.*damaged"):
        embedded_dataset("mr", "minilm", root)


@pytest.mark.slow
def test_cache_without_meta_is_recomputed(mr_root, tmp_path):
    root = copy_with_cache(mr_root, tmp_path)
    folder = next((root / CACHE_DIR / "mr").glob("minilm-*"))
    before = np.load(folder / "train.npy")
    (folder / "meta.json").unlink()  # as if a writer died before finishing
    shutil.rmtree(folder)
    again = embedded_dataset("mr", "minilm", root)
    assert np.allclose(again.train_x.numpy(), before, atol=1e-5) and (folder / "meta.json").is_file()


@pytest.mark.parametrize("name", STRATEGIES.names())
@pytest.mark.slow
def test_every_strategy_runs_on_embeddings(fresh_linear, name):
    """The strategy conformance checks, on the linear profile's context."""
    before = fresh_linear.pool.labeled_round.copy()
    picked = make_strategy(name).select(fresh_linear, 12, rng(3)).indices
    assert len(picked) == 12 and len(np.unique(picked)) == 12 and picked.dtype.kind in "iu"
    assert not fresh_linear.pool.labeled_mask[picked].any()
    assert np.array_equal(fresh_linear.pool.labeled_round, before)
    again = QueryContext(fresh_linear.model, fresh_linear.pool.copy(), fresh_linear.x, fresh_linear.y,
                         fresh_linear.spec, fresh_linear.profile, fresh_linear.device, 0, fresh_linear.seed)
    assert np.array_equal(make_strategy(name).select(again, 12, rng(3)).indices, picked)


@pytest.mark.slow
def test_linear_job_runs_and_records_the_encoder(mr_root):
    spec = resolve(linear_spec("entropy"))
    rows, meta = compute_job(spec, RunOptions(data_dir=mr_root))
    assert [r["round"] for r in rows] == [0, 1, 2] and rows[-1]["n_labeled"] == 40
    assert rows[0]["setting"] == "encoder=minilm" and rows[0]["model"] == "linear"
    assert rows[-1]["accuracy"] > 0.5  # real sentiment embeddings: better than chance on 20 test sentences
    assert "minilm weights" in meta["dataset_files"] and meta["spec"]["encoder"] == "minilm"
    assert dict(spec.resolved)["profile.model"] == "linear"


def test_encoder_is_part_of_the_job_id_but_not_of_old_ones():
    plain = JobSpec("digits", "random", 0, "cpu", 20, 10, 2)
    assert "encoder" not in plain.canonical()  # ids of jobs without an encoder are as before
    assert linear_spec().job_id != linear_spec(encoder="other").job_id
    assert JobSpec.from_json(linear_spec().canonical()) == linear_spec()


def test_autoal_uses_mlps_on_embeddings():
    from alscope_autoal.identity import strategy_defaults

    assert strategy_defaults("autoal", PROFILES.get("linear"))["backbone"] == "mlp"


@pytest.mark.slow
def test_job_data_refuses_a_text_set_without_encoder(mr_root):
    with pytest.raises(UserError, match="text dataset: it needs an encoder"):
        job_data(JobSpec("mr", "random", 0, "cpu", 20, 10, 2), mr_root)


@pytest.mark.parametrize("args, message", [
    (["--datasets", "mr", "--profile", "cpu"], "'mr' is a text dataset: it needs an encoder"),
    (["--datasets", "mr", "--profile", "linear"], "learns on frozen embeddings: name an encoder"),
    (["--datasets", "mr", "--profile", "linear", "--encoder", "resnet50"], "encoder 'resnet50' embeds image"),
    (["--datasets", "digits", "--profile", "linear", "--encoder", "minilm"], "encoder 'minilm' embeds text"),
    (["--datasets", "mr", "--profile", "linear", "--encoder", "minilm2"], "did you mean 'minilm'"),
    (["--datasets", "mr", "--profile", "cpu", "--encoder", "minilm"], "--encoder needs --profile linear"),
])
@pytest.mark.slow
def test_bench_mistakes_are_one_line_errors(mr_root, tmp_path, args, message):
    result = CliRunner().invoke(app, ["bench", *args, "--data-dir", str(mr_root), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]


def test_missing_image_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    result = CliRunner().invoke(app, ["bench", "--datasets", "digits", "--profile", "linear", "--encoder",
                                      "resnet50", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "no weights for encoder 'resnet50'" in result.output and "--download" in result.output
    assert not (tmp_path / CACHE_DIR).exists() or not any((tmp_path / CACHE_DIR).rglob("*.npy"))


@pytest.mark.slow
def test_bench_linear_end_to_end(shared_data, minilm_weights, tmp_path):
    out, root = tmp_path / "r", small_mr(shared_data, tmp_path / "fresh")  # no cache yet: bench embeds first
    result = CliRunner().invoke(app, ["bench", "--datasets", "mr", "--profile", "linear", "--encoder", "minilm",
                                      "--strategies", "random,margin", "--rounds", "2", "--initial", "20",
                                      "--query-size", "10", "--data-dir", str(root), "--out", str(out),
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert re.search(r"embedded mr with minilm: [\d,]+ samples in \d+ s \(\d+ CPU s, \d+ torch threads on cpu\)",
                     result.output), result.output
    assert "encoder=minilm" in result.output and len(list((out / "jobs").glob("*.parquet"))) == 2
    assert "encoders" in CliRunner().invoke(app, ["list", "--help"]).output
    listed = CliRunner().invoke(app, ["list", "encoders"]).output
    assert all(name in listed for name in ("minilm", "resnet50", "vit-b16", "dinov2-s14"))


def test_ablate_takes_an_encoder_like_bench(mr_root, tmp_path):
    """`autoal ablate --profile linear --encoder` runs its variants and baselines on the embeddings, and the
    encoder is in their ids: bench finds the same baseline job already done."""
    out = tmp_path / "ablation"
    common = ["--datasets", "mr", "--profile", "linear", "--encoder", "minilm", "--rounds", "1", "--initial", "20",
              "--query-size", "10", "--data-dir", str(mr_root), "--out", str(out), "--workers", "1"]
    result = CliRunner().invoke(app, ["ablate", "--num-candidates", "1", "--candidates", "entropy,margin",
                                      "--baselines", "random", *common])
    assert result.exit_code == 0, result.output
    rows = read_results(out)
    assert set(rows.setting) == {"encoder=minilm"} and set(rows.model) == {"linear"}
    assert set(rows.strategy) == {"autoal", "random"} and "K=1" in set(rows.variant)
    planned = CliRunner().invoke(app, ["bench", "--strategies", "random", *common, "--dry-run"])
    assert "0 job(s) to run, 1 already done" in planned.output, planned.output
    missing = CliRunner().invoke(app, ["ablate", "--num-candidates", "1", *common[:4], "--data-dir", str(mr_root),
                                       "--out", str(out), "--dry-run"])
    assert missing.exit_code == 2 and "learns on frozen embeddings: name an encoder" in missing.output
