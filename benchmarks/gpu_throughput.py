"""How fast the suite trains on one GPU, and what the fast settings change: one prepared run that fits in about
8 minutes of an H200 and writes its JSON after every measurement (a run cut short keeps what it measured).

    python benchmarks/gpu_throughput.py --json gpu_throughput.json          # one GPU (docs/gpu.md has the line)
    python benchmarks/gpu_throughput.py --quick --json /tmp/quick.json      # CPU smoke of every part (a test)

Parts, in order (each skipped, and marked so, when the time budget would not cover it):
1. `training`: image-steps per second of `training.train_model` (the real step loop: batches, augmentation, the
   optimiser) on random CIFAR-sized images, per model (from-scratch `resnet18`, ImageNet `resnet18-imagenet`) and
   precision (fp32, bf16 with channels-last), same batch size, under --deterministic (the sweep's default), and
   fp32/bf16 without it; FLOPs per image-step counted with torch.utils.flop_counter, the achieved TFLOP/s and
   its share of the device's peak (a table by device name, and a measured bf16 matrix product); the number of
   host-device synchronisations in a training (torch.cuda.set_sync_debug_mode).
2. `inference`: images per second of `training.forward_pool` (the pool and test passes) per model and precision.
3. `jobs`: real jobs of each regime cut to 2 rounds and 10 epochs, fp32 beside bf16 (two seeds for the
   from-scratch regime), run through the runner in this process (`bench.run_bench`, the library call behind
   `autoal bench`; the data goes in as a user `.npz`), on CIFAR-10 rebuilt from the shared JPEG copy when found,
   else on a synthetic CIFAR-sized set (the report says which); the `--dry-run` arithmetic for the second seed from the first
   seed's measured speeds, against its measured time.
4. `jobs_per_gpu`: 1, 2, 4, 8 processes training at once on the GPU (fp32 and bf16): aggregate image-steps/s.
5. `determinism`: `gpu_check.py` on a few strategies, twice, under fp32 (the default) and then bf16.
Then `summary`: the figures the issue's targets name, with their arithmetic.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from alscope_autoal.data.base import ImageDataset
from alscope_autoal.determinism import numerics
from alscope_autoal.profiles import DEFAULT_PRECISION, PROFILES, Budget
from alscope_autoal.spec import JobSpec
from alscope_autoal.training import ImageSpec, forward_pool, runs_on_cpu, train_model

HERE = Path(__file__).resolve().parent
# Dense peaks by device name (vendor datasheets): bf16 tensor cores, and tf32, which fp32 convolutions use by
# default (torch.backends.cudnn.allow_tf32). Leads only: the measured bf16 matrix product is the other reference.
PEAK_TFLOPS = {"H200": {"bf16": 989.0, "tf32": 494.0}, "H100": {"bf16": 989.0, "tf32": 494.0},
               "A100": {"bf16": 312.0, "tf32": 156.0}, "L40S": {"bf16": 362.0, "tf32": 183.0}}
FULL = dict(side=32, warmup=3, batch=128, train_steps=300, infer_images=20_000, jobs=(1, 2, 4, 8), job_steps=300,
            pool=50_000, test=10_000, epochs=10, rounds=2, seeds=2, check="entropy,coreset,badge,bald", check_epochs=2,
            matmul=8192, budget=420)
QUICK = dict(side=8, warmup=1, batch=4, train_steps=2, infer_images=32, jobs=(1, 2), job_steps=2, pool=200, test=50,
             epochs=1, rounds=1, seeds=2, check="random", check_epochs=1, matmul=256, budget=300)  # 8x8 images
COSTS = {"training": 90, "inference": 20, "jobs": 120, "jobs_per_gpu": 150, "determinism": 120}  # seconds, full
MODELS = ("resnet18", "resnet18-imagenet")
SPEC = ImageSpec(3, 10, torch.full((3,), 0.5), torch.full((3,), 0.25), True)


class Report:
    """The JSON report, rewritten after every measurement."""

    def __init__(self, path: Path | None, budget: float):
        self.path, self.budget, self.started = path, budget, time.perf_counter()
        self.data: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}

    def put(self, part: str, key: str, value) -> None:
        self.data.setdefault(part, {})[key] = value
        self.data["elapsed_seconds"] = round(time.perf_counter() - self.started, 1)
        if self.path:
            self.path.write_text(json.dumps(self.data, indent=1, default=str))
        print(f"{part}.{key}: {json.dumps(value, default=str)[:300]}", file=sys.stderr, flush=True)

    def fits(self, part: str, cost: float) -> bool:
        if time.perf_counter() - self.started + cost <= self.budget:
            return True
        self.put(part, "skipped", f"the time budget ({self.budget:.0f} s) would not cover it")
        return False


def precisions(device: torch.device) -> list[str]:
    """The precisions this device runs, the suite's default first."""
    usable = torch.cuda.is_bf16_supported() if device.type == "cuda" else runs_on_cpu(torch.bfloat16)
    found = ["fp32", "bf16"] if usable else ["fp32"]
    return sorted(found, key=lambda name: name != DEFAULT_PRECISION)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_images(n: int, side: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, side, side), generator=gen, dtype=torch.uint8), torch.arange(n) % 10


