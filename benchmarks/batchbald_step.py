"""CPU seconds of one BatchBALD greedy step, per precision: `joint_entropy` over N candidates with the strategy's
defaults (S = 1,000 sampled label configurations, K = 20 MC-dropout passes) and C = 10 classes.

A round is `budget` such steps over the shortlisted candidates, so this one number sizes a paper-scale round
(docs/clusters.md, "On a GPU: reproducible, and selection on the device"). Time is process CPU time on one torch thread,
so other work on the machine does not inflate it.

    OMP_NUM_THREADS=1 python benchmarks/batchbald_step.py --candidates 2000
"""

from __future__ import annotations

import argparse
import time

import torch

from alscope_autoal.strategies.batchbald import PRECISIONS, joint_entropy


def step_seconds(candidates: int, dtype: torch.dtype, samples: int, passes: int, classes: int,
                 repeats: int) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    mc = torch.softmax(torch.randn(passes, candidates, classes, generator=gen), -1).to(dtype)
    batch_probs = torch.rand(samples, passes, generator=gen, dtype=torch.float64).to(dtype)
    joint_entropy(batch_probs, mc[:, :50])  # warm-up
    seconds = []
    for _ in range(repeats):
        started = time.process_time()
        joint_entropy(batch_probs, mc)
        seconds.append(time.process_time() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, dtype in PRECISIONS.items():
        seconds = step_seconds(args.candidates, dtype, args.samples, args.passes, args.classes, args.repeats)
        per_candidate = min(seconds) / args.candidates
        print(f"{name}: {min(seconds):.3f} CPU s per step over {args.candidates} candidates (max {max(seconds):.3f}); "
              f"{per_candidate * 1e6:.0f} us per candidate; a round of 1,000 steps over 10,000 candidates = "
              f"{per_candidate * 1e7 / 60:.0f} CPU min", flush=True)


if __name__ == "__main__":
    main()
