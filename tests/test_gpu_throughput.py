"""`benchmarks/gpu_throughput.py --quick`: every part of the prepared GPU run works, here on the CPU, so the day a
GPU is lent the run only has to be started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_run_measures_every_part_and_writes_its_json(tmp_path):
    out = tmp_path / "report.json"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_throughput.py"), "--quick", "--json",
                           str(out)], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    for model in ("resnet18", "resnet18-imagenet"):
        assert report["training"][f"{model}/fp32"]["image_steps_per_second"] > 0
        assert report["training"][f"{model}/fp32"]["gflop_per_image_step"] > 0
        assert report["inference"][f"{model}/fp32"]["images_per_second"] > 0
    assert report["determinism"]["fp32"]["identical"] is True
    assert report["jobs_per_gpu"]["2/fp32"]["aggregate_image_steps_per_second"] > 0
    assert report["jobs"]["data"].startswith("synthetic")
    assert 0 <= report["jobs"]["paper/fp32/seed0"]["rounds"][-1]["accuracy"] <= 1
    assert "released/fp32/seed0" in report["jobs"] and "paper/fp32/seed1" in report["jobs"]
    assert report["jobs"]["dry_run_estimate_check"]["predicted_seconds"] > 0
    assert "bf16_over_fp32_training" in report["summary"]["targets"]


def test_without_a_gpu_the_full_run_refuses_in_one_line():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the full run would start")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_throughput.py")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and "use --quick" in done.stderr
