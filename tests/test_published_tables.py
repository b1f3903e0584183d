"""Every results table in the README and docs/ is the output of the `autoal report` command written above it.

A published table sits between two HTML comments (invisible on GitHub):

    <!-- autoal report experiments/text-linear.parquet --table metric -->
    (a blank line, the command's standard output, a blank line)
    <!-- end of autoal report -->

The command reads a study file shipped beside its experiment file (docs/experiments.md, "Published studies"). This
test runs each command again and compares its output with the text between the comments, so a number edited by
hand, or a study file replaced without the docs, fails here. After rerunning a study, rewrite every block from its
file with `python tests/test_published_tables.py --write`.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- autoal report (?P<args>[^\n]*?) -->\n(?P<body>.*?)<!-- end of autoal report -->", re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    args: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def published_blocks(pages: list[Path] | None = None) -> list[Block]:
    pages = pages or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [Block(page, text.count("\n", 0, m.start()) + 1, m["args"], m["body"])
            for page in pages for text in [page.read_text(encoding="utf-8")] for m in BLOCK.finditer(text)]


def rendered(args: str) -> str:
    """What `autoal report ARGS` prints on standard output, run from the repository root."""
    from alscope_autoal.cli.app import app

    old = Path.cwd()
    try:
        os.chdir(ROOT)
        result = CliRunner().invoke(app, ["report", *shlex.split(args)])
    finally:
        os.chdir(old)
    assert result.exit_code == 0, f"autoal report {args}: exit {result.exit_code}: {result.stderr or result.output}"
    return result.stdout


def differences(block: Block) -> str:
    """"" when the block holds exactly what its command prints; else the first differing line, both ways."""
    want, have = rendered(block.args).strip().splitlines(), block.body.strip().splitlines()
    for i, (a, b) in enumerate(zip(want, have)):
        if a != b:
            return f"line {i + 1} of the block reads\n  {b}\nbut the study file gives\n  {a}"
    if len(want) != len(have):
        return f"the block has {len(have)} lines, the command prints {len(want)}"
    return ""


BLOCKS = published_blocks()


def test_the_docs_publish_tables_from_study_files():
    studies = {shlex.split(b.args)[0] for b in BLOCKS}
    assert {"experiments/text-linear.parquet", "experiments/default.parquet", "experiments/strategy-selection.parquet",
            "experiments/cifar10-subsample.parquet", "experiments/image-linear.parquet",
            "experiments/image-linear-probcover.parquet"} <= studies
    for study in studies:
        assert (ROOT / study).with_suffix(".toml").is_file(), f"{study} has no experiment file beside it"


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_a_published_table_is_what_its_study_file_gives(block):
    problem = differences(block)
    assert not problem, (f"{block.where}: the table differs from 'autoal report {block.args}': {problem}\n"
                         "rerun the study and write the blocks again: python tests/test_published_tables.py --write")


def test_a_number_edited_by_hand_is_caught(tmp_path):
    block = next(b for b in BLOCKS if "text-linear" in b.args)
    edited = re.sub(r"\d+\.\d", lambda m: m[0][:-1] + str((int(m[0][-1]) + 1) % 10), block.body, count=1)
    page = tmp_path / "page.md"
    page.write_text(f"<!-- autoal report {block.args} -->\n{edited}<!-- end of autoal report -->\n")
    (copied,) = published_blocks([page])
    assert edited != block.body and "line" in differences(copied)


def test_a_study_file_that_does_not_match_its_experiment_file_is_refused(tmp_path, capsys):
    import shutil

    from alscope_autoal.cli.app import app

    shutil.copy(ROOT / "experiments/text-linear.parquet", tmp_path / "study.parquet")
    shutil.copy(ROOT / "experiments/default.toml", tmp_path / "study.toml")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "study.parquet")])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "study.parquet does not match" in line and "study.toml" in line


def write_blocks() -> None:
    """Replace every block's text with what its command prints now."""
    for page in sorted({b.page for b in BLOCKS}):
        text = page.read_text(encoding="utf-8")
        text = BLOCK.sub(lambda m: f"<!-- autoal report {m['args']} -->\n\n{rendered(m['args']).strip()}\n\n"
                                   "<!-- end of autoal report -->", text)
        page.write_text(text, encoding="utf-8")
        print(f"wrote {page.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_published_tables.py --write")
    write_blocks()
