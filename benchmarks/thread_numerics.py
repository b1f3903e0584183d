"""Does torch's CPU thread count change a job's result? Runs one small job per thread count, in fresh processes.

    python benchmarks/thread_numerics.py --data-dir ../shared/data --threads 1,2

The job: `entropy` on OrganAMNIST, `cpu` profile with the pool capped at 2,000 images and the test set at 500,
2 rounds. Prints the accuracy after each round for every thread count.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

JOB = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
from alscope_autoal.data import load_dataset
from alscope_autoal.loop import run_job
from alscope_autoal.profiles import PROFILES
from alscope_autoal.spec import JobSpec
base = PROFILES.get("cpu")
PROFILES.add("cpu-pool2000-test500", base.with_(name="cpu-pool2000-test500", max_pool=2000, max_test=500), "")
budget = base.budget_for(sys.argv[3])
spec = JobSpec(dataset=sys.argv[3], strategy="entropy", seed=0, profile="cpu-pool2000-test500",
               initial=budget.initial, query_size=budget.query_size, rounds=2)
rows = run_job(spec, load_dataset(sys.argv[3], sys.argv[2]), torch.device("cpu"))
print(" ".join(f"{row['accuracy']:.4f}" for row in rows))
"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--dataset", default="organamnist")
    p.add_argument("--threads", default="1,2")
    args = p.parse_args(argv)
    for threads in args.threads.split(","):
        out = subprocess.run([sys.executable, "-c", JOB, threads, str(args.data_dir), args.dataset],
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"{threads} thread(s): accuracy per round {out}")


if __name__ == "__main__":
    main()
