"""CPU seconds of the linear profile's head training per job, the profile as it was (mini-batch Adam, 50 epochs,
at least 300 steps, dropout 0.3, no weight decay) against as it is (full-batch L-BFGS to convergence on the
dropout-marginalised loss plus an L2 term), in one process, the arms alternating. A third arm, "early", is the
L-BFGS head without the L2 term stopped after 20 iterations (the profile from 9f3ef47 to 526ab4a, at today's
stopping tolerances). A job trains the head 11 times, on 100, 200, ..., 1,100 labels (budget 100 +
10 x 100); here the labeled sets are seeded random subsets of the pool, as a `random` job's are. A fourth arm,
"warm", is not a profile but an option measured: today's head, each training after a job's first starting from the
previous training's head instead of a fresh seeded one.

    OMP_NUM_THREADS=1 python benchmarks/linear_head_time.py --datasets trec,mr --encoder minilm \\
        --data-dir ../shared/data --repeats 3
"""

from __future__ import annotations

import argparse
import time

import torch

BEFORE = dict(epochs=50, min_steps=300, batch_size=64, optimizer="adam", lr=1e-2, dropout=0.3,  # at 8fa3975
              weight_decay=0.0)
EARLY = dict(epochs=20, weight_decay=0.0)  # 9f3ef47 to 526ab4a


def job_head_seconds(x: torch.Tensor, y: torch.Tensor, spec, profile, seed: int,
                     warm: bool = False) -> tuple[float, torch.nn.Module]:
    """(CPU seconds of a job's 11 head trainings, the last model: trained on 1,100 labels). `warm`: each training
    after the first continues from the previous one's head."""
    from alscope_autoal.training import fit_full_batch, normalise, train_model

    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    start, model = time.process_time(), None
    for n in range(100, 1_200, 100):
        if warm and model is not None:
            model = fit_full_batch(model, normalise(x[order[:n]], spec), y[order[:n]], profile)
        else:
            model = train_model(x[order[:n]], y[order[:n]], spec, profile, seed + n, torch.device("cpu"))
    return time.process_time() - start, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="trec,mr")
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--now", action="append", default=[], help="KEY=VALUE: a change to today's profile")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from alscope_autoal.encoders.cache import embedded_dataset
    from alscope_autoal.loop import evaluate, image_spec
    from alscope_autoal.prepare import prepare
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.spec import JobSpec

    now = PROFILES.get("linear")
    now = now.with_(**{k: type(getattr(now, k))(v) for k, v in (item.split("=", 1) for item in args.now)})
    arms = {"before": (now.with_(**BEFORE), False), "early": (now.with_(**EARLY), False), "now": (now, False),
            "warm": (now, True)}
    for dataset in args.datasets.split(","):
        data = embedded_dataset(dataset, args.encoder, args.data_dir)
        prepared = prepare(data, JobSpec(dataset, "random", 0, "linear", 100, 100, 10, encoder=args.encoder), now)
        spec = image_spec(data, prepared)
        for profile, warm in arms.values():  # one untimed job per arm: the process's one-time costs (lazy imports,
            job_head_seconds(prepared.pool_x, prepared.pool_y, spec, profile, -1, warm)  # first-call set-up)
        seconds = {arm: [] for arm in arms}
        accuracy = {arm: [] for arm in arms}
        for repeat in range(args.repeats):
            for arm, (profile, warm) in arms.items():
                cpu, model = job_head_seconds(prepared.pool_x, prepared.pool_y, spec, profile, repeat, warm)
                seconds[arm].append(cpu)
                accuracy[arm].append(evaluate(model, prepared, spec, profile, torch.device("cpu"))["accuracy"])
        mean = {arm: sum(v) / len(v) for arm, v in seconds.items()}
        print(f"{dataset}/{args.encoder}: head training per job, CPU s (mean of {args.repeats}): before "
              f"{mean['before']:.2f}, early {mean['early']:.3f}, now {mean['now']:.3f}, warm {mean['warm']:.3f}; "
              f"ratio now/before 1/{mean['before'] / mean['now']:.1f}, "
              f"warm/before 1/{mean['before'] / mean['warm']:.1f}; "
              "test accuracy at 1,100 labels: "
              + ", ".join(f"{arm} {100 * sum(a) / args.repeats:.1f} %" for arm, a in accuracy.items()), flush=True)


if __name__ == "__main__":
    main()
