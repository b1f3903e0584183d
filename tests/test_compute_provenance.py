"""Which processor (and GPU) computed a job is in its result footer, and `autoal report` says when it pools jobs
computed on different ones: CPU float results can differ between processors."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from alscope_autoal.cli.app import app
from alscope_autoal.identity import resolve
from alscope_autoal.results import read_metadata, result_files
from alscope_autoal.runner import RunOptions, run_sweep

from conftest import smoke_spec
from test_plot_report import write_rows

runner = CliRunner()
XEON = {"cpu_model": "Intel(R) Xeon(R) Platinum 8581C CPU @ 2.10GHz", "cpu_capability": "AVX512"}
EPYC = {"cpu_model": "AMD EPYC 7B13", "cpu_capability": "AVX2"}


def cpu_model_here() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor()


@pytest.fixture(scope="module")
def footer(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("one-job")
    run_sweep([resolve(smoke_spec(rounds=1))], out, options=RunOptions(workers=1, device="cpu"))
    return read_metadata(result_files(out)[0])


def test_the_footer_names_the_processor_and_torchs_instruction_set(footer):
    compute = footer["compute"]
    assert compute["cpu_model"] == cpu_model_here() and compute["cpu_model"]
    assert compute["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert "gpu_name" not in compute  # a CPU job names no GPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_jobs_footer_names_the_gpu_and_its_software(tmp_path):
    run_sweep([resolve(smoke_spec(rounds=1))], tmp_path, options=RunOptions(workers=1, device="cuda"))
    compute = read_metadata(result_files(tmp_path)[0])["compute"]
    assert compute["gpu_name"] == torch.cuda.get_device_name(0)
    assert compute["cuda"] == torch.version.cuda and compute["cudnn"] == torch.backends.cudnn.version()


def folder(tmp_path: Path, computes: list[dict]) -> Path:
    for seed, compute in enumerate(computes):
        for strategy in ("random", "entropy"):
            write_rows(tmp_path, "digits", strategy, seed, [0.5, 0.6], meta={"compute": compute})
    return tmp_path


def test_report_warns_in_one_line_when_it_pools_jobs_run_on_different_processors(tmp_path):
    result = runner.invoke(app, ["report", str(folder(tmp_path, [XEON, EPYC, XEON]))])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "different compute" in line]
    assert len(warnings) == 1 and "AVX512" in warnings[0] and "AMD EPYC 7B13" in warnings[0], result.stderr
    assert "different compute" not in result.stdout  # the tables stay clean


def test_report_is_quiet_about_compute_when_every_job_ran_on_one_kind(tmp_path):
    result = runner.invoke(app, ["report", str(folder(tmp_path, [XEON, XEON]))])
    assert result.exit_code == 0 and "compute" not in result.stderr, result.stderr


def test_a_different_gpu_is_different_compute(tmp_path):
    a100, h100 = XEON | {"gpu_name": "NVIDIA A100-SXM4-40GB"}, XEON | {"gpu_name": "NVIDIA H100 80GB HBM3"}
    result = runner.invoke(app, ["report", str(folder(tmp_path, [a100, h100]))])
    assert "different compute" in result.stderr and "H100" in result.stderr, result.stderr


def test_a_cap_on_onednns_instruction_set_is_recorded_and_counts_as_other_compute(tmp_path, monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 changes the accuracies on an AVX512 CPU (docs/protocol.md), unseen by torch."""
    from alscope_autoal.hardware import describe_compute

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert describe_compute(torch.device("cpu"))["onednn_max_cpu_isa"] == "AVX2"
    result = runner.invoke(app, ["report", str(folder(tmp_path, [XEON, XEON | {"onednn_max_cpu_isa": "AVX2"}]))])
    assert "different compute" in result.stderr and "oneDNN capped at AVX2" in result.stderr, result.stderr
