"""The CPU floor: how far the cpu profile's small CNN runs from one core's arithmetic peak, on one thread.

For a pool pass (eval mode, the profile's eval batch) and a training step (forward, backward and AdamW step at the
profile's batch size) on 28x28 grey and 32x32 RGB images it prints the FLOPs per image (counted by
`torch.utils.flop_counter.FlopCounterMode`: convolutions and matrix products; batch norm, ReLU, pooling and the
optimiser are not counted, so the figure is a lower bound on the work), images per CPU second (the best of three
runs, in process CPU time, so that a shared machine's other processes do not count) and achieved GFLOP/s, beside
two peaks of the same core:

- measured: a 2,048 x 2,048 fp32 matrix product on one thread in the same run (what torch's best kernel reaches);
- theoretical: clock x FMA pipes x vector lanes x 2, from /proc/cpuinfo's clock and flags. Assumed two FMA pipes
  per core; the lanes are 16 fp32 with AVX-512 (8 on AMD family 25, Zen 3/4, whose AVX-512 runs on 256-bit
  halves), 8 with AVX2. A virtual machine's reported clock may not be the one the core runs at.

`--batches 64,256,1024` instead measures pool passes over `--pool` 32x32 RGB images at each eval batch size, and
`--allocator both` runs that in two fresh processes, the platform's malloc settings first and then the tuned ones
(`alscope_autoal/allocator.py`), with the user and system CPU seconds of each pass.

    python benchmarks/cpu_floor.py
    python benchmarks/cpu_floor.py --batches 128,256,512,1024,2048 --pool 49900 --allocator both
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from alscope_autoal.models import build_model
from alscope_autoal.profiles import PROFILES
from alscope_autoal.allocator import SWITCH, tune_allocator
from alscope_autoal.training import ImageSpec, forward_pool, make_optimizer, normalise

SHAPES = {"28x28x1": (1, 28), "32x32x3": (3, 32)}
CPU = torch.device("cpu")


def image_spec(channels: int) -> ImageSpec:
    return ImageSpec(channels, 10, torch.full((channels,), 0.5), torch.full((channels,), 0.25), True)


def images(n: int, channels: int, side: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def counted_flops(run) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def best_seconds(run, repeats: int) -> float:
    """The fewest CPU seconds (this process's, user and system) of `repeats` runs after one warm-up. On one thread
    that is the wall time of a quiet machine; on a shared one it leaves out the time other processes held the core."""
    run()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def pool_pass(channels: int, side: int, n: int, batch: int) -> dict[str, float]:
    model, spec, x = build_model("small-cnn", channels, 10, 0.3).eval(), image_spec(channels), images(n, channels, side)
    flops = counted_flops(lambda: forward_pool(model, x[:batch], spec, CPU, batch)) / batch
    seconds = best_seconds(lambda: forward_pool(model, x, spec, CPU, batch), 3)
    return {"flops_per_image": flops, "images_per_s": n / seconds}


def train_step(channels: int, side: int, batch: int) -> dict[str, float]:
    profile = PROFILES.get("cpu")
    model, spec = build_model("small-cnn", channels, 10, profile.dropout).train(), image_spec(channels)
    optimizer, x, y = make_optimizer(model, profile), images(batch, channels, side), torch.randint(0, 10, (batch,))

    def step():
        loss = F.cross_entropy(model(normalise(x, spec)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    flops = counted_flops(step) / batch
    steps = 50
    seconds = best_seconds(lambda: [step() for _ in range(steps)], 3) / steps
    return {"flops_per_image": flops, "images_per_s": batch / seconds}


def matmul_peak(n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_seconds(lambda: a @ b, 5) / 1e9


def theoretical_peak() -> tuple[float | None, str]:
    """GFLOP/s of one core from /proc/cpuinfo, and how it was worked out."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return None, "no /proc/cpuinfo"
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", info)
    flags = set(re.search(r"flags\s*:(.*)", info).group(1).split()) if "flags" in info else set()
    family = re.search(r"cpu family\s*:\s*(\d+)", info)
    amd = "AuthenticAMD" in info
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    if lanes == 16 and amd and family and family.group(1) == "25":
        lanes = 8  # Zen 3/4 execute AVX-512 as two 256-bit halves
    if not mhz or "fma" not in flags:
        return None, "clock or FMA flag not readable"
    ghz = float(mhz.group(1)) / 1000
    return ghz * 2 * lanes * 2, f"{ghz:.2f} GHz x 2 FMA pipes x {lanes} fp32 lanes x 2 FLOP"


def floor_table(pool: int) -> None:
    profile = PROFILES.get("cpu")
    peak, how = matmul_peak(), theoretical_peak()
    print(f"allocator: {json.dumps(tune_allocator())}; torch threads: {torch.get_num_threads()}")
    print(f"measured peak: 2048^3 fp32 matmul, one thread: {peak:.1f} GFLOP/s")
    print(f"theoretical peak: {how[0]:.1f} GFLOP/s ({how[1]})" if how[0] else f"theoretical peak: unknown ({how[1]})")
    print("| images | phase | batch | MFLOP/image | images per CPU s | GFLOP/s | of measured peak | of theoretical |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (channels, side) in SHAPES.items():
        for phase, batch, result in [
            ("pool pass", profile.eval_batch_size, pool_pass(channels, side, pool, profile.eval_batch_size)),
            ("training step", profile.batch_size, train_step(channels, side, profile.batch_size)),
        ]:
            gflops = result["flops_per_image"] * result["images_per_s"] / 1e9
            share = f"{gflops / how[0]:.0%}" if how[0] else "?"
            print(f"| {name} | {phase} | {batch} | {result['flops_per_image'] / 1e6:.1f} | "
                  f"{result['images_per_s']:,.0f} | {gflops:.1f} | {gflops / peak:.0%} | {share} |")


def batch_sweep(batches: list[int], pool: int) -> None:
    """Pool passes over `pool` 32x32 RGB images per eval batch size, with this process's CPU seconds for each."""
    print(f"allocator: {json.dumps(tune_allocator())}")
    print("| eval batch | images/s | images per CPU s | wall s | user s | system s |")
    print("|---|---|---|---|---|---|")
    model, spec, x = build_model("small-cnn", 3, 10, 0.3).eval(), image_spec(3), images(pool, 3, 32)
    forward_pool(model, x[:2048], spec, CPU, 1024)  # warm-up: thread pools, first allocations
    for batch in batches:
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        forward_pool(model, x, spec, CPU, batch)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        print(f"| {batch:,} | {pool / wall:,.0f} | {pool / (user + system):,.0f} | {wall:.1f} | {user:.1f} | "
              f"{system:.2f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pool", type=int, default=10240, help="images per pool pass")
    p.add_argument("--batches", help="comma-separated eval batch sizes: measure pool passes at each instead")
    p.add_argument("--allocator", choices=("tuned", "both"), default="tuned",
                   help="with --batches: 'both' runs the platform's malloc settings first, then the tuned ones")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.batches and args.allocator == "both":
        for arm, env in [("platform default", {SWITCH: "off"}), ("tuned", {})]:
            print(f"\n## {arm}", flush=True)
            argv_arm = [sys.executable, __file__, "--pool", str(args.pool), "--batches", args.batches]
            subprocess.run(argv_arm, env={**os.environ, **env}, check=True)
    elif args.batches:
        batch_sweep([int(b) for b in args.batches.split(",")], args.pool)
    else:
        floor_table(args.pool)


if __name__ == "__main__":
    main()
