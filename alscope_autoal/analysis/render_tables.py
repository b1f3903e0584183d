"""Render a report `Table` (display cells plus a mask of best cells) as Markdown or LaTeX, best cells in bold."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Table

LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def markdown(table: "Table") -> str:
    """A GitHub-flavoured pipe table under a bold title line; text columns left-aligned, numbers right-aligned."""
    cells = table.cells.astype(str).where(~table.best, "**" + table.cells.astype(str) + "**")
    header = [str(c).replace("|", "\\|") for c in cells.columns]
    align = [":--" if column_is_text(table, c) else "--:" for c in cells.columns]
    lines = [f"**{table.title}**", "", row(header), row(align)]
    lines += [row([v.replace("|", "\\|") for v in values]) for values in cells.itertuples(index=False)]
    return "\n".join(lines)


def row(values) -> str:
    return "| " + " | ".join(values) + " |"


TEXT_COLUMNS = ("strategy", "dataset", "variant", "candidates", "parameters")  # left-aligned; numbers go right


def column_is_text(table: "Table", column: str) -> bool:
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
