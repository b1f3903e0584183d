"""Deep-ensemble committee (Beluch et al. 2018): `members` task models trained from different seeds on the
labeled set; query the samples on whose predicted class the committee agrees least (variation ratio).

The extra members are trained inside `select` because only this strategy needs them: the loop's model is
member 0 and `members - 1` more are trained with the job's profile from seeds derived from `ctx.seed` and the
round, so a strategy that does not use an ensemble pays nothing. Cost: members - 1 extra trainings per round.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from ..seeds import derive_seed
from ..training import forward_pool, train_model
from .base import QueryContext, ScoreStrategy
from .mc_dropout import variation_ratio


class EnsembleVarRatio(ScoreStrategy):
    def __init__(self, members: int = 5):
        if not isinstance(members, int) or members < 2:
            raise UserError(f"members must be an integer of at least 2, not {members!r}")
        self.members = members

    def member_probs(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        """(members, n, C) softmax outputs of the committee on the candidates."""
        labeled = ctx.pool.trainable_indices()
        x_lab, y_lab = ctx.x[torch.as_tensor(labeled, device=ctx.x.device)], ctx.labeled_targets(labeled)
        x_cand = ctx.x[torch.as_tensor(candidates, device=ctx.x.device)]
        outs = [ctx.probs(candidates)]
        for m in range(1, self.members):
            seed = derive_seed(ctx.seed, "ensemble-member", ctx.round, m)
            model = train_model(x_lab, y_lab, ctx.spec, ctx.profile, seed, ctx.device)
            logits, _ = forward_pool(model, x_cand, ctx.spec, ctx.device, ctx.profile.eval_batch_size)
            outs.append(torch.softmax(logits, 1))
        return torch.stack(outs)

    def scores(self, ctx: QueryContext, candidates: np.ndarray) -> torch.Tensor:
        return variation_ratio(self.member_probs(ctx, candidates))