def bench_profile(model: str, precision: str, sizes: dict, steps: int):
    """The paper profile's optimiser, batch and augmentation on `model`, for exactly `steps` steps."""
    return PROFILES.get("paper").with_(model=model, precision=precision, batch_size=sizes["batch"], epochs=1,
                                       min_steps=steps)


def training_rate(model: str, precision: str, sizes: dict, device: torch.device, deterministic: bool) -> float:
    """Image-steps per second of `train_model`, timed after a warm-up training of the same shapes."""
    x, y = random_images(sizes["batch"] * 4, sizes["side"])
    x = x.to(device)
    with numerics(deterministic):
        train_model(x, y, SPEC, bench_profile(model, precision, sizes, sizes["warmup"]), 0, device)
        sync(device)
        start = time.perf_counter()
        train_model(x, y, SPEC, bench_profile(model, precision, sizes, sizes["train_steps"]), 0, device)
        sync(device)
    return sizes["train_steps"] * sizes["batch"] / (time.perf_counter() - start)


def flops_per_image_step(model: str, precision: str, sizes: dict, device: torch.device) -> float:
    """Forward and backward FLOPs of one training batch, per image (torch.utils.flop_counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    from alscope_autoal.training import autocast, model_input, new_model

    net = new_model(SPEC, bench_profile(model, precision, sizes, 1), device).train()
    x = random_images(sizes["batch"], sizes["side"])[0].to(device)
    with FlopCounterMode(display=False) as counter:
        with autocast(net, device):
            loss = net(model_input(x, SPEC, net)).float().sum()
        loss.backward()
    return counter.get_total_flops() / sizes["batch"]


def host_syncs_in_training(model: str, precision: str, sizes: dict, device: torch.device) -> int | None:
    """Synchronisations torch reports in a short training (the step loop should have none)."""
    if device.type != "cuda":
        return None
    x, y = random_images(sizes["batch"] * 4, sizes["side"])
    x = x.to(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_model(x, y, SPEC, bench_profile(model, precision, sizes, 10), 0, device)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def matmul_tflops(size: int, device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    sync(device)
    return 10 * 2 * size ** 3 / (time.perf_counter() - start) / 1e12


def peak_for(name: str) -> dict:
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), {})


def part_training(report: Report, sizes: dict, device: torch.device) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    measured_peak = matmul_tflops(sizes["matmul"], device)
    report.put("training", "bf16_matmul_tflops_measured", measured_peak)
    for model in MODELS:
        for precision in precisions(device):
            rate = training_rate(model, precision, sizes, device, deterministic=True)
            flops = flops_per_image_step(model, precision, sizes, device)
            tflops = rate * flops / 1e12
            peak = peak_for(name).get("bf16" if precision == "bf16" else "tf32")
            report.put("training", f"{model}/{precision}", {
                "image_steps_per_second": round(rate, 1), "gflop_per_image_step": round(flops / 1e9, 3),
                "tflops": round(tflops, 2), "share_of_datasheet_peak": peak and round(tflops / peak, 4),
                "share_of_measured_bf16_matmul": measured_peak and round(tflops / measured_peak, 4)})
    for precision in precisions(device):
        report.put("training", f"resnet18/{precision}/no-deterministic", {"image_steps_per_second": round(
            training_rate("resnet18", precision, sizes, device, deterministic=False), 1)})
    for precision in precisions(device):
        report.put("training", f"host_syncs_in_10_steps/{precision}",
                   host_syncs_in_training("resnet18", precision, sizes, device))


def part_inference(report: Report, sizes: dict, device: torch.device) -> None:
    from alscope_autoal.training import new_model

    x = random_images(sizes["infer_images"], sizes["side"])[0].to(device)
    for model in MODELS:
        for precision in precisions(device):
            net = new_model(SPEC, bench_profile(model, precision, sizes, 1), device).eval()
            forward_pool(net, x[:sizes["batch"]], SPEC, device)
            sync(device)
            start = time.perf_counter()
            forward_pool(net, x, SPEC, device)
            sync(device)
            report.put("inference", f"{model}/{precision}",
                       {"images_per_second": round(len(x) / (time.perf_counter() - start), 1)})


def part_determinism(report: Report, sizes: dict, device: torch.device, quick: bool) -> None:
    for precision in precisions(device)[:1 if quick else None]:  # --quick: the default only (CPU seconds)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "check.json"
            command = [sys.executable, str(HERE / "gpu_check.py"), "--strategies", sizes["check"], "--epochs",
                       str(sizes["check_epochs"]), "--precision", precision, "--json", str(out)]
            done = subprocess.run(command + (["--tiny"] if quick else []), capture_output=True, text=True)
            result = json.loads(out.read_text()) if out.is_file() else {}
        report.put("determinism", precision, {
            "identical": result.get("identical"), "differing": result.get("differing"), "exit_code": done.returncode,
            "strategies": result.get("strategies"), "seconds": result.get("total_seconds"),
            "stderr_tail": done.stderr[-300:] if done.returncode not in (0, 1) else ""})


def job_worker(rank: int, sizes: dict, device_name: str, barrier, results) -> None:
    """One of n processes sharing the GPU: for each precision, wait for all, then train `job_steps` steps."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 0)) or max(1, (os.cpu_count() or 1) // sizes["n"]))
    device = torch.device(device_name)
    x, y = random_images(sizes["batch"] * 4, sizes["side"], seed=rank)
    x = x.to(device)
    for precision in sizes["precisions"]:
        with numerics(True):
            train_model(x, y, SPEC, bench_profile("resnet18", precision, sizes, sizes["warmup"]), rank, device)
            sync(device)
            barrier.wait()
            start = time.perf_counter()
            train_model(x, y, SPEC, bench_profile("resnet18", precision, sizes, sizes["job_steps"]), rank, device)
            sync(device)
        results.put((precision, rank, time.perf_counter() - start))


