"""`autoal ablate`: AutoAL variants (candidate subsets, components switched off) planned with `bench`'s machinery
and run as one sweep. Each variant's jobs carry its name (`JobSpec.variant`, stored in every row), so the table and
figure are drawn from the results folder alone, by `analysis.ablation` (which also estimates a dry run's time).

Subsets of K candidates are the first K of the candidate order (default: the paper's order, PAPER_CANDIDATES:
entropy, margin, least-confidence, kmeans, bald, var-ratio, mean-std), or subsets the user names. Component
variants use the whole order with one component changed:

- no-loss-head: the loss-prediction head is neither trained nor part of the final score;
- no-pretrain:  FitNet is not pre-trained on L_fit before the alternation;
- hard-mask:    the released code's sigmoid(1e11 * (s - theta)), which gives SearchNet no gradient;
- per-strategy-thresholds: SearchNet weighs each candidate's continuous score above its own threshold instead
                of its 0/1 picks (AutoAL's `thresholds` parameter).

The changes that make `autoal-lookahead` (docs/autoal-lookahead.md), one at a time on the paper's formulation:

- frozen-fitnet:     FitNet stops learning after pre-training (`fitnet_updates=frozen`);
- fitnet-val-model:  the candidates pick on L_val with that FitNet, for which L_val is unseen (`val_model=fitnet`);
- lookahead:         the one-step look-ahead objective on a held-out third of L (`objective=lookahead`);
- softmax-mixing:    softmax(Theta) with its own optimiser (`mixing=softmax`);
- running-threshold: a moving average of the batch thresholds (`threshold=running`);
- query-ratio:       candidates pick, and the mask selects, the query's own fraction b/|U| (`ratio=query`);
- all-lookahead:     every one of them together with per-strategy thresholds and no loss head: the
                     `autoal-lookahead` strategy, run as an `autoal` variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .bench import BenchRequest, plan, run_specs
from .errors import UserError
from .runner import Reporter, RunOptions, SweepOutcome
from .spec import JobSpec
from .strategies.autoal import AutoAL, AutoALLookahead
from .strategies.autoal.candidates import PAPER_CANDIDATES, parse_candidates

COMPONENTS: dict[str, dict[str, Any]] = {
    "no-loss-head": {"use_loss_head": False},
    "no-pretrain": {"pretrain": False},
    "hard-mask": {"hard_mask": True},
    "per-strategy-thresholds": {"thresholds": "per-strategy"},
    "frozen-fitnet": {"fitnet_updates": "frozen"},
    "fitnet-val-model": {"val_model": "fitnet"},
    "lookahead": {"objective": "lookahead"},
    "softmax-mixing": {"mixing": "softmax"},
    "running-threshold": {"threshold": "running"},
    "query-ratio": {"ratio": "query"},
    "all-lookahead": {k: v for k, v in AutoALLookahead.DEFAULTS.items() if AutoAL.DEFAULTS[k] != v},
}


@dataclass(frozen=True)
class Variant:
    name: str
    candidates: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)  # AutoAL parameters besides the candidates

    def strategy_params(self, base: dict[str, Any]) -> dict[str, Any]:
        return {**base, **self.params, "candidates": ",".join(self.candidates)}


@dataclass(frozen=True)
class AblationRequest:
    bench: BenchRequest  # datasets, seeds, profile, budget, setting; its strategies are the baselines
    num_candidates: tuple[int, ...] = ()
    components: tuple[str, ...] = ()
    subsets: tuple[tuple[str, ...], ...] = ()  # user-given candidate subsets
    order: tuple[str, ...] = PAPER_CANDIDATES


def variants(request: AblationRequest) -> list[Variant]:
    """The variants to run: first-K subsets, user subsets, then components (with the full set as reference)."""
    order = parse_candidates(request.order)
    out: list[Variant] = []
    for k in request.num_candidates:
        if not 1 <= k <= len(order):
            raise UserError(f"--num-candidates {k} is out of range: the candidate order holds {len(order)} "
                            f"({','.join(order)})")
        out.append(Variant(f"K={k}", order[:k]))
    out += [Variant("+".join(parse_candidates(s)), parse_candidates(s)) for s in request.subsets]
    for name in request.components:
        if name not in COMPONENTS:
            raise UserError(f"unknown component {name!r}; choose from {', '.join(COMPONENTS)}")
        out.append(Variant(f"K={len(order)} {name}", order, COMPONENTS[name]))
    if request.components and len(order) not in request.num_candidates:
        out.insert(0, Variant(f"K={len(order)}", order))
    if not out:
        raise UserError("nothing to ablate: give --num-candidates (e.g. 3,5,7), --components or --subset")
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise UserError(f"the ablation names a variant twice: {', '.join(names)}")
    return out


def ablation_specs(request: AblationRequest, options: RunOptions = RunOptions()) -> list[JobSpec]:
    """Every job of the ablation, validated: each variant's `autoal` jobs (named by the variant), then the
    baselines'."""
    base = dict(request.bench.strategy_params.get("autoal", {}))
    base.pop("candidates", None)
    specs = []
    for variant in variants(request):
        sub = replace(request.bench, strategies=("autoal",), strategy_params={"autoal": variant.strategy_params(base)})
        specs += [replace(spec, variant=variant.name) for spec in plan(sub, options)]
    baselines = tuple(s for s in request.bench.strategies if s != "autoal")
    if baselines:
        specs += plan(replace(request.bench, strategies=baselines), options)
    return specs


def run_ablation(specs: list[JobSpec], out_dir: Path, options: RunOptions = RunOptions(),
                 reporter: Reporter | None = None) -> SweepOutcome:
    """Run the ablation's jobs as one sweep: finished jobs in `out_dir` are skipped, as in `bench`."""
    options.check()
    return run_specs(specs, out_dir, options, reporter)
