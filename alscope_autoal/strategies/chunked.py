"""Distance computations in bounded memory, shared by the diversity strategies (k-means, core-set, BADGE,
TypiClust, ProbCover).

No function here builds an N x N or N x k matrix for the whole pool: pairwise blocks are cut into row chunks of
at most `CHUNK_ELEMENTS` entries (16 MiB of float32), two of which are alive while a block is computed. Each
loop uses its block within one statement, so the block is freed before the next chunk's two are made (a name
holding it would keep a third alive). The
extra memory is O(N + CHUNK_ELEMENTS) on top of the embeddings themselves, whatever the pool size. Greedy
selectors (k-means++, k-center) only ever need the distance from every point to one new centre, which is an O(N)
vector. Everything runs on the device of its inputs: strategies
hand in embeddings on the job's device, so on a GPU the distance maths runs there.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

CHUNK_ELEMENTS = 1 << 22
MAX_ROWS = 8192  # also bounds the (rows x d) temporaries of a block

DistanceTo = Callable[[int], torch.Tensor]  # position j -> squared distances of all N points to point j


def chunk_size(width: int) -> int:
    """Rows per chunk such that rows x `width` stays within CHUNK_ELEMENTS."""
    return max(1, min(CHUNK_ELEMENTS // max(width, 1), MAX_ROWS))


def sq_norms(x: torch.Tensor) -> torch.Tensor:
    """Squared row norms without an (N, d) temporary."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def sq_dist_block(a: torch.Tensor, b: torch.Tensor, a_norms: torch.Tensor | None = None,
                  b_norms: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances between the rows of a small block `a` and of `b`: (len(a), len(b)).
    |a|^2 + |b|^2 - 2 a.b with two block-sized tensors alive, not four; in place, the same floats as the
    plain expression (scaling by -2 is exact, and x + (-y) is x - y)."""
    a_norms = sq_norms(a) if a_norms is None else a_norms
    b_norms = sq_norms(b) if b_norms is None else b_norms
    products = (a @ b.T).mul_(-2)
    return (a_norms[:, None] + b_norms[None, :]).add_(products).clamp_min_(0)


def nearest(x: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of x: squared distance to, and index of, its nearest centre; computed chunk by chunk."""
    dist = torch.empty(len(x), dtype=x.dtype, device=x.device)
    idx = torch.empty(len(x), dtype=torch.long, device=x.device)
    if len(centres) == 0:
        return dist.fill_(float("inf")), idx.fill_(-1)
    c_norms = sq_norms(centres)
    step = chunk_size(len(centres))
    for start in range(0, len(x), step):
        dist[start:start + step], idx[start:start + step] = sq_dist_block(x[start:start + step], centres,
                                                                          b_norms=c_norms).min(1)
    return dist, idx


def euclidean_distance_to(x: torch.Tensor) -> DistanceTo:
    """Squared distance from every row of x to row j, in O(N) memory (norms are computed once)."""
    norms = sq_norms(x)
    return lambda j: (norms + norms[j] - 2 * (x @ x[j])).clamp_min_(0)


def k_center_greedy(distance_to: DistanceTo, min_dist: torch.Tensor, k: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Sener & Savarese's greedy 2-approximation of k-center: repeatedly take the point farthest from every
    centre so far. `min_dist` holds each point's squared distance to the already-covered set (inf if none)."""
    min_dist = min_dist.clone()
    picked: list[int] = []
    for _ in range(min(k, len(min_dist))):
        if torch.isinf(min_dist).all():
            j = int(rng.integers(len(min_dist)))  # nothing covered yet: the first centre is a random point
        else:
            j = int(torch.argmax(min_dist))
        picked.append(j)
        min_dist = torch.minimum(min_dist, distance_to(j))
        min_dist[j] = -1.0  # never again
    return np.asarray(picked, dtype=np.int64)


def kmeans_pp(distance_to: DistanceTo, n: int, k: int, rng: np.random.Generator, first: int | None = None
              ) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): each next centre is drawn with probability proportional
    to its squared distance to the nearest centre so far. Distinct positions are guaranteed; when every
    remaining point coincides with a centre, the rest are drawn uniformly."""
    k = min(k, n)
    first = int(rng.integers(n)) if first is None else first
    picked = [first]
    chosen = np.zeros(n, dtype=bool)
    chosen[first] = True
    d2 = distance_to(first).double().cpu().numpy().copy()
    while len(picked) < k:
        d2[chosen] = 0.0
        total = d2.sum()
        if total > 0 and np.isfinite(total):
            j = int(rng.choice(n, p=d2 / total))
        else:
            j = int(rng.choice(np.flatnonzero(~chosen)))
        picked.append(j)
        chosen[j] = True
        np.minimum(d2, distance_to(j).double().cpu().numpy(), out=d2)
    return np.asarray(picked, dtype=np.int64)


def lloyd(x: torch.Tensor, centres: torch.Tensor, iters: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lloyd iterations from the given centres. Returns (centres, assignment, squared distance to own centre).
    An emptied cluster keeps its previous centre."""
    k = len(centres)
    dist, assign = nearest(x, centres)
    for _ in range(iters):
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        keep = counts == 0
        centres = torch.where(keep[:, None], centres, sums / counts.clamp_min(1)[:, None])
        dist, new_assign = nearest(x, centres)
        if torch.equal(new_assign, assign):
            break
        assign = new_assign
    return centres, assign, dist