def part_jobs_per_gpu(report: Report, sizes: dict, device: torch.device) -> None:
    ctx = mp.get_context("spawn")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # inherited by the spawned workers
    for n in sizes["jobs"]:
        barrier, results = ctx.Barrier(n), ctx.Queue()
        args = sizes | {"n": n, "precisions": precisions(device)}
        procs = [ctx.Process(target=job_worker, args=(rank, args, str(device), barrier, results)) for rank in range(n)]
        for proc in procs:
            proc.start()
        times: dict[str, list[float]] = {}
        for _ in range(n * len(args["precisions"])):
            precision, _, seconds = results.get(timeout=600)
            times.setdefault(precision, []).append(seconds)
        for proc in procs:
            proc.join()
        for precision, seconds in times.items():
            report.put("jobs_per_gpu", f"{n}/{precision}", {
                "aggregate_image_steps_per_second": round(n * sizes["job_steps"] * sizes["batch"] / max(seconds), 1),
                "slowest_job_seconds": round(max(seconds), 2)})


def cifar10(sizes: dict, jpeg_dir: Path | None, work: Path) -> tuple[ImageDataset, str]:
    """CIFAR-10 rebuilt from the shared JPEG copy (its build.py) when one is found, else a synthetic CIFAR-sized
    set of class patterns and noise (gpu_check's), cut to the run's pool and test sizes."""
    from alscope_autoal.data import load_dataset

    candidates = [] if sizes["side"] != 32 else [jpeg_dir] if jpeg_dir else [HERE.parent / ".device" / "cifar10-jpeg",
                                              HERE.parent / "shared" / "data" / "cifar10-jpeg",
                                              HERE.parent.parent / "shared" / "data" / "cifar10-jpeg"]
    for folder in candidates:
        if folder and (folder / "build.py").is_file():
            subprocess.run([sys.executable, str(folder / "build.py"), str(work)], check=True, capture_output=True)
            data = load_dataset("cifar10", work)
            return cut(data, sizes), f"CIFAR-10 rebuilt from {folder} (JPEG-decoded pixels)"
    from gpu_check import synthetic_images

    train_x, train_y = synthetic_images(sizes["pool"], sizes["side"], 10, seed=1)
    test_x, test_y = synthetic_images(sizes["test"], sizes["side"], 10, seed=2)
    data = ImageDataset("cifar10", train_x, train_y, test_x, test_y, [str(c) for c in range(10)], flips_ok=True)
    return data, "synthetic CIFAR-sized set (class patterns and noise): no CIFAR-10 copy on this machine"


