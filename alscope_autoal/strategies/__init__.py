"""The strategy registry. Entries are classes (or "module:Class" for heavy ones, imported on first use);
`make_strategy` builds one with its parameters. Strategies from outside the package join it through installed
entry points (read at the first lookup) and `--plugin` files or modules (`alscope_autoal.plugins`), which
register with `STRATEGIES.add` or `@register_strategy`; docs/own-strategy.md is their contract."""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..plugins import entry_point_entries
from ..registry import Registry
from ..roles import ORACLES  # noqa: F401  (strategies that are ceilings, never ranked)
from .base import (ContractError, QueryContext, ScoreStrategy, Selection, Strategy, checked_select, select_or_all,
                   selection_problems, top_k)
from .baselines import RandomSampling
from .uncertainty import EntropySampling, LeastConfidence, MarginSampling

__all__ = ["STRATEGIES", "ContractError", "QueryContext", "ScoreStrategy", "Selection", "Strategy", "checked_select",
           "make_strategy", "register_strategy", "select_or_all", "selection_problems", "top_k"]

STRATEGIES: Registry[type] = Registry("strategy", discover=entry_point_entries)
STRATEGIES.add("random", RandomSampling, "uniform random sampling: the reference")
STRATEGIES.add("entropy", EntropySampling, "highest predictive entropy (Shannon 1948; Settles 2009 survey)")
STRATEGIES.add("margin", MarginSampling, "smallest gap between the two top classes (Scheffer et al. 2001)")
STRATEGIES.add("least-confidence", LeastConfidence, "lowest top-class probability (Lewis & Gale 1994)")
STRATEGIES.add("kmeans", "alscope_autoal.strategies.diversity:KMeansSampling",
               "embedding k-means, the sample nearest each centre (DeepAL; Zhdanov 2019)")
STRATEGIES.add("bald", "alscope_autoal.strategies.mc_dropout:BALD",
               "MC-dropout mutual information, T=passes (Houlsby et al. 2011; Gal et al. 2017)")
STRATEGIES.add("var-ratio", "alscope_autoal.strategies.mc_dropout:VarRatio",
               "MC-dropout variation ratio 1 - modal votes / T (Freeman 1965; Gal et al. 2017)")
STRATEGIES.add("mean-std", "alscope_autoal.strategies.mc_dropout:MeanSTD",
               "MC-dropout mean per-class std of p(y|x) (Kampffmeyer et al. 2016)")
STRATEGIES.add("coreset", "alscope_autoal.strategies.diversity:CoreSet",
               "k-center greedy on embeddings (Sener & Savarese 2018, core-set)")
STRATEGIES.add("badge", "alscope_autoal.strategies.gradient:BADGE",
               "k-means++ on last-layer gradient embeddings (Ash et al. 2020, BADGE)")
STRATEGIES.add("egl", "alscope_autoal.strategies.gradient:ExpectedGradientLength",
               "expected last-layer gradient length / model change (Settles et al. 2008; Huang et al. 2016)")
STRATEGIES.add("typiclust", "alscope_autoal.strategies.coverage:TypiClust",
               "most typical sample of uncovered k-means clusters (Hacohen et al. 2022, TypiClust)")
STRATEGIES.add("probcover", "alscope_autoal.strategies.coverage:ProbCover",
               "greedy max coverage by delta-balls, delta by purity (Yehuda et al. 2022, ProbCover)")
STRATEGIES.add("max-entropy", "alscope_autoal.strategies.mc_dropout:MaxEntropy",
               "entropy of the MC-dropout mean prediction, T=passes (Gal et al. 2017)")
STRATEGIES.add("batchbald", "alscope_autoal.strategies.batchbald:BatchBALD",
               "greedy joint mutual information of the batch, MC dropout (Kirsch et al. 2019, BatchBALD)")
STRATEGIES.add("alfa-mix", "alscope_autoal.strategies.perturbation:ALFAMix",
               "feature mixing with labeled anchors, then k-means (Parvaneh et al. 2022, ALFA-Mix)")
STRATEGIES.add("noise-stability", "alscope_autoal.strategies.perturbation:NoiseStability",
               "output change under Gaussian weight noise (Li et al. 2024, noise stability)")
STRATEGIES.add("cluster-margin", "alscope_autoal.strategies.hybrid:ClusterMargin",
               "lowest margins, HAC clusters, round-robin from small clusters (Citovsky et al. 2021)")
STRATEGIES.add("ensemble-var-ratio", "alscope_autoal.strategies.committee:EnsembleVarRatio",
               "variation ratio of a deep-ensemble committee (Beluch et al. 2018)")
STRATEGIES.add("learning-loss", "alscope_autoal.strategies.learning_loss:LearningLoss",
               "largest loss predicted by a jointly trained module (Yoo & Kweon 2019, learning loss)")
STRATEGIES.add("vaal", "alscope_autoal.strategies.vaal:VAAL",
               "VAE + discriminator, least 'labeled-looking' samples (Sinha et al. 2019, VAAL)")
STRATEGIES.add("lfosa", "alscope_autoal.strategies.open_set:LfOSA",
               "open-set aware: likely-known samples by per-class GMM on max activations (Ning et al. 2022)")
STRATEGIES.add("autoal", "alscope_autoal.strategies.autoal:AutoAL",
               "differentiable search over candidate strategies, repaired (Wang, Zhan & Huang, ICML 2025)")
STRATEGIES.add("autoal-lookahead", "alscope_autoal.strategies.autoal:AutoALLookahead",
               "AutoAL's search rewarding usefulness: one-step look-ahead on held-out labels (this suite; "
               "after DARTS, Liu et al. 2019)")
STRATEGIES.add("vote", "alscope_autoal.strategies.autoal:Vote",
               "top b by how many AutoAL candidates pick a sample (sanity baseline for AutoAL)")
STRATEGIES.add("vote-random", "alscope_autoal.strategies.autoal:VoteRandom",
               "candidate picks under random per-sample weights: what AutoAL's released code amounts to")
STRATEGIES.add("oracle", "alscope_autoal.strategies.oracle:Oracle",
               "ORACLE (uses unpaid labels; a ceiling, never ranked): retrains on each candidate's batch (and "
               "random ones) with true labels, keeps the best on a held-out split (after BoSS, Huseljic et al. 2026)")
STRATEGIES.add("albl", "alscope_autoal.strategies.selectors:ALBL",
               "EXP4.P bandit over candidate strategies plus random, importance-weighted accuracy reward "
               "(Hsu & Lin, AAAI 2015, ALBL)")
STRATEGIES.add("tailor", "alscope_autoal.strategies.selectors:TAILOR",
               "Thompson sampling over candidate strategies, class-diversity reward "
               "(Zhang et al., NeurIPS 2023, TAILOR)")
STRATEGIES.add("tcm", "alscope_autoal.strategies.selectors:TCM",
               "TypiClust while labels per class are few, then margin (Doucet et al. 2024, TCM)")


def register_strategy(name: str, description: str):
    """Class decorator for strategies from outside the package: `@register_strategy("mine", "what it does")`."""
    return STRATEGIES.register(name, description)


def make_strategy(name: str, params: dict[str, Any] | None = None) -> Strategy:
    cls = STRATEGIES.get(name)
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise UserError(f"bad parameters {params} for strategy {name!r}: {exc}") from None
