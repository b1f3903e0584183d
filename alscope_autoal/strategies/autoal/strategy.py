"""The `autoal` strategy and its sanity baselines `vote` and `vote-random`.

AutoAL.select, once per round: split the labeled set into L_fit / L_val (seeded), compute the candidate matrix on
L_val and on U (once, cached), run the bi-level search, then score every pool sample with the trained SearchNet,
the candidate matrix on U and the loss-prediction head, and take the top b.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ...errors import UserError
from ...seeds import derive_seed
from ...training import normalise
from ..base import QueryContext, Selection, top_k
from .candidates import (THRESHOLDS, RoundCache, build_candidates, candidate_matrix, parse_candidates,
                         pick_matrix, simulated_context)
from .networks import BACKBONES
from .search import (FITNET_UPDATES, MIXINGS, OBJECTIVES, THRESHOLDS_OVER, SearchConfig, SearchOutcome,
                     prepared_fitnet, search)

# Schedules per profile (unknown profiles use the entry of their task-model family). Steps are optimiser steps;
# epochs (passes over L_fit / L_val) add to them where given, as in the paper's "200 + 400 epochs".
SCHEDULES: dict[str, dict[str, Any]] = {
    # tests only: a few steps on a tiny network, so the whole conformance suite runs in seconds
    "smoke": dict(backbone="small-cnn", width=8, pretrain_steps=4, search_steps=6, pretrain_epochs=0,
                  search_epochs=0, batch_size=32, lr=0.01),
    # a 2-core CPU: half-width small CNNs and a few hundred steps, a fraction of the task model's training
    "cpu": dict(backbone="small-cnn", width=16, pretrain_steps=100, search_steps=150, pretrain_epochs=0,
                search_epochs=0, batch_size=64, lr=0.01),
    # the paper: ResNet-18, FitNet pre-trained 200 epochs, then 400 epochs of alternation, lr 0.005
    "paper": dict(backbone="resnet18", width=64, pretrain_steps=0, search_steps=0, pretrain_epochs=200,
                  search_epochs=400, batch_size=128, lr=0.005),
    # frozen embeddings: FitNet and SearchNet are 256-unit MLPs, as cheap as the linear task model's training
    "linear": dict(backbone="mlp", width=256, pretrain_steps=100, search_steps=150, pretrain_epochs=0,
                   search_epochs=0, batch_size=64, lr=0.01),
}


def schedule_for(ctx: QueryContext) -> dict[str, Any]:
    if ctx.profile.name in SCHEDULES:
        return SCHEDULES[ctx.profile.name]
    return SCHEDULES[{"resnet18": "paper", "resnet18-imagenet": "paper", "linear": "linear"}.get(ctx.profile.model,
                                                                                                 "cpu")]


class CandidateVote:
    """Shared by AutoAL and the votes: the candidates and their cached pick matrix on the real pool."""

    def __init__(self, candidates: str | Sequence[str] | None, candidate_params: dict | None):
        self.candidates = parse_candidates(candidates)
        self.strategies = build_candidates(self.candidates, candidate_params)
        self.cache = RoundCache()
        self.calls: dict[str, int] = {}  # candidate name -> select() calls, for the once-per-round test

    def pool_matrix(self, ctx: QueryContext, budget: int) -> torch.Tensor:
        return self.cache.get(ctx, budget, "pool", lambda: pick_matrix(
            ctx, self.strategies, self.candidates, budget, derive_seed(ctx.seed, "autoal-pool", ctx.round),
            self.calls))


class Vote(CandidateVote):
    """Top b by how many candidates pick a sample; ties broken by the seeded generator."""

    def __init__(self, candidates: str | Sequence[str] | None = None, candidate_params: dict | None = None):
        super().__init__(candidates, candidate_params)

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        unlabeled = ctx.pool.unlabeled_indices()
        return Selection(unlabeled[top_k(self.pool_matrix(ctx, budget).sum(1), budget, rng)])


class VoteRandom(CandidateVote):
    """The candidates' picks weighted by random per-sample weights: what the released AutoAL code amounts to
    (its SearchNet gets no gradient, so its weights stay at their random start)."""

    def __init__(self, candidates: str | Sequence[str] | None = None, candidate_params: dict | None = None):
        super().__init__(candidates, candidate_params)

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        unlabeled = ctx.pool.unlabeled_indices()
        matrix = self.pool_matrix(ctx, budget)
        weights = torch.from_numpy(rng.random(matrix.shape)).float()
        return Selection(unlabeled[top_k((matrix * weights).sum(1), budget, rng)])


class AutoAL(CandidateVote):
    """AutoAL (Wang, Zhan & Huang, ICML 2025) as the paper describes it, with the released code's defects
    repaired (docs/autoal.md). Parameters left as None take the profile's schedule (SCHEDULES).

    val_model: which model the candidates query on the simulated pool L_val. "task" (the released code's
    choice): the round's task model, which was trained on L_val, so its uncertainty there says little about
    an unseen pool. "fitnet": FitNet after pre-training on L_fit only, for which L_val is unseen, as U is for
    the task model (it carries the profile's dropout so the MC-dropout candidates have something to sample).

    thresholds: what SearchNet weighs per candidate. "shared" (the paper's S_k): each candidate's 0/1 picks,
    with one threshold on the aggregate, so a sample's score is a weighted count of the candidates that pick it.
    "per-strategy": each candidate's continuous score as a margin above its own (1 - t) quantile
    (`quantile_margins`), so the weights can trade how far above threshold a sample lies for each candidate.

    ratio: t, the fraction of L_val each candidate picks and the mask selects; "query" uses the query's own
    fraction b / |U|, so candidates pick on L_val as sparsely as they will pick on U.

    objective, fitnet_updates, mixing, threshold, lookahead_lr: see search.py. The look-ahead objective splits
    the labeled set in three (L_fit, L_val, L_hold) instead of two halves.
    """

    name = "autoal"
    DEFAULTS: dict[str, Any] = dict(
        temperature=0.1, ratio=0.2, budget_weight=1.0, use_loss_head=True, loss_weight=0.1, pretrain=True,
        hard_mask=False, val_model="task", thresholds="shared", objective="hardness", fitnet_updates="joint",
        mixing="sigmoid", threshold="batch", lookahead_lr=None)

    def __init__(self, candidates: str | Sequence[str] | None = None, candidate_params: dict | None = None,
                 temperature: float | None = None, ratio: float | str | None = None,
                 budget_weight: float | None = None, use_loss_head: bool | None = None,
                 loss_weight: float | None = None, pretrain: bool | None = None, hard_mask: bool | None = None,
                 backbone: str | None = None, width: int | None = None, pretrain_steps: int | None = None,
                 search_steps: int | None = None, pretrain_epochs: int | None = None,
                 search_epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                 val_model: str | None = None, thresholds: str | None = None, objective: str | None = None,
                 fitnet_updates: str | None = None, mixing: str | None = None, threshold: str | None = None,
                 lookahead_lr: float | None = None):
        super().__init__(candidates, candidate_params)
        given = dict(temperature=temperature, ratio=ratio, budget_weight=budget_weight,
                     use_loss_head=use_loss_head, loss_weight=loss_weight, pretrain=pretrain, hard_mask=hard_mask,
                     val_model=val_model, thresholds=thresholds, objective=objective,
                     fitnet_updates=fitnet_updates, mixing=mixing, threshold=threshold, lookahead_lr=lookahead_lr)
        o = self.DEFAULTS | {k: v for k, v in given.items() if v is not None}
        check_choices(o)
        ratio_ok = o["ratio"] == "query" or (isinstance(o["ratio"], (int, float)) and 0 < o["ratio"] < 1)
        if not o["temperature"] > 0 or not ratio_ok:
            raise UserError(f"{self.name} needs temperature > 0 and 0 < ratio < 1 (or ratio=query), got "
                            f"{o['temperature']} and {o['ratio']}")
        if o["lookahead_lr"] is not None and not o["lookahead_lr"] > 0:
            raise UserError(f"{self.name} needs lookahead_lr > 0, got {o['lookahead_lr']}")
        if backbone is not None and backbone not in BACKBONES:
            raise UserError(f"unknown AutoAL backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.thresholds, self.val_model, self.loss_weight = o["thresholds"], o["val_model"], o["loss_weight"]
        self.options = {k: o[k] for k in ("temperature", "ratio", "budget_weight", "use_loss_head", "pretrain",
                                          "hard_mask", "objective", "fitnet_updates", "mixing", "threshold",
                                          "lookahead_lr")}
        given = dict(backbone=backbone, width=width, pretrain_steps=pretrain_steps, search_steps=search_steps,
                     pretrain_epochs=pretrain_epochs, search_epochs=search_epochs, batch_size=batch_size, lr=lr)
        self.schedule = {k: v for k, v in given.items() if v is not None}
        self.last_search: SearchOutcome | None = None

    def config(self, ctx: QueryContext, n_fit: int, n_val: int, ratio: float) -> SearchConfig:
        s = schedule_for(ctx) | self.schedule
        bs = s["batch_size"]
        return SearchConfig(
            backbone=s["backbone"], width=s["width"], batch_size=bs, lr=s["lr"],
            pretrain_steps=s["pretrain_steps"] + s["pretrain_epochs"] * math.ceil(n_fit / bs),
            search_steps=s["search_steps"] + s["search_epochs"] * math.ceil(n_val / bs),
            **(self.options | {"ratio": ratio}))

    def ratio(self, budget: int, n_unlabeled: int) -> float:
        """t for this round: the fixed ratio, or under ratio=query the query's fraction of the pool."""
        if self.options["ratio"] == "query":
            return min(max(budget / max(n_unlabeled, 1), 1e-3), 0.5)
        return self.options["ratio"]

    def split(self, ctx: QueryContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """L_fit / L_val (/ L_hold under the look-ahead objective): a seeded split of the labeled set."""
        labeled = ctx.pool.trainable_indices()
        order = np.random.default_rng(derive_seed(ctx.seed, "autoal-split", ctx.round)).permutation(labeled)
        if self.options["objective"] == "lookahead":
            third = len(order) // 3
            parts = order[:third], order[third:2 * third], order[2 * third:]
        else:
            half = len(order) // 2
            parts = order[:half], order[half:], order[:0]
        fit, val, hold = (np.sort(part) for part in parts)
        return fit, val, hold

    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        t0 = time.perf_counter()
        unlabeled = ctx.pool.unlabeled_indices()
        fit, val, hold = self.split(ctx)
        ratio = self.ratio(budget, len(unlabeled))
        pool_picks = self.search_matrix(ctx, budget)
        timer = {"candidates": time.perf_counter() - t0, "search": 0.0}
        searchable = len(val) >= 2 and (self.options["objective"] != "lookahead" or len(hold) >= 1)
        outcome = self.run_search(ctx, fit, val, hold, ratio, timer) if searchable else None
        t2 = time.perf_counter()
        scores, shares = self.final_scores(ctx, outcome, unlabeled, pool_picks)
        picked = unlabeled[top_k(scores, budget, rng)]
        return Selection(picked, {
            **{f"autoal_weight_{name}": float(w) for name, w in zip(self.candidates, shares)},
            "autoal_candidate_seconds": timer["candidates"], "autoal_search_seconds": timer["search"],
            "autoal_query_seconds": time.perf_counter() - t2,
            "autoal_searchnet_grad_norm": outcome.grad_norm if outcome else float("nan"),
            "autoal_objective_start": outcome.objective_start if outcome else float("nan"),
            "autoal_objective_end": outcome.objective_end if outcome else float("nan"),
        })

    def search_matrix(self, ctx: QueryContext, budget: int) -> torch.Tensor:
        """The candidate matrix on U that the trained SearchNet weighs (the votes' 0/1 matrix when shared)."""
        if self.thresholds == "shared":
            return self.pool_matrix(ctx, budget)
        return self.cache.get(ctx, budget, "pool-margins", lambda: candidate_matrix(
            self.thresholds, ctx, self.strategies, self.candidates, budget,
            derive_seed(ctx.seed, "autoal-pool", ctx.round), self.calls))

    def val_matrix(self, ctx: QueryContext, fit: np.ndarray, val: np.ndarray,
                   model: nn.Module | None = None, ratio: float | None = None) -> torch.Tensor:
        """Candidate picks on L_val: each candidate selects ratio * |L_val| of it, as it would select from U,
        querying `model` (default: the round's task model)."""
        ratio = self.options["ratio"] if ratio is None else ratio
        k = max(1, round(ratio * len(val)))

        def compute() -> torch.Tensor:
            sub, _ = simulated_context(ctx, fit, val)
            if model is not None:
                sub.model = model
            return candidate_matrix(self.thresholds, sub, self.strategies, self.candidates, k,
                                    derive_seed(ctx.seed, "autoal-val", ctx.round), self.calls)

        return self.cache.get(ctx, (len(val), k), f"val-{self.val_model}-{self.thresholds}", compute)

    def run_search(self, ctx: QueryContext, fit: np.ndarray, val: np.ndarray, hold: np.ndarray, ratio: float,
                   timer: dict[str, float]) -> SearchOutcome:
        """Candidate picks on L_val, then the search; adds the seconds spent to `timer`."""
        x, y = ctx.x, ctx.y
        on = lambda idx: torch.as_tensor(idx, device=x.device)  # noqa: E731
        fit_data = (x[on(fit)], y[torch.as_tensor(fit)])
        cfg = self.config(ctx, len(fit), len(val), ratio)
        seed = derive_seed(ctx.seed, "autoal-search", ctx.round)
        t0 = time.perf_counter()
        fit_net = None
        if self.val_model == "fitnet" or cfg.frozen_fitnet:  # a FitNet that has not seen L_val
            fit_net = prepared_fitnet(fit_data, ctx.spec, cfg, seed, ctx.device, ctx.profile.dropout)
        t1 = time.perf_counter()
        val_picks = self.val_matrix(ctx, fit, val, fit_net if self.val_model == "fitnet" else None, ratio)
        t2 = time.perf_counter()
        hold_data = (x[on(hold)], y[torch.as_tensor(hold)]) if len(hold) else None
        outcome = search(fit_data, (x[on(val)], y[torch.as_tensor(val)], val_picks), ctx.spec, cfg, seed,
                         ctx.device, fit_net, hold_data)
        timer["candidates"] += t2 - t1
        timer["search"] += (t1 - t0) + (time.perf_counter() - t2)
        self.last_search = outcome
        return outcome

    @torch.inference_mode()
    def final_scores(self, ctx: QueryContext, outcome: SearchOutcome | None, unlabeled: np.ndarray,
                     picks: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Sbar on U (min-max scaled to [0, 1]) plus loss_weight * the loss head's rank in U; and the mean share of
        each candidate in the effective weights lambda * sigmoid(Theta) * W. Without a search: the vote."""
        if outcome is None:
            return picks.sum(1), np.full(len(self.candidates), 1 / len(self.candidates))
        net, scale = outcome.net, self.options.get("mixing_scale", 1.0)
        weights, predicted = [], []
        batch = ctx.profile.eval_batch_size
        for start in range(0, len(unlabeled), batch):
            idx = torch.as_tensor(unlabeled[start:start + batch], device=ctx.x.device)
            w, p = net(normalise(ctx.x[idx].to(ctx.device), ctx.spec))
            weights.append(w.float().cpu())
            predicted.append(p.float().cpu())
        w, p = torch.cat(weights), torch.cat(predicted)
        effective = net.mixing(scale).cpu() * w
        sbar = (effective * picks).sum(1)
        spread = sbar.max() - sbar.min()
        scores = (sbar - sbar.min()) / spread if spread > 0 else torch.zeros_like(sbar)
        if self.options["use_loss_head"] and self.loss_weight:
            rank = p.argsort().argsort().float() / max(len(p) - 1, 1)
            scores = scores + self.loss_weight * rank
        shares = (effective / effective.sum(1, keepdim=True)).mean(0).numpy()
        return scores, shares


class AutoALLookahead(AutoAL):
    """AutoAL's search with an objective that rewards usefulness rather than hardness (docs/autoal-lookahead.md):
    the one-step look-ahead on a held-out third of the labeled set, a frozen FitNet that the candidates also
    query on L_val, softmax mixing with its own optimiser, a running threshold, candidates' continuous scores
    above per-strategy thresholds, and the query's own pick fraction. Every choice is an `autoal` parameter too.
    """

    name = "autoal-lookahead"
    DEFAULTS = AutoAL.DEFAULTS | dict(
        objective="lookahead", fitnet_updates="frozen", val_model="fitnet", mixing="softmax", threshold="running",
        thresholds="per-strategy", ratio="query", use_loss_head=False)


def check_choices(options: dict[str, Any]) -> None:
    """Each string parameter against its choices, in one line."""
    for key, choices in (("thresholds", THRESHOLDS), ("val_model", ("task", "fitnet")), ("objective", OBJECTIVES),
                         ("fitnet_updates", FITNET_UPDATES), ("mixing", MIXINGS), ("threshold", THRESHOLDS_OVER)):
        if options[key] not in choices:
            raise UserError(f"AutoAL {key} must be one of {', '.join(choices)}, got {options[key]!r}")