def cut(data: ImageDataset, sizes: dict) -> ImageDataset:
    from dataclasses import replace

    return replace(data, train_x=data.train_x[:sizes["pool"]], train_y=data.train_y[:sizes["pool"]],
                   test_x=data.test_x[:sizes["test"]], test_y=data.test_y[:sizes["test"]])


def cut_profile(regime: str, sizes: dict, quick: bool) -> str:
    """The regime cut to `epochs` (and in --quick to a tiny budget), registered under its own name."""
    name = f"{regime}-cut"
    if name not in PROFILES:
        profile = PROFILES.get(regime).with_(name=name, epochs=sizes["epochs"])
        if quick:
            profile = profile.with_(budget=Budget(20, 10, 1), budget_overrides={}, training_overrides={},
                                    batch_size=sizes["batch"], min_steps=2)
        PROFILES.add(name, profile, "gpu_throughput.py: cut to fit")
    return name


def as_user_dataset(data: ImageDataset, folder: Path) -> str:
    """The cut data written as a user dataset (`--datasets NAME=PATH`), so its jobs go through the runner."""
    import numpy as np

    path = folder / "cifar-cut.npz"
    np.savez(path, x_train=data.train_x.numpy(), y_train=data.train_y.numpy(), x_test=data.test_x.numpy(),
             y_test=data.test_y.numpy())
    return f"cifar-cut={path}"


def run_one(dataset: str, profile: str, rounds: int, seed: int, precision: str, device: torch.device,
            weights_dir: Path, out: Path) -> dict:
    """One job through the runner in this process (`autoal bench`'s library call), read back from its file."""
    from dataclasses import replace

    from alscope_autoal.bench import BenchRequest, job_specs, run_bench, with_dataset_names
    from alscope_autoal.results import job_path, read_metadata
    from alscope_autoal.runner import RunOptions

    request = with_dataset_names(BenchRequest(datasets=(dataset,), strategies=("entropy",), seeds=seed + 1,
                                              profile=profile, rounds=rounds, precision=precision))
    spec = next(s for s in job_specs(request, request.datasets[0]) if s.seed == seed)
    options = RunOptions(data_dir=weights_dir, workers=1, device=str(device), deterministic=True)
    outcome = run_bench(replace(request, seeds=seed + 1), out, options)
    if outcome.failed:
        raise RuntimeError(f"the {profile} job failed: see {out / 'failures'}")
    import pandas as pd

    rows = pd.read_parquet(job_path(out, spec)).to_dict("records")
    keys = ("n_labeled", "accuracy", "train_seconds", "eval_seconds", "selection_seconds", "train_image_steps")
    return {"seconds": round(read_metadata(job_path(out, spec))["job_seconds"], 2),
            "rounds": [{k: row[k] for k in keys} for row in rows],
            "train_image_steps_per_second": round(sum(r["train_image_steps"] for r in rows)
                                                  / sum(r["train_seconds"] for r in rows), 1)}


def part_jobs(report: Report, sizes: dict, device: torch.device, jpeg_dir: Path | None, quick: bool) -> None:
    from alscope_autoal import loop
    from alscope_autoal.models import pretrained
    from alscope_autoal.models.pretrained import WEIGHTS_FILE, weights_path

    with tempfile.TemporaryDirectory() as tmp:
        data, source = cifar10(sizes, jpeg_dir, Path(tmp))
        dataset = as_user_dataset(data, Path(tmp))
        report.put("jobs", "data", source)
        weights_dir = Path(os.environ.get("AUTOAL_DATA_DIR", tmp))
        if not weights_path(weights_dir).is_file():  # no network on the device: same speed, not the same start
            loop.pretrained_weights = lambda profile, data_dir: None
            pretrained.check_weights = lambda *args, **kwargs: None  # the plan's check of the same file
            report.put("jobs", "released_weights", f"random: {WEIGHTS_FILE} not under {weights_dir}/weights")
        for regime, seeds in (("paper", sizes["seeds"]), ("released", 1)):
            name = cut_profile(regime, sizes, quick)
            rounds = min(sizes["rounds"], PROFILES.get(name).budget_for("cifar-cut").rounds)
            for seed in range(seeds):
                for precision in precisions(device):
                    report.put("jobs", f"{regime}/{precision}/seed{seed}",
                               run_one(dataset, name, rounds, seed, precision, device, weights_dir,
                                       Path(tmp) / "results"))
        estimate_check(report, sizes)


