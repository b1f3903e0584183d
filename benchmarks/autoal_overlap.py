"""How far AutoAL's query is from `vote`'s and from each candidate's, in one round.

Trains the task model on a pool state, lets every candidate, `vote`, `vote-random` and AutoAL (both threshold
modes) pick b samples from the same context, and prints each query's overlap (Jaccard) with `vote`'s and
`margin`'s, and the mean number of candidates that pick each of its samples. The pool state is the seeded
initial set plus `--extra` random labels (0: the state before the first query).

    python benchmarks/autoal_overlap.py --data-dir ../shared/data --extra 500
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

VARIANTS = {  # query name -> (registered strategy, parameters)
    "vote": ("vote", {}), "vote-random": ("vote-random", {}),
    "autoal": ("autoal", {}), "autoal(per-strategy)": ("autoal", {"thresholds": "per-strategy"}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="organamnist")
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra", type=int, default=0, help="random labels added to the initial set")
    p.add_argument("--threads", type=int, default=None)
    return p.parse_args(argv)


def context(args: argparse.Namespace):
    """The QueryContext the loop would build for this pool state (task model trained on the labeled set)."""
    import torch

    from alscope_autoal.data import load_dataset
    from alscope_autoal.loop import image_spec, pick_device
    from alscope_autoal.pool import LabelState
    from alscope_autoal.prepare import initial_indices, prepare
    from alscope_autoal.profiles import PROFILES
    from alscope_autoal.seeds import derive_seed
    from alscope_autoal.spec import JobSpec
    from alscope_autoal.strategies import QueryContext
    from alscope_autoal.training import train_model

    profile = PROFILES.get(args.profile)
    budget = profile.budget_for(args.dataset)
    spec = JobSpec(dataset=args.dataset, strategy="vote", seed=args.seed, profile=args.profile,
                   initial=budget.initial, query_size=budget.query_size, rounds=budget.rounds)
    data = load_dataset(args.dataset, args.data_dir)
    prepared = prepare(data, spec, profile)
    img, device = image_spec(data, prepared), pick_device()
    pool = LabelState(len(prepared.pool_y), prepared.is_unknown)
    pool.label(initial_indices(prepared, spec), 0)
    if args.extra:
        extra = np.random.default_rng(derive_seed(args.seed, "overlap-extra")).choice(
            pool.unlabeled_indices(), args.extra, replace=False)
        pool.label(extra, 0)
    trainable = pool.trainable_indices()
    model = train_model(prepared.pool_x[torch.as_tensor(trainable)], prepared.pool_y[trainable], img, profile,
                        derive_seed(args.seed, "overlap-model"), device)
    ctx = QueryContext(model, pool, prepared.pool_x, prepared.pool_y, img, profile, device, 0,
                       derive_seed(args.seed, "overlap"))
    return ctx, budget.query_size


def queries(ctx, budget: int) -> tuple[dict[str, set], list[str]]:
    from alscope_autoal.strategies import make_strategy
    from alscope_autoal.strategies.autoal.candidates import PAPER_CANDIDATES

    rng = lambda: np.random.default_rng(0)  # noqa: E731
    picked = {name: set(make_strategy(name).select(ctx, budget, rng()).indices.tolist()) for name in PAPER_CANDIDATES}
    for name, (strategy, params) in VARIANTS.items():
        picked[name] = set(make_strategy(strategy, params).select(ctx, budget, rng()).indices.tolist())
    return picked, list(PAPER_CANDIDATES)


def table(picked: dict[str, set], candidates: list[str]) -> str:
    from alscope_autoal.analysis.render_tables import pipe_table

    jaccard = lambda a, b: len(a & b) / len(a | b)  # noqa: E731
    rows = []
    for name, chosen in picked.items():
        agreement = np.mean([sum(s in picked[c] for c in candidates) for s in chosen])
        rows.append([name, f"{jaccard(chosen, picked['vote']):.2f}", f"{jaccard(chosen, picked['margin']):.2f}",
                     f"{agreement:.2f}"])
    return pipe_table(["query", "overlap with vote", "overlap with margin", "candidates picking each sample (mean)"],
                      rows)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    ctx, budget = context(args)
    picked, candidates = queries(ctx, budget)
    print(f"{args.dataset}, profile {args.profile}, seed {args.seed}, {len(ctx.pool.labeled_indices())} labels, "
          f"b = {budget}\n")
    print(table(picked, candidates))


if __name__ == "__main__":
    main()
