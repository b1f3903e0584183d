"""Is the oracle's held-out score a good proxy for test accuracy? Its first look-ahead, batch by batch.

Builds the loop's round-0 state of a job (its initial labeled set and task model), lets the `oracle` draw its M
batches and retrain a model for each (exactly as it does in a job), and scores every one of those models twice:
on the oracle's scoring set (what it decides by: by default the rest of the pool, or a fixed held-out split
with `--holdout N`) and on the test set (what AUBC measures; used
here only to judge the proxy, never by the oracle). Reports, per seed, the Spearman correlation between the two,
and the test accuracy of the batch the oracle keeps against the best batch's on test.

    python benchmarks/oracle_proxy.py --data-dir ../shared/data --dataset breastmnist --seeds 0,1,2
    python benchmarks/oracle_proxy.py --data-dir ../shared/data --dataset breastmnist --holdout 200   # fixed split
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="breastmnist")
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--holdout", default="rest", help='"rest" (the oracle\'s default) or a number of pool samples')
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def round_zero(args: argparse.Namespace, seed: int):
    """The loop's round-0 QueryContext for (dataset, seed) under the profile, and the prepared data."""
    import torch

    from alscope_autoal.data import load_dataset
    from alscope_autoal.loop import image_spec
    from alscope_autoal.pool import LabelState
    from alscope_autoal.prepare import initial_indices, prepare
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.seeds import derive_seed
    from alscope_autoal.spec import JobSpec
    from alscope_autoal.strategies import QueryContext
    from alscope_autoal.training import train_model

    profile = PROFILES.get(args.profile)
    budget = profile.budget_for(args.dataset)
    spec = JobSpec(dataset=args.dataset, strategy="oracle", seed=seed, profile=args.profile,
                   initial=budget.initial, query_size=budget.query_size, rounds=budget.rounds)
    data = load_dataset(args.dataset, args.data_dir)
    prepared = prepare(data, spec, profile)
    img, device = image_spec(data, prepared), torch.device("cpu")
    pool = LabelState(len(prepared.pool_y), prepared.is_unknown)
    pool.label(initial_indices(prepared, spec), 0)
    trainable = pool.trainable_indices()
    model = train_model(prepared.pool_x[torch.as_tensor(trainable)], prepared.pool_y[trainable], img, profile,
                        derive_seed(seed, args.dataset, "model-init", 0), device)
    ctx = QueryContext(model, pool, prepared.pool_x, prepared.pool_y, img, profile, device, 0,
                       derive_seed(seed, "oracle", "strategy"),
                       next_model_seed=derive_seed(seed, args.dataset, "model-init", 1))
    return ctx, prepared, budget.query_size


def one_seed(args: argparse.Namespace, seed: int) -> dict:
    from scipy.stats import spearmanr

    from alscope_autoal.strategies.oracle import Oracle
    from alscope_autoal.training import forward_pool, train_model

    ctx, prepared, budget = round_zero(args, seed)
    oracle = Oracle(holdout=args.holdout if args.holdout == "rest" else int(args.holdout))
    fixed = oracle.holdout(ctx, budget) if oracle.holdout_size else np.empty(0, dtype=np.int64)
    batches, sources = oracle.draw_batches(ctx, fixed, budget)
    split = fixed if oracle.holdout_size else oracle.rest_of_pool(ctx, batches)
    held, test = [], []
    for batch in batches:
        model = train_model(*oracle.training_set(ctx, batch), ctx.spec, ctx.profile, oracle.model_seed(ctx),
                            ctx.device)
        for x, y, out in ((ctx.x[split], ctx.oracle_targets(split), held), (prepared.test_x, prepared.test_y, test)):
            logits, _ = forward_pool(model, x, ctx.spec, ctx.device)
            out.append(float((logits.argmax(1) == y).float().mean()))
    kept = max(range(len(batches)), key=lambda i: held[i])  # the oracle's rule, ties to the first
    return {"seed": seed, "scored_on": len(split), "tested_on": len(prepared.test_y), "sources": sources, "held": held, "test": test, "spearman": spearmanr(held, test)[0],
            "kept": sources[kept], "kept_test": test[kept], "best_test": max(test),
            "best_test_source": sources[int(np.argmax(test))]}


def main(argv: list[str] | None = None) -> None:
    import torch

    from alscope_autoal.analysis.render_tables import pipe_row, pipe_rule

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    scoring = "the rest of the pool" if args.holdout == "rest" else f"{args.holdout} held-out pool samples"
    print(f"{args.dataset}: the oracle's first look-ahead, scored on {scoring}\n")
    header = ["seed", "scored on / test samples", "Spearman(scoring set, test)", "kept (its test acc %)",
              "best on test (acc %)", "test acc range %"]
    print(pipe_row(header))
    print(pipe_rule(len(header)))
    for seed in (int(s) for s in args.seeds.split(",")):  # one line per seed as it finishes
        r = one_seed(args, seed)
        print(pipe_row([seed, f"{r['scored_on']} / {r['tested_on']}", f"{r['spearman']:+.2f}",
                        f"{r['kept']} ({100 * r['kept_test']:.1f})",
                        f"{r['best_test_source']} ({100 * r['best_test']:.1f})",
                        f"{100 * min(r['test']):.1f}-{100 * max(r['test']):.1f}"]), flush=True)


if __name__ == "__main__":
    main()
