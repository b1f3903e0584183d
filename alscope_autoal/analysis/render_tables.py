"""The suite's one table writer: Markdown pipe tables (`pipe_table`, also used by the benchmark scripts) and a
report `Table` (display cells plus a mask of best cells) as Markdown or LaTeX, best cells in bold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from .report import Table

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def pipe_table(header: Sequence, rows: Iterable[Sequence], align: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured pipe table: the header, the rule (`pipe_rule`), then one line per row."""
    return "\n".join([pipe_row(header), pipe_rule(len(header), align)] + [pipe_row(values) for values in rows])


def pipe_row(values: Iterable) -> str:
    """One line of a pipe table; a `|` inside a cell is escaped, so it cannot split the cell."""
    return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"


def pipe_rule(n_columns: int, align: Sequence[str] | None = None) -> str:
    """The line under the header: each column's alignment (':--' left, '--:' right), or a plain '|---|---|'."""
    return "|" + "---|" * n_columns if align is None else "| " + " | ".join(align) + " |"


def markdown(table: "Table") -> str:
    """A pipe table under a bold title line; text columns left-aligned, numbers right-aligned."""
    cells = table.cells.astype(str).where(~table.best, "**" + table.cells.astype(str) + "**")
    align = [":--" if column_is_text(table, c) else "--:" for c in cells.columns]
    body = pipe_table(list(cells.columns), cells.itertuples(index=False), align)
    return f"**{table.title}**\n\n{body}"


TEXT_COLUMNS = ("strategy", "dataset", "setting", "profile", "variant", "candidates", "parameters")  # numbers go right


def column_is_text(table: "Table", column: str) -> bool:
    """Whether `column` holds text (left-aligned) rather than numbers (right-aligned)."""
    return column in TEXT_COLUMNS


def latex_escape(text: str) -> str:
    out = "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("±", r"$\pm$")


def latex(table: "Table") -> str:
    """A booktabs tabular inside a table float with the title as caption (needs \\usepackage{booktabs})."""
    cells = table.cells.astype(str).map(latex_escape)
    cells = cells.where(~table.best, r"\textbf{" + cells + "}")
    spec = "".join("l" if column_is_text(table, c) else "r" for c in cells.columns)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(table.title)}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(latex_escape(str(c)) for c in cells.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(values) + r" \\" for values in cells.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)
