"""Selection time and peak memory of the query strategies against pool size.

A synthetic pool stands in for a trained model's output: N embeddings of dimension d drawn around C class
centres, logits from a random linear classifier behind dropout (so MC-dropout strategies sample it for real),
and a labeled set of `--labeled` samples. Each strategy runs on a real QueryContext whose forward pass is
preset, so the figures are the strategy's own cost. For reference the script also times one forward pass of
the small CNN over N 28x28 grayscale images (what the cached forward pass costs on a CPU).

Peak memory is the highest resident set size seen while the strategy runs (sampled every 2 ms from
/proc/self/statm) minus the resident set size when it starts: the extra memory the selection needs. The script
re-runs itself with MALLOC_MMAP_THRESHOLD_=65536 so that freed blocks go back to the OS and the resident set
tracks live memory (otherwise glibc keeps freed memory and later strategies look free). Every strategy runs
once on a small pool first, so one-time costs (imports, thread pools) stay out of the figures.

    python benchmarks/selection.py                       # 10k, 30k, 100k; d=512; C=10; budget 1000
    python benchmarks/selection.py --sizes 10000 --strategies batchbald --budget 100
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import numpy as np
import torch
from torch import nn

from alscope_autoal.models import build_model
from alscope_autoal.pool import LabelState
from alscope_autoal.profiles import PROFILES
from alscope_autoal.strategies import QueryContext, make_strategy
from alscope_autoal.training import ImageSpec, forward_pool

DEFAULT = ("entropy,margin,least-confidence,bald,var-ratio,mean-std,max-entropy,egl,coreset,badge,kmeans,"
           "typiclust,alfa-mix,cluster-margin,probcover")
PAGE = os.sysconf("SC_PAGE_SIZE")
QUADRATIC = {"probcover"}  # O(N^2 d) time (the coverage graph), still bounded memory


class Head(nn.Module):
    def __init__(self, d: int, c: int, gen: torch.Generator):
        super().__init__()
        self.dropout, self.classifier = nn.Dropout(0.3), nn.Linear(d, c)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.randn(c, d, generator=gen) / d ** 0.5)

    def head(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(z))


def synthetic_context(n: int, d: int, c: int, labeled: int, seed: int = 0) -> QueryContext:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=gen) * 2
    y = torch.randint(c, (n,), generator=gen)
    z = centres[y] + torch.randn(n, d, generator=gen)
    model = Head(d, c, gen).eval()
    with torch.no_grad():
        logits = torch.cat([model.classifier(z[s:s + 8192]) for s in range(0, n, 8192)])
    pool = LabelState(n)
    pool.label(np.random.default_rng(seed).choice(n, labeled, replace=False), 0)
    spec = ImageSpec(1, c, torch.zeros(1), torch.ones(1), False)
    ctx = QueryContext(model, pool, torch.zeros(n, 1, 1, 1, dtype=torch.uint8), y, spec, PROFILES.get("cpu"),
                       torch.device("cpu"), 0, seed=seed)
    ctx._cache["forward"] = (logits, z)
    return ctx


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Highest RSS above the starting RSS while the block runs."""

    def __enter__(self):
        self.start = self.peak = rss()
        self.running = True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        return self

    def watch(self):
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss())
        self.extra_mib = (self.peak - self.start) / 2**20


def time_forward(n: int, c: int) -> float:
    """Seconds for one eval-mode forward pass of the small CNN over n 28x28 grayscale images."""
    model = build_model("small-cnn", 1, c, 0.3).eval()
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
    spec = ImageSpec(1, c, torch.tensor([0.5]), torch.tensor([0.25]), False)
    t0 = time.perf_counter()
    forward_pool(model, x, spec, torch.device("cpu"), 1024)
    return time.perf_counter() - t0


def run(strategy: str, ctx: QueryContext, budget: int) -> tuple[float, float]:
    fresh = QueryContext(ctx.model, ctx.pool, ctx.x, ctx.y, ctx.spec, ctx.profile, ctx.device, ctx.round,
                         ctx.seed, {"forward": ctx._cache["forward"]})
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        picked = make_strategy(strategy).select(fresh, budget, np.random.default_rng(0)).indices
        seconds = time.perf_counter() - t0
    assert len(np.unique(picked)) == budget
    return seconds, mem.extra_mib


def main() -> None:
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--strategies", default=DEFAULT)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-quadratic-pool", type=int, default=30000,
                        help="skip O(N^2)-time strategies (probcover) on larger pools")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"d={args.dim} classes={args.classes} budget={args.budget} labeled={args.labeled} "
          f"threads={args.threads}")
    print(f"{'pool':>7}  {'strategy':<16} {'seconds':>8} {'x forward':>9} {'peak MiB':>9}")
    names = args.strategies.split(",")
    warm = synthetic_context(2000, args.dim, args.classes, 100)
    for name in names:  # one-time costs (imports, thread pools, allocator growth) stay out of the figures
        run(name, warm, 50)
    for n in (int(s) for s in args.sizes.split(",")):
        ctx = synthetic_context(n, args.dim, args.classes, args.labeled)
        forward = time_forward(n, args.classes)
        print(f"{n:>7}  {'(small-CNN fwd)':<16} {forward:>8.2f} {1.0:>9.2f} {'':>9}", flush=True)
        for name in names:
            if name in QUADRATIC and n > args.max_quadratic_pool:
                print(f"{n:>7}  {name:<16} skipped (O(N^2) time; raise --max-quadratic-pool)", flush=True)
                continue
            seconds, mib = run(name, ctx, args.budget)
            print(f"{n:>7}  {name:<16} {seconds:>8.2f} {seconds / forward:>9.2f} {mib:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
