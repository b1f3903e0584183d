"""What role a strategy plays: the one list the registry, `autoal list`, the reports and the figures read.

An oracle reads labels nobody paid for, so its numbers are a ceiling to measure others against, never a rank
among strategies. A selector chooses among other strategies, so it is never "the best single candidate".
This module imports nothing heavy (no torch), so the analysis code can use it.
"""

from __future__ import annotations

ORACLES = frozenset({"oracle"})
# Strategies that choose among candidate strategies and take a `candidates` list (so cannot be one)...
SELECTORS = ("autoal", "autoal-lookahead", "vote", "vote-random", "albl", "tailor", "oracle")
# ... and one that switches between two fixed strategies: neither is a single strategy either.
SWITCHES = ("tcm",)
CEILING = "(ceiling)"  # how tables and figures mark an oracle's name


def base_name(arm: str) -> str:
    """'oracle(holdout=100)' -> 'oracle': result arms carry their parameters in their names."""
    return arm.split("(", 1)[0]


def is_oracle(arm: str) -> bool:
    return base_name(arm) in ORACLES


def display_name(arm: str) -> str:
    """An arm's name as tables and figures print it: oracles are marked as ceilings."""
    return f"{arm} {CEILING}" if is_oracle(arm) else arm
