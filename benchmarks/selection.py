"""Selection time and peak memory of the query strategies against pool size.

A synthetic pool stands in for a trained model's output: N embeddings of dimension d drawn around C class
centres, logits from a random linear classifier behind dropout (so MC-dropout strategies sample it for real),
and a labeled set of `--labeled` samples. Each strategy runs on a real QueryContext whose forward pass is
preset, so the figures are the strategy's own cost. For reference the script also times one forward pass of
the small CNN over N 28x28 grayscale images (what the cached forward pass costs on a CPU).

`--profile linear` stands in for the `linear` profile instead (`--encoder`): the pool IS the N x d embeddings and
the model is that profile's task model (dropout and a linear head), so strategies that forward the pool
themselves (noise-stability, ensembles, ...) run too, and the reference is one forward pass of that head.

Peak memory is the highest resident set size seen while the strategy runs (sampled every 2 ms from
/proc/self/statm) minus the resident set size when it starts: the extra memory the selection needs. The script
re-runs itself with MALLOC_MMAP_THRESHOLD_=65536 so that freed blocks go back to the OS and the resident set
tracks live memory (otherwise glibc keeps freed memory and later strategies look free). Jobs raise that threshold
(`alscope_autoal/allocator.py`, applied in `compute_job` only, which this script never calls, and never
over a MALLOC_ variable already set), so the figures here stay what the code holds. Every strategy runs
once on a small pool first, so one-time costs (imports, thread pools) stay out of the figures. Next to each
figure stands the memory the strategy's docstring (and the memory table of docs/frozen-encoders.md) promises, where it
promises one: the named terms in MiB, "+ O(N)" where it also allows a few length-N vectors.

    python benchmarks/selection.py                       # 10k, 30k, 100k; d=512; C=10; budget 1000
    python benchmarks/selection.py --sizes 10000 --strategies batchbald --budget 100
    python benchmarks/selection.py --profile linear --sizes 120000 --dim 384 --classes 4   # AG-News-sized
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from alscope_autoal.models import build_model
from alscope_autoal.pool import LabelState
from alscope_autoal.profiles import PROFILES
from alscope_autoal.strategies import QueryContext, make_strategy
from alscope_autoal.strategies.base import MC_CHUNK
from alscope_autoal.strategies.chunked import CHUNK_ELEMENTS, MAX_ROWS
from alscope_autoal.strategies.params import parse_strategy_params
from alscope_autoal.training import ImageSpec, forward_pool

DEFAULT = ("entropy,margin,least-confidence,bald,var-ratio,mean-std,max-entropy,egl,coreset,badge,kmeans,"
           "typiclust,alfa-mix,cluster-margin,probcover")
PAGE = os.sysconf("SC_PAGE_SIZE")
QUADRATIC = {"probcover"}  # O(N^2 d) time (the coverage graph), still bounded memory
MIB = 2**20


def distance_block(g) -> float:
    """`chunked`: two blocks of CHUNK_ELEMENTS float32 distances, and (rows x d) temporaries of at most MAX_ROWS."""
    return (2 * CHUNK_ELEMENTS + MAX_ROWS * g.d) * 4


def pool_copy(g, s) -> tuple[float, bool]:
    return g.n * g.d * 4 + distance_block(g), True  # "one copy of the pool's embeddings and O(N) vectors"


def gradient_factors(g, s) -> tuple[float, bool]:
    return g.u * (g.c + g.d) * 4, True  # BADGE "O(N (C + d))"; EGL "works on N x C and N x d arrays"; scores


def mc_dropout(g, s) -> tuple[float, bool]:
    """The (T, N, C) output; MC_CHUNK x d head temporaries; four float32 T x MC_CHUNK x C for the statistic."""
    return s.passes * g.u * g.c * 4 + MC_CHUNK * g.d * 4 + 4 * s.passes * MC_CHUNK * g.c * 4, True  # + scores


def batchbald(g, s) -> tuple[float, bool]:
    """The MC-dropout output, its copy in the joint-entropy precision, S x K for the batch, one candidate chunk,
    the shortlist's BALD temporaries (four T x MC_CHUNK x C in that precision) and its own copy of the
    shortlisted samples; O(N) for the BALD scores."""
    candidates, dtype = s.settings(PROFILES.get(g.profile))  # the parameters given, else the profile's
    size = dtype.itemsize
    shortlisted = min(candidates or g.u, g.u)
    return (s.passes * g.u * g.c * (4 + size) + (s.samples * s.passes + CHUNK_ELEMENTS) * size
            + 4 * s.passes * MC_CHUNK * g.c * size + s.passes * shortlisted * g.c * size), True


def cluster_margin(g, s) -> tuple[float, bool]:
    m = min(max(s.ratio * g.budget, g.budget), s.max_candidates, g.u)
    return m * m / 2 * 8, True  # HAC's condensed distances on the margin shortlist only


def noise_stability(g, s) -> tuple[float, bool]:
    """The N x (samples x C) deviations, six N x C arrays (clean and noisy outputs), one evaluation batch of
    inputs and embeddings (at most 4,096 x d); k-center needs O(N) more."""
    return g.u * s.samples * g.c * 4 + 6 * g.u * g.c * 4 + 2 * 4096 * g.d * 4, True


CLAIMS = {  # strategy -> (claimed extra bytes, whether "+ O(N)" is also allowed), from the docstrings
    "kmeans": pool_copy, "coreset": pool_copy, "typiclust": pool_copy, "probcover": pool_copy,
    "badge": gradient_factors, "egl": gradient_factors, "bald": mc_dropout, "var-ratio": mc_dropout,
    "mean-std": mc_dropout, "max-entropy": mc_dropout, "batchbald": batchbald, "cluster-margin": cluster_margin,
    "noise-stability": noise_stability,
}


def claimed(name: str, params: dict, g: argparse.Namespace) -> str:
    """The claimed bound in MiB for this geometry, or "-" where the strategy states none."""
    if name not in CLAIMS:
        return "-"
    size, plus_n = CLAIMS[name](g, make_strategy(name, params.get(name)))
    return f"{size / MIB:.0f}" + (" + O(N)" if plus_n else "")


class Head(nn.Module):
    def __init__(self, d: int, c: int, gen: torch.Generator):
        super().__init__()
        self.dropout, self.classifier = nn.Dropout(0.3), nn.Linear(d, c)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.randn(c, d, generator=gen) / d ** 0.5)

    def head(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(z))


def synthetic_context(n: int, d: int, c: int, labeled: int, seed: int = 0, profile: str = "cpu") -> QueryContext:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=gen) * 2
    y = torch.randint(c, (n,), generator=gen)
    z = centres[y] + torch.randn(n, d, generator=gen)
    if profile == "linear":  # the pool is the embeddings; the model is the profile's linear head
        model = linear_head(d, c, gen)
        x, spec = z, ImageSpec(d, c, torch.zeros(d), torch.ones(d), False)
    else:
        model = Head(d, c, gen).eval()
        x, spec = torch.zeros(n, 1, 1, 1, dtype=torch.uint8), ImageSpec(1, c, torch.zeros(1), torch.ones(1), False)
    with torch.no_grad():
        logits = torch.cat([model.classifier(z[s:s + 8192]) for s in range(0, n, 8192)])
    pool = LabelState(n)
    pool.label(np.random.default_rng(seed).choice(n, labeled, replace=False), 0)
    ctx = QueryContext(model, pool, x, y, spec, PROFILES.get(profile), torch.device("cpu"), 0, seed=seed)
    ctx._cache["forward"] = (logits, z)
    return ctx


def linear_head(d: int, c: int, gen: torch.Generator) -> nn.Module:
    model = build_model(PROFILES.get("linear").model, d, c, PROFILES.get("linear").dropout)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn(c, d, generator=gen) / d ** 0.5)
        model.classifier.bias.zero_()
    return model.eval()


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


def time_reference(ctx: QueryContext, profile: str) -> tuple[str, float]:
    """What one cached forward pass over the pool costs: the small CNN on images, or the linear head."""
    if profile != "linear":
        return "(small-CNN fwd)", time_forward(len(ctx.pool), ctx.n_classes)
    t0 = time.perf_counter()
    forward_pool(ctx.model, ctx.x, ctx.spec, ctx.device, ctx.profile.eval_batch_size)
    return "(linear fwd)", time.perf_counter() - t0


def run(strategy: str, ctx: QueryContext, budget: int, params: dict | None = None) -> tuple[float, float]:
    fresh = replace(ctx, _cache={"forward": ctx._cache["forward"]})
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        chosen = make_strategy(strategy, (params or {}).get(strategy))
        picked = chosen.select(fresh, budget, np.random.default_rng(0)).indices
        seconds = time.perf_counter() - t0
    assert len(np.unique(picked)) == budget
    return seconds, mem.extra_mib


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--strategies", default=DEFAULT)
    parser.add_argument("--profile", choices=("cpu", "linear"), default="cpu",
                        help="cpu: a stand-in head over image features; linear: the linear profile's head on a "
                        "pool of embeddings")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--param", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="a strategy parameter, as autoal bench --strategy-param (repeatable)")
    parser.add_argument("--max-quadratic-pool", type=int, default=30000,
                        help="skip O(N^2)-time strategies (probcover) on larger pools")
    return parser.parse_args()


def main() -> None:
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    args = parse_args()
    names = args.strategies.split(",")
    params = parse_strategy_params(args.param, names)
    torch.set_num_threads(args.threads)
    print(f"profile={args.profile} d={args.dim} classes={args.classes} budget={args.budget} "
          f"labeled={args.labeled} threads={args.threads} params={args.param}", flush=True)
    print(f"{'pool':>7}  {'strategy':<18} {'seconds':>8} {'x forward':>9} {'peak MiB':>9}  claimed MiB", flush=True)
    warm = synthetic_context(2000, args.dim, args.classes, 100, profile=args.profile)
    for name in names:  # one-time costs (imports, thread pools, allocator growth) stay out of the figures
        run(name, warm, 50, params)
    for n in (int(s) for s in args.sizes.split(",")):
        ctx = synthetic_context(n, args.dim, args.classes, args.labeled, profile=args.profile)
        geometry = argparse.Namespace(n=n, u=n - args.labeled, d=args.dim, c=args.classes, budget=args.budget,
                                      profile=args.profile)
        label, forward = time_reference(ctx, args.profile)
        print(f"{n:>7}  {label:<18} {forward:>8.2f} {1.0:>9.2f} {'':>9}", flush=True)
        for name in names:
            if name in QUADRATIC and n > args.max_quadratic_pool:
                print(f"{n:>7}  {name:<18} skipped (O(N^2) time; raise --max-quadratic-pool)", flush=True)
                continue
            seconds, mib = run(name, ctx, args.budget, params)
            print(f"{n:>7}  {name:<18} {seconds:>8.2f} {seconds / forward:>9.2f} {mib:>9.0f}  "
                  f"{claimed(name, params, geometry)}", flush=True)


if __name__ == "__main__":
    main()
