"""LfOSA (Ning et al. 2022, "Active Learning for Open-set Annotation"): query samples that are likely to come
from the known classes, so that open-set budget is not wasted on unknown-class samples.

A detector with C + 1 outputs (the C known classes plus "unknown") is trained on the labeled set, where every
labeled unknown-class sample (revealed as unknown when it was queried) is labeled C. For each unlabeled sample
predicted as a known class c, the maximum activation value (the top logit) is taken, a two-component Gaussian
mixture is fitted per class to those values, and the sample's score is the posterior of the higher-mean component:
the probability that it is a true member of c. Samples predicted as unknown rank last.

The detector is trained inside `select` (same architecture and profile schedule as the task model, seeds from
`ctx.seed` and the round); in a setting without unknown classes it still runs, with an empty unknown class.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from ..seeds import derive_seed
from ..training import forward_pool, train_model
from .base import QueryContext, Selection, top_k


def known_posterior(mav: np.ndarray, seed: int) -> np.ndarray:
    """Posterior of the higher-mean component of a 2-Gaussian mixture fitted to the max activation values."""
    if len(mav) < 4 or np.ptp(mav) == 0:
        return np.ones(len(mav))
    gmm = GaussianMixture(2, random_state=seed, tol=1e-3, reg_covar=1e-6).fit(mav[:, None])
    return gmm.predict_proba(mav[:, None])[:, int(np.argmax(gmm.means_[:, 0]))]


def lfosa_scores(logits: torch.Tensor, unknown_class: int, seed: int) -> np.ndarray:
    """Per sample: P(known member of its predicted class) in [0, 1], or -1 if predicted as unknown."""
    mav, pred = logits.max(1)
    mav, pred = mav.double().numpy(), pred.numpy()
    scores = np.full(len(pred), -1.0)
    for c in np.unique(pred):
        if c != unknown_class:
            members = pred == c
            scores[members] = known_posterior(mav[members], seed)
    return scores


class LfOSA:
    def select(self, ctx: QueryContext, budget: int, rng: np.random.Generator) -> Selection:
        candidates = ctx.pool.unlabeled_indices()
        labeled = ctx.pool.labeled_indices()
        y = ctx.labeled_targets(labeled).clone()
        y[y < 0] = ctx.n_classes  # queried unknown-class samples form the extra class
        spec = replace(ctx.spec, n_classes=ctx.n_classes + 1)
        seed = derive_seed(ctx.seed, "lfosa-detector", ctx.round)
        x_lab = ctx.x[torch.as_tensor(labeled, device=ctx.x.device)]
        detector = train_model(x_lab, y, spec, ctx.profile, seed, ctx.device)
        logits, _ = forward_pool(detector, ctx.x[torch.as_tensor(candidates, device=ctx.x.device)], spec,
                                 ctx.device, ctx.profile.eval_batch_size)
        scores = lfosa_scores(logits, ctx.n_classes, int(rng.integers(2**31)))
        return Selection(candidates[top_k(scores, budget, rng)],
                         {"lfosa_labeled_unknown": int((y == ctx.n_classes).sum())})
