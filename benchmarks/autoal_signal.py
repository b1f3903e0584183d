"""Does a search's candidate weighting follow what each candidate's batch is worth? One pool state at a time.

For each pool state (a seed's initial labeled set plus `--extra` random labels), the task model is trained as the
loop would; every candidate picks its batch of b; a fresh model is retrained on the labeled set plus each batch
with its true labels (the oracle's look-ahead) and scored on a held-out split of the pool (never the test set).
Then `autoal` (the paper's hardness objective) and `autoal-lookahead` run their search on the same state, and the
script reports each one's candidate shares beside the batches' held-out worth: the Spearman correlation between
shares and held-out accuracy, and the held-out rank of the candidate each search trusts most.

    python benchmarks/autoal_signal.py --data-dir ../shared/data --dataset digits --seeds 0,1,2 --extra 0,60,150
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autoal_overlap import context  # noqa: E402  (the loop's QueryContext for one pool state)

SEARCHES = ("autoal", "autoal-lookahead")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--extra", default="0,60,150", help="random labels added to the initial set, per state")
    p.add_argument("--holdout", type=int, default=400, help="pool samples the batches are scored on")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def batch_worth(ctx, budget: int, holdout: int) -> dict[str, float]:
    """Held-out accuracy of the model retrained with each candidate's batch (the oracle's scoring)."""
    from alscope_autoal.strategies.autoal import PAPER_CANDIDATES
    from alscope_autoal.strategies.oracle import Oracle

    oracle = Oracle(holdout=holdout, batches=len(PAPER_CANDIDATES))  # one batch per candidate, no random one
    split = oracle.holdout(ctx, budget)
    batches, sources = oracle.draw_batches(ctx, split, budget)
    scores = oracle.score_batches(ctx, batches, split)
    return {name: accuracy for name, (accuracy, _) in zip(sources, scores)}


def search_shares(ctx, budget: int, name: str, candidates: list[str]) -> np.ndarray:
    from alscope_autoal.strategies import make_strategy

    extras = make_strategy(name).select(ctx, budget, np.random.default_rng(0)).extras
    return np.array([extras[f"autoal_weight_{c}"] for c in candidates])


def one_state(args: argparse.Namespace, seed: int, extra: int) -> dict:
    from scipy.stats import spearmanr

    ctx, budget = context(argparse.Namespace(**(vars(args) | {"seed": seed, "extra": extra})))
    worth = batch_worth(ctx, budget, args.holdout)
    names = list(worth)
    values = np.array([worth[n] for n in names])
    out = {"seed": seed, "labeled": int(ctx.pool.labeled_mask.sum()), "worth": worth}
    for search in SEARCHES:
        shares = search_shares(ctx, budget, search, names)
        trusted = names[int(shares.argmax())]
        out[search] = {"shares": dict(zip(names, shares.round(3))), "spearman": spearmanr(shares, values)[0],
                       "trusted": trusted, "trusted_rank": int((values > worth[trusted]).sum()) + 1}
    return out


def render(states: list[dict]) -> str:
    from alscope_autoal.analysis.render_tables import pipe_table

    header = ["seed", "labels", "best batch (held-out acc %)", *(f"{s}: trusts (its rank), Spearman" for s in SEARCHES)]
    rows = []
    for st in states:
        best = max(st["worth"], key=st["worth"].get)
        rows.append([st["seed"], st["labeled"], f"{best} ({100 * st['worth'][best]:.1f})",
                     *(f"{st[s]['trusted']} ({st[s]['trusted_rank']}), {st[s]['spearman']:+.2f}" for s in SEARCHES)])
    lines = [pipe_table(header, rows)]
    for s in SEARCHES:
        rho = np.nanmean([st[s]["spearman"] for st in states])
        rank = np.mean([st[s]["trusted_rank"] for st in states])
        lines.append(f"\n{s}: mean Spearman {rho:+.2f}; the candidate it trusts most ranks {rank:.1f} of "
                     f"{len(states[0]['worth'])} by held-out accuracy on average")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    states = [one_state(args, int(seed), int(extra)) for seed in args.seeds.split(",")
              for extra in args.extra.split(",")]
    for st in states:
        print(st, file=sys.stderr)
    print(render(states))


if __name__ == "__main__":
    main()
