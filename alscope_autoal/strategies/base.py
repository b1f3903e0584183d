"""The query-strategy protocol, the per-round context strategies read, and the shared top-k selection.

A strategy reads the context and returns a `Selection`: pool indices and the numbers it reports about the round;
it never trains the task model or changes the pool (the loop does both). Score-based strategies only compute
scores and call `top_k`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Protocol

import numpy as np
import torch
from torch import nn

from ..pool import LabelState
from ..profiles import Profile
from ..training import ImageSpec, forward_pool, normalise


MC_CHUNK = 8192  # rows per MC-dropout head pass


class SharedDropoutMasks:
    """Consistent MC dropout (Kirsch, van Amersfoort & Gal 2019): while active, every `nn.Dropout` of the model
    multiplies its input by one Bernoulli keep-mask per pass, scaled by 1/(1-p) like `nn.Dropout`, and shared by
    every row and chunk. `nn.Dropout` draws a mask per row, which makes pass k a different weight sample for each
    sample; products over passes (BatchBALD's joint) then no longer estimate a joint prediction.

    The model stays in eval mode (batch-norm frozen, the dropout layers themselves the identity) and forward
    hooks apply the masks, so any head built from `nn.Dropout` layers works unchanged. A head without one has
    nothing to sample and is refused.
    """

    def __init__(self, model: nn.Module, generator: torch.Generator):
        self.model, self.generator = model, generator
        self.layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        if not self.layers:
            raise ValueError("MC dropout needs an nn.Dropout layer in the model's head; this model has none")
        self.passes: list[dict[nn.Module, torch.Tensor]] = []  # each pass's masks, by layer
        self.masks: dict[nn.Module, torch.Tensor] = {}
        self.hooks: list = []

    def use_pass(self, t: int) -> None:
        """Apply pass t's masks from now on. A pass's masks are drawn when first used, so passes must first be
        used in order (0, 1, ...); after that any pass can be used again, e.g. for the next chunk of samples."""
        if t == len(self.passes):
            self.passes.append({})
        self.masks = self.passes[t]

    def mask(self, layer: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
        """The pass's mask for `layer`, drawn on the CPU generator (same picks on any device) at first use."""
        if layer not in self.masks:
            keep = 1.0 - layer.p
            drawn = torch.bernoulli(torch.full((1, *x.shape[1:]), keep), generator=self.generator)
            self.masks[layer] = (drawn / keep if keep > 0 else drawn).to(x.device, x.dtype)
        return self.masks[layer]

    def __enter__(self) -> "SharedDropoutMasks":
        self.model.eval()
        self.hooks = [layer.register_forward_hook(lambda mod, inputs, _out: inputs[0] * self.mask(mod, inputs[0]))
                      for layer in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks = []


@dataclass
class QueryContext:
    """What a strategy may look at in one round: the trained model, the pool, the images, the labeled labels.

    Forward passes are cached, so strategies that share one round's context (AutoAL's candidates) pay once.
    """

    model: nn.Module
    pool: LabelState
    x: torch.Tensor  # every pool image, uint8 (N, C, H, W)
    y: torch.Tensor  # ground truth of the pool; read it only through `labeled_targets`
    spec: ImageSpec
    profile: Profile
    device: torch.device
    round: int
    seed: int  # the job's strategy seed, for strategies that train auxiliary networks
    next_model_seed: int | None = None  # the seed the loop will train the next round's task model with
    rounds: int | None = None  # the job's query rounds (its --rounds; None: the profile's)
    # The loop's pool index of each sample here (sorted), when this context shows part of the pool (`view`:
    # --subsample, the oracle's held-out split); None: positions here are the loop's pool indices.
    pool_index: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_classes(self) -> int:
        return self.spec.n_classes

    def view(self, rows: np.ndarray) -> "QueryContext":
        """This context with only the samples at `rows` (sorted positions): a strategy picks from it exactly as from
        the whole pool (same model, seeds and labels), and `pool_ids` maps its picks back."""
        x = self.x[torch.as_tensor(rows, device=self.x.device)]
        return dataclasses.replace(self, pool=self.pool.subset(rows), x=x, y=self.y[torch.as_tensor(rows)],
                                   pool_index=self.pool_ids(rows), _cache={})

    def pool_ids(self, positions: np.ndarray) -> np.ndarray:
        """The loop's pool indices of these positions: what a strategy keeps across rounds, whose views differ."""
        return np.asarray(positions) if self.pool_index is None else self.pool_index[positions]

    def positions(self, ids: np.ndarray) -> np.ndarray | None:
        """The positions here of these pool indices (from `pool_ids`); None if any of them is not in this context."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.pool_index is None:
            return ids if ids.size == 0 or (ids.min() >= 0 and ids.max() < len(self.pool)) else None
        found = np.searchsorted(self.pool_index, ids)
        inside = found < len(self.pool_index)
        if not inside.all() or (self.pool_index[found] != ids).any():
            return None
        return found

    def labeled_targets(self, indices: np.ndarray) -> torch.Tensor:
        if not self.pool.labeled_mask[indices].all():
            raise ValueError("a strategy asked for the label of an unlabeled sample")
        return self.y[torch.as_tensor(indices)]

    def oracle_targets(self, indices: np.ndarray) -> torch.Tensor:
        """Ground truth of ANY pool sample, labeled or not. Only the look-ahead `oracle` may call this: it uses
        labels nobody paid for, which is why it is a ceiling and never ranked among strategies."""
        return self.y[torch.as_tensor(indices)]

    def _forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        if "forward" not in self._cache:
            self._cache["forward"] = forward_pool(self.model, self.x, self.spec, self.device,
                                                  self.profile.eval_batch_size)
        return self._cache["forward"]

    def logits(self, indices: np.ndarray) -> torch.Tensor:
        return self._forward()[0][torch.as_tensor(indices)]

    def probs(self, indices: np.ndarray) -> torch.Tensor:
        return torch.softmax(self.logits(indices), dim=1)

    def embeddings(self, indices: np.ndarray) -> torch.Tensor:
        """A copy of these samples' embeddings (n x d)."""
        return self._forward()[1][torch.as_tensor(indices)]

    def pool_embeddings(self) -> torch.Tensor:
        """Every pool sample's embedding, without a copy: the round's cached tensor, shared by every strategy and
        candidate of this round, so read it and never write to it. At an N x d pool a copy is what a bounded
        memory claim cannot afford twice."""
        return self._forward()[1]

    @torch.inference_mode()
    def mc_probs(self, indices: np.ndarray, passes: int) -> torch.Tensor:
        """Softmax outputs of `passes` stochastic passes (dropout on, batch-norm frozen): (T, n, C).

        The backbone is deterministic in eval mode, so embeddings are computed once and only the head is sampled
        T times. Each pass uses one dropout mask for every sample (consistent MC dropout), so pass k is one draw
        of the weights. Seeded per round, so selections are reproducible.
        """
        key = ("mc", passes, indices.tobytes())
        if key not in self._cache:
            emb, rows = self.pool_embeddings(), torch.as_tensor(indices)
            out = torch.empty(passes, len(indices), self.n_classes)
            masks = SharedDropoutMasks(self.model, torch.Generator().manual_seed(self.seed + self.round))
            with masks:
                for start in range(0, len(indices), MC_CHUNK):  # gathered rows and head temporaries: MC_CHUNK x d
                    chunk = emb[rows[start:start + MC_CHUNK]].to(self.device)
                    for t in range(passes):
                        masks.use_pass(t)
                        out[t, start:start + MC_CHUNK] = torch.softmax(self.model.head(chunk).float(), 1).cpu()
            self._cache[key] = out
        return self._cache[key]

    def normalised(self, indices: np.ndarray) -> torch.Tensor:
        return normalise(self.x[torch.as_tensor(indices)].to(self.device), self.spec)


@dataclass(frozen=True)
class Selection:
    """What one `select` call returns: the picked pool indices, and the numbers the strategy reports about this
    choice (e.g. ProbCover's radius), which become extra columns of the round's row."""

    indices: np.ndarray
    extras: Mapping[str, float] = field(default_factory=dict)


class Strategy(Protocol):
    """Pick `budget` unlabeled pool indices. Must not change `ctx.pool` or train `ctx.model`.

    `budget` is always below the number of unlabeled samples: a budget that covers them all leaves nothing to
    choose, and callers then take them all without asking the strategy (the loop, `select_or_all`).
    """

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection: ...


class ContractError(RuntimeError):
    """A strategy returned what the contract forbids: its job fails with this reason and the sweep goes on."""


# What `selection_problems` checks, by the name `autoal check` prints for it.
RETURNS, BUDGET, DUPLICATES, INDICES = ("returns a Selection", "budget respected", "no duplicates",
                                        "no labeled or out-of-range indices")


def selection_problems(selection: object, pool: LabelState, budget: int) -> dict[str, str]:
    """Each broken rule of the selection contract with its reason (empty when the selection keeps them all):
    a `Selection` of integer indices with numeric extras, exactly `budget` of them, no index twice, each an
    unlabeled pool index. The loop refuses such a selection; `autoal check` prints each rule."""
    if not isinstance(selection, Selection):
        return {RETURNS: f"select returned {type(selection).__name__}, not a Selection(indices, extras)"}
    picked = np.asarray(selection.indices)
    if picked.ndim != 1 or picked.dtype.kind not in "iu":
        return {RETURNS: f"indices must be a 1-D integer array, got {picked.dtype} of shape {picked.shape}"}
    problems = {}
    odd = [key for key, value in selection.extras.items() if not is_number(key, value)]
    if odd:
        problems[RETURNS] = f"extra {odd[0]!r} is {selection.extras[odd[0]]!r}, not a number"
    if len(picked) != budget:
        problems[BUDGET] = f"{len(picked)} indices returned for a budget of {budget}"
    values, counts = np.unique(picked, return_counts=True)
    if (counts > 1).any():
        problems[DUPLICATES] = f"index {values[counts > 1][0]} picked {counts[counts > 1][0]} times"
    size = len(pool.labeled_mask)
    outside = picked[(picked < 0) | (picked >= size)]
    if len(outside):
        problems[INDICES] = f"index {outside[0]} is outside the pool (0 to {size - 1})"
    elif pool.labeled_mask[picked].any():
        problems[INDICES] = f"index {picked[pool.labeled_mask[picked]][0]} is already labeled"
    return problems


def is_number(key: object, value: object) -> bool:
    """An extra becomes a numeric column of the round's row: a str key, a real number that is not a bool."""
    return (isinstance(key, str) and isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def checked_select(strategy: Strategy, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
    """`strategy.select`, refused with a `ContractError` naming the first broken rule."""
    selection = strategy.select(ctx, budget, rng)
    problems = selection_problems(selection, ctx.pool, budget)
    if problems:
        rule, reason = next(iter(problems.items()))
        raise ContractError(f"the strategy broke the contract ({rule}) in round {ctx.round}: {reason}")
    return selection


def select_or_all(strategy: Strategy, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
    """`strategy.select`, or every unlabeled sample (no extras) when `budget` covers them all. Strategies that
    query other strategies (AutoAL's candidates on L_val, the oracle, albl, tailor) call them through this."""
    unlabeled = ctx.pool.unlabeled_indices()
    if budget >= len(unlabeled):
        return Selection(unlabeled)
    return strategy.select(ctx, budget, rng)


def top_k(scores: np.ndarray | torch.Tensor, k: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of the k highest scores; ties broken by a seeded random draw, not by position."""
    scores = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    k = min(k, len(scores))
    tiebreak = rng.random(len(scores))
    if k < len(scores):
        # argpartition narrows the candidates to the k best (with ties at the boundary) before an exact sort
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        candidates = np.flatnonzero(scores >= kth)
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((tiebreak[candidates], -scores[candidates]))
    return candidates[order[:k]]


class ScoreStrategy:
    """Base for strategies that rank unlabeled samples by a score (higher = query first)."""

    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        return Selection(candidates[top_k(self.scores(ctx, candidates), budget, rng)])
