"""AutoAL (Wang, Zhan & Huang, ICML 2025): a differentiable search over candidate query strategies, repaired
(docs/autoal.md), plus the `vote` and `vote-random` baselines it is held against."""

from .candidates import PAPER_CANDIDATES
from .strategy import AutoAL, AutoALLookahead, Vote, VoteRandom

__all__ = ["PAPER_CANDIDATES", "AutoAL", "AutoALLookahead", "Vote", "VoteRandom"]
