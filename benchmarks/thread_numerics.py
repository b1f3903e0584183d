"""Does torch's CPU thread count change a job's result? Runs one small job per thread count through `autoal bench`.

    python benchmarks/thread_numerics.py --data-dir ../shared/data --threads 1,2

The job: `entropy` on OrganAMNIST, `cpu` profile with the pool capped at 2,000 images and the test set at 500
(`--max-pool 2000 --max-test 500`), 2 rounds, seed 0, each thread count in its own results folder. Prints the
accuracy after each round for every thread count.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

AUTOAL = "from alscope_autoal.cli.app import main; main()"  # the `autoal` command, from this interpreter


def accuracies(out: Path) -> str:
    from alscope_autoal.results import read_results

    rows = read_results(out).sort_values("round")
    return " ".join(f"{accuracy:.4f}" for accuracy in rows["accuracy"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--dataset", default="organamnist")
    p.add_argument("--threads", default="1,2")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads.split(","):
            out = Path(tmp) / f"threads{threads}"
            subprocess.run([sys.executable, "-c", AUTOAL, "bench", "--datasets", args.dataset,
                            "--strategies", "entropy", "--max-pool", "2000", "--max-test", "500", "--rounds", "2",
                            "--threads", threads, "--workers", "1", "--data-dir", str(args.data_dir),
                            "--out", str(out)], check=True, capture_output=True, text=True)
            print(f"{threads} thread(s): accuracy per round {accuracies(out)}")


if __name__ == "__main__":
    main()
