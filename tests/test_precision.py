"""`--precision`: bf16 autocast runs end to end (on a CPU here, as on a GPU), is recorded, and is part of the job
id only when it is not fp32; unknown or unusable precisions are one-line errors; image-steps are counted exactly."""

from __future__ import annotations

import pytest
import torch
from conftest import smoke_spec
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.data import load_dataset
from alscope_autoal.loop import run_job
from alscope_autoal.profiles import PROFILES
from alscope_autoal.runner import RunOptions
from alscope_autoal.runner.core import compute_job
from alscope_autoal.training import ImageSpec, forward_pool, image_steps, runs_on_cpu, train_model

runner = CliRunner()
needs_cpu_bf16 = pytest.mark.skipif(not runs_on_cpu(torch.bfloat16), reason="this CPU's torch cannot run bf16")


def test_fp32_jobs_keep_their_ids_and_bf16_jobs_get_their_own():
    plain = smoke_spec()
    assert smoke_spec(precision="fp32").job_id == plain.job_id
    assert "precision" not in plain.canonical()
    bf16 = smoke_spec(precision="bf16")
    assert bf16.job_id != plain.job_id and '"precision":"bf16"' in bf16.canonical()


@pytest.mark.parametrize("args, expected", [
    (["--precision", "fp16"], "unknown precision 'fp16'; choose one of: fp32, bf16"),
    (["--precision", "bf16", "--profile", "linear", "--encoder", "resnet50"], "is for the CNN profiles"),
])
def test_bad_precision_is_one_line_exit_2(args, expected, tmp_path):
    result = runner.invoke(app, ["bench", "--profile", "smoke", "--out", str(tmp_path), "--dry-run", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.output


@needs_cpu_bf16
def test_a_bf16_job_runs_and_records_its_precision():
    rows, meta = compute_job(smoke_spec(precision="bf16"), RunOptions(device="cpu"))
    assert {row["precision"] for row in rows} == {"bf16"} and meta["precision"] == "bf16"
    assert meta["spec"]["precision"] == "bf16"
    assert all(row["accuracy"] > 0.2 for row in rows[1:])  # digits, 10 classes: it learned in bf16
    assert meta["train_image_steps_per_second"] > 0 and meta["eval_images_per_second"] > 0


@needs_cpu_bf16
def test_bf16_inference_returns_fp32_logits_close_to_fp32():
    data = load_dataset("digits")
    x, y = data.train_x[:200], data.train_y[:200]
    spec = ImageSpec(1, 10, torch.full((1,), 0.3), torch.full((1,), 0.3), False)
    profile = PROFILES.get("smoke")
    logits = {}
    for precision in ("fp32", "bf16"):
        model = train_model(x, y, spec, profile.with_(precision=precision), 0, torch.device("cpu"))
        assert model.precision == precision
        logits[precision], _ = forward_pool(model, x, spec, torch.device("cpu"))
    assert logits["bf16"].dtype == torch.float32
    agree = (logits["bf16"].argmax(1) == logits["fp32"].argmax(1)).float().mean()
    assert agree > 0.8  # same seeds, same data: bf16 rounding moves few predictions


@pytest.mark.parametrize("n", [1, 2, 20, 33, 40, 65, 128, 129])
def test_image_steps_counts_the_images_training_passes(n):
    """The count the cost estimate multiplies is what `train_model` feeds the model, batch by batch."""
    profile = PROFILES.get("smoke").with_(batch_size=32, epochs=3, min_steps=7)
    seen = []
    x = torch.randint(0, 255, (n, 1, 8, 8), dtype=torch.uint8)
    spec = ImageSpec(1, 2, torch.zeros(1), torch.ones(1), False)
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda module, inputs, _out: seen.append(len(inputs[0])) if module.training and
        type(module).__name__ == "SmallCNN" else None)
    try:
        train_model(x, torch.arange(n) % 2, spec, profile, 0, torch.device("cpu"))
    finally:
        handle.remove()
    assert sum(seen) == image_steps(n, profile)


def test_rows_record_training_image_steps_and_inference_images():
    rows = run_job(smoke_spec(rounds=1), load_dataset("digits"))
    profile = PROFILES.get("smoke")
    assert [row["train_image_steps"] for row in rows] == [image_steps(row["n_trainable"], profile) for row in rows]
    assert all(row["eval_images"] == 200 for row in rows)  # the smoke profile's test cap