def estimate_check(report: Report, sizes: dict) -> None:
    """The dry-run arithmetic (`cost.estimate`) for seed 1 from seed 0's measured rates, against seed 1's time."""
    from alscope_autoal.cost import Rates, Work, estimate

    jobs = report.data["jobs"]
    first, second = jobs.get("paper/fp32/seed0"), jobs.get("paper/fp32/seed1")
    if not (first and second):
        return
    rows = first["rounds"]
    rates = Rates(sum(r["train_image_steps"] for r in rows) / sum(r["train_seconds"] for r in rows),
                  sum(sizes["test"] for _ in rows) / sum(r["eval_seconds"] for r in rows), "seed 0",
                  {"entropy": sum(r["selection_seconds"] for r in rows) / max(1, len(rows) - 1)},
                  first["seconds"] - sum(r["train_seconds"] + r["eval_seconds"] + r["selection_seconds"]
                                         for r in rows))
    work = Work(sum(r["train_image_steps"] for r in second["rounds"]), sizes["test"] * len(rows), len(rows) - 1)
    spec = JobSpec(dataset="cifar10", strategy="entropy", seed=1, profile="paper-cut", initial=0, query_size=0,
                   rounds=len(rows) - 1)
    predicted = estimate([(spec, work)], rates).seconds
    report.put("jobs", "dry_run_estimate_check", {
        "predicted_seconds": round(predicted, 2), "measured_seconds": second["seconds"],
        "error": round(predicted / second["seconds"] - 1, 3),
        "note": "inference counts the test passes only (the pool pass of entropy sits in its selection seconds)"})


def summary(report: Report) -> None:
    """The issue's targets, each with its arithmetic, from this run's measurements."""
    training, per_gpu = report.data.get("training", {}), report.data.get("jobs_per_gpu", {})
    fp32 = training.get("resnet18/fp32", {}).get("image_steps_per_second")
    bf16 = training.get("resnet18/bf16", {}).get("image_steps_per_second")
    out = {"bf16_over_fp32_training": bf16 and fp32 and round(bf16 / fp32, 2)}
    aggregates = {key: value["aggregate_image_steps_per_second"] for key, value in per_gpu.items()
                  if isinstance(value, dict)}
    if aggregates:
        best = max(aggregates, key=aggregates.get)
        paper_job = 200 * sum(1000 * k for k in range(1, 12))  # image-steps of one paper CIFAR-10 job
        out |= {"best_jobs_per_gpu": best, "best_aggregate_image_steps_per_second": aggregates[best],
                "paper_cifar10_job_gpu_minutes_at_best": round(paper_job / aggregates[best] / 60, 2),
                "arithmetic": f"{paper_job:,} image-steps / {aggregates[best]:,.0f} image-steps/s / 60"}
    report.put("summary", "targets", out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes on the CPU: a smoke run of every part")
    parser.add_argument("--json", type=Path, help="the report, rewritten after every measurement")
    parser.add_argument("--cifar-jpeg", type=Path, help="folder holding CIFAR-10's JPEG copy and its build.py")
    parser.add_argument("--budget-seconds", type=float, help="skip parts that would end past this (default 420)")
    parser.add_argument("--parts", default="training,inference,jobs,jobs_per_gpu,determinism")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    device = torch.device("cpu") if args.quick else torch.device("cuda")
    if not args.quick and not torch.cuda.is_available():
        print("no GPU visible: this run is meant for one; use --quick on a CPU", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))  # gpu_check's synthetic images
    if args.quick:  # one thread per process: a shared CPU slows threads that wait on each other by 10x or more
        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"
    report = Report(args.json, args.budget_seconds or sizes["budget"])
    report.put("environment", "device", torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu")
    report.put("environment", "torch", torch.__version__)
    report.put("environment", "cpu_count", os.cpu_count())
    parts = {"training": lambda: part_training(report, sizes, device),
             "inference": lambda: part_inference(report, sizes, device),
             "determinism": lambda: part_determinism(report, sizes, device, args.quick),
             "jobs_per_gpu": lambda: part_jobs_per_gpu(report, sizes, device),
             "jobs": lambda: part_jobs(report, sizes, device, args.cifar_jpeg, args.quick)}
    for part in args.parts.split(","):
        if report.fits(part, 0 if args.quick else COSTS[part]):
            parts[part]()
    summary(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
