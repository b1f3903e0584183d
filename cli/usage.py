"""The usage line of every command: required arguments by name in capitals (`RESULTS_DIR`), as the help text
refers to them, instead of Typer's `{results_dir}`."""

from __future__ import annotations

from typer.core import TyperCommand


class PlainUsage(TyperCommand):
    def collect_usage_pieces(self, ctx) -> list[str]:
        return [plain(piece) for piece in super().collect_usage_pieces(ctx)]


def plain(piece: str) -> str:
    """'{results_dir}' -> 'RESULTS_DIR'; other pieces ('[OPTIONS]', '[NAME]') unchanged."""
    if piece.startswith("{") and "}" in piece:
        name, rest = piece[1:].split("}", 1)
        return name.upper() + rest
    return piece
