"""Where in the embedding space do strategies pick? For each strategy of a results folder (or export), over the
samples its queries bought (the rows' `labeled_ids_added` after round 0; round 0 is the shared random start):

- typicality percentile: TypiClust's typicality (1 / mean distance to the 20 nearest pool samples) ranked among a
  seeded random 5,000 of the pool; random picks average about 50, outliers rank low;
- atypical share: the share of picks below the pool's 10th percentile of typicality (random: about 10 %);
- neighbour agreement: the share of a pick's 20 nearest pool samples that have its own label; low where classes
  overlap (the pool's own mean is printed for reference);
- two-class share: the share of those 20 neighbours in the two classes most common among them: high on a boundary
  between two classes, lower where several mix;
- AUBC (%) from the same rows.

Distances are Euclidean on the cached embeddings the jobs trained on (their encoder), to every sample of the
training set (the pool, unless the jobs capped it with --max-pool).

    OMP_NUM_THREADS=1 python benchmarks/where_picks_lie.py RESULTS --dataset cifar10 \\
        --encoder efficientnet-lite0 --data-dir DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

NEIGHBOURS = 20
REFERENCE_SIZE = 5_000
SEED = 0


def nearest(queries: torch.Tensor, pool: torch.Tensor, k: int, chunk: int = 2_048) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices of each query's k nearest pool rows, leaving out the query itself (distance 0)."""
    pool_norms = pool.square().sum(1)
    distances, indices = [], []
    for start in range(0, len(queries), chunk):
        q = queries[start:start + chunk]
        squared = (q.square().sum(1, keepdim=True) + pool_norms - 2 * q @ pool.T).clamp_min_(0)
        d, i = squared.topk(k + 1, largest=False)
        distances.append(d[:, 1:].sqrt())
        indices.append(i[:, 1:])
    return torch.cat(distances), torch.cat(indices)


def describe(ids: np.ndarray, x: torch.Tensor, y: np.ndarray, reference_typicality: np.ndarray) -> dict[str, float]:
    distances, neighbours = nearest(x[ids], x, NEIGHBOURS)
    typicality = (1 / distances.mean(1).clamp_min(1e-12)).numpy()
    percentile = 100 * np.searchsorted(np.sort(reference_typicality), typicality) / len(reference_typicality)
    labels = y[neighbours.numpy()]
    agreement = (labels == y[ids, None]).mean(1)
    by_class = np.zeros((len(ids), y.max() + 1))
    np.add.at(by_class, (np.arange(len(ids))[:, None], labels), 1)
    two_classes = np.sort(by_class, 1)[:, -2:].sum(1) / NEIGHBOURS
    return {"picks": len(ids), "typicality percentile": percentile.mean(),
            "atypical share %": 100 * (percentile < 10).mean(), "neighbour agreement %": 100 * agreement.mean(),
            "two-class share %": 100 * two_classes.mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results folder or an export with labeled_ids_added")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--encoder", required=True)
    parser.add_argument("--data-dir", default="../shared/data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import pandas as pd

    from alscope_autoal.analysis.aggregate import aubc
    from alscope_autoal.analysis.load import read_source
    from alscope_autoal.encoders.cache import embedded_dataset
    from alscope_autoal.errors import UserError

    try:
        rows = read_source(args.results, skip_damaged=False)[0]
        data = embedded_dataset(args.dataset, args.encoder, args.data_dir)
    except UserError as error:
        parser.error(str(error))
    rows = rows[rows["dataset"] == args.dataset]
    lacking = rows.reindex(columns=["labeled_ids_added"])["labeled_ids_added"].isna()
    if lacking.all():
        parser.error(f"{args.results} has no rows of {args.dataset} that record labeled_ids_added (results written "
                     "before 0bf60fa have none): rerun the jobs")
    if lacking.any():
        print(f"left out: {rows.loc[lacking, 'job_id'].nunique()} job(s) written before their rows named the picks")
    rows = rows[~lacking]
    x, y = data.train_x.float(), data.train_y.numpy()
    reference = np.random.default_rng(SEED).choice(len(x), REFERENCE_SIZE, replace=False)
    reference_typicality = (1 / nearest(x[reference], x, NEIGHBOURS)[0].mean(1)).numpy()
    pool = describe(reference, x, y, reference_typicality)
    table = {}
    for strategy, jobs in rows.groupby("strategy"):
        picked = np.concatenate([np.asarray(ids) for ids in jobs.loc[jobs["round"] > 0, "labeled_ids_added"]])
        areas = [aubc(job["n_labeled"].to_numpy(), job["accuracy"].to_numpy()) for _, job in jobs.groupby("job_id")]
        table[strategy] = describe(picked, x, y, reference_typicality) | {"AUBC %": 100 * np.mean(areas),
                                                                         "jobs": jobs["job_id"].nunique()}
    frame = pd.DataFrame(table).T.sort_values("typicality percentile").astype({"picks": int, "jobs": int})
    print(f"{args.dataset}/{args.encoder}: the pool's own neighbour agreement {pool['neighbour agreement %']:.1f} %, "
          f"two-class share {pool['two-class share %']:.1f} %\n"
          f"{frame.round(1).to_string()}")


if __name__ == "__main__":
    main()
