"""Turn user mistakes into one-line errors with exit code 2 (1 for damaged result files), and Ctrl-C into exit
code 130."""

from __future__ import annotations

import contextlib
import sys

import typer

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def user_errors(interrupt_hint: str = ""):
    from alscope_autoal.errors import UserError

    try:
        yield
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(getattr(exc, "exit_code", EXIT_USAGE)) from None
    except KeyboardInterrupt:
        print(f"interrupted{': ' + interrupt_hint if interrupt_hint else ''}", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def split_list(value: str | None) -> tuple[str, ...] | None:
    """'a, b,c' -> ('a', 'b', 'c'); None stays None so the library default applies."""
    if value is None:
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())