def closest_member_per_cluster(assign: torch.Tensor, dist: torch.Tensor, k: int) -> np.ndarray:
    """For each non-empty cluster, the position of its member nearest to the centre (unique by construction)."""
    dist, assign = dist.cpu().numpy(), assign.cpu().numpy()
    order = np.lexsort((dist, assign))
    sorted_assign = assign[order]
    first = np.flatnonzero(np.r_[True, sorted_assign[1:] != sorted_assign[:-1]])
    return order[first[sorted_assign[first] < k]]


def kmeans(x: torch.Tensor, k: int, rng: np.random.Generator, iters: int = 10
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """k-means++ seeding then Lloyd iterations: (centres, assignment, squared distance to own centre)."""
    seeds = kmeans_pp(euclidean_distance_to(x), len(x), k, rng)
    return lloyd(x, x[torch.as_tensor(seeds)], iters)


def knn_mean_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean Euclidean distance of each row of x to its k nearest other rows, in row chunks of bounded size."""
    norms = sq_norms(x)
    out = torch.empty(len(x), dtype=x.dtype, device=x.device)
    step = chunk_size(len(x))
    for start in range(0, len(x), step):
        nearest_k = (sq_dist_block(x[start:start + step], x, norms[start:start + step], norms)
                     .topk(min(k + 1, len(x)), dim=1, largest=False).values[:, 1:])  # [:, 1:] drops self
        out[start:start + step] = nearest_k.sqrt().mean(1)
    return out


def count_within(x: torch.Tensor, y: torch.Tensor, radius_sq: float, weights: torch.Tensor | None = None,
                 x_norms: torch.Tensor | None = None, x_rows: torch.Tensor | None = None) -> torch.Tensor:
    """For each row of x (of `x[x_rows]` when given: gathered chunk by chunk, never copied whole), how many rows
    of y (or their total weight) lie strictly within the radius. `x_norms` are those of x's rows."""
    n = len(x) if x_rows is None else len(x_rows)
    out = torch.zeros(n, dtype=torch.float64, device=x.device)
    if len(y) == 0:
        return out
    x_norms = sq_norms(x) if x_norms is None else x_norms
    y_norms = sq_norms(y)
    w = torch.ones(len(y), dtype=x.dtype, device=x.device) if weights is None else weights.to(x.device, x.dtype)
    step = chunk_size(len(y))
    for start in range(0, n, step):
        rows = slice(start, start + step) if x_rows is None else x_rows[start:start + step]
        # lt_ in place: 1.0 within the radius, 0.0 outside
        out[start:start + step] = (sq_dist_block(x[rows], y, x_norms[rows], y_norms).lt_(radius_sq) @ w).double()
    return out


def nearest_other_label(x: torch.Tensor, rows: np.ndarray, labels: torch.Tensor) -> torch.Tensor:
    """Squared distance from each x[rows] to the nearest point of x whose label differs from its own."""
    norms = sq_norms(x)
    out = torch.empty(len(rows), dtype=x.dtype, device=x.device)
    step = chunk_size(len(x))
    for start in range(0, len(rows), step):
        r = torch.as_tensor(rows[start:start + step], device=x.device)
        # masked_fill_, unlike block[mask] = inf, makes no index tensor
        out[start:start + step] = (sq_dist_block(x[r], x, norms[r], norms)
                                   .masked_fill_(labels[r][:, None] == labels[None, :], float("inf")).min(1).values)
    return out
