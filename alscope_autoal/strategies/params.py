"""Strategy parameters given on the command line as NAME.KEY=VALUE (e.g. `bald.passes=20`)."""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import UserError


def parse_value(text: str) -> Any:
    """int, then float, then true/false, else the string itself."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def accepted(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs")]


def parse_strategy_params(items: list[str] | None, strategies: tuple[str, ...] | list[str]
                          ) -> dict[str, dict[str, Any]]:
    """Turn ["bald.passes=20", ...] into {"bald": {"passes": 20}}, refusing malformed items, strategies not in
    the sweep, and keys the strategy does not take; each strategy is built once so bad values fail here too."""
    from . import STRATEGIES, make_strategy

    params: dict[str, dict[str, Any]] = {}
    for item in items or []:
        name_key, sep, value = item.partition("=")
        name, dot, key = name_key.rpartition(".")
        if not (sep and dot and name and key and value):
            raise UserError(f"--strategy-param {item!r} is malformed; write NAME.KEY=VALUE, e.g. bald.passes=20")
        if name not in strategies:
            raise UserError(f"--strategy-param {item!r} names {name!r}, which is not in --strategies")
        keys = accepted(STRATEGIES.get(name))
        if key not in keys:
            takes = f"it takes {', '.join(keys)}" if keys else "it takes no parameters"
            raise UserError(f"strategy {name!r} has no parameter {key!r}; {takes}")
        params.setdefault(name, {})[key] = parse_value(value)
    for name, values in params.items():
        try:
            make_strategy(name, values)
        except UserError as exc:
            raise UserError(f"--strategy-param for {name!r}: {exc}") from None
    return params




def with_candidates(params: dict[str, dict[str, Any]], strategies: tuple[str, ...] | list[str],
                    candidates: str | None) -> dict[str, dict[str, Any]]:
    """Give `--candidates` to every candidate mixer in the sweep (a NAME.candidates=... parameter wins)."""
    if candidates is None:
        return params
    from ..roles import SELECTORS
    from . import make_strategy
    from .autoal.candidates import parse_candidates

    mixers = [name for name in strategies if name in SELECTORS]
    if not mixers:
        raise UserError(f"--candidates applies to {', '.join(SELECTORS)}; add one of them to --strategies")
    listed = ",".join(parse_candidates(candidates, who="a selector"))
    merged = params | {name: {"candidates": listed, **params.get(name, {})} for name in mixers}
    for name in mixers:  # each selector checks the list against its own needs (albl and tailor need two)
        try:
            make_strategy(name, merged[name])
        except UserError as exc:
            raise UserError(f"--candidates for {name!r}: {exc}") from None
    return merged
