"""`autoal check`: run the strategy conformance checks the built-ins pass on any registered strategy."""

from __future__ import annotations

from typing import Annotated

import typer

from .errors import user_errors
from .options import Plugins


def check(
    strategy: Annotated[str, typer.Argument(help="A registered strategy name, e.g. one that a plugin file registers.")],
    plugin: Plugins = None,
    threads: Annotated[int, typer.Option(help="Torch CPU threads for the checks (they run on the CPU).")] = 1,
) -> None:
    """Check a strategy against the contract every built-in passes (docs/own-strategy.md), on digits with the
    small CNN and with a linear head on embeddings: one line per check, pass or FAIL with the reason; exit code 1
    when a check fails."""
    from .render import stderr, stdout

    with user_errors():
        from alscope_autoal.plugins import load_plugins
        from alscope_autoal.strategies import STRATEGIES

        load_plugins(plugin)
        STRATEGIES.check(strategy)
        results = run_checks(strategy, threads)
    for result in results:
        stdout.print(result.line(), style=None if result.passed else "red", highlight=False, markup=False,
                     soft_wrap=True)
    failed = [result for result in results if result.passed is False]
    if failed:
        stderr.print(f"{strategy}: {len(failed)} of {len(results)} checks failed", highlight=False)
        raise typer.Exit(1)
    stderr.print(f"{strategy}: all {len(results)} checks passed", highlight=False)


def run_checks(strategy: str, threads: int):
    import torch

    from alscope_autoal.strategies.conformance import check_strategy

    torch.set_num_threads(max(1, threads))
    return check_strategy(strategy)
