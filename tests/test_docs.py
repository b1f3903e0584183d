"""Citations of the method notes resolve inside the repository, so they cannot rot.

Every `docs/<name>.md` named in a Python file, the README or a note exists; every quoted section cited with a
file (`docs/protocol.md, "Metrics"`, `README, "AutoAL"`) is one of that file's headings; every link between
notes resolves; every repository path a note names in backticks exists; nothing cites notes kept outside the
repository.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("alscope_autoal", "cli", "benchmarks", "tests")

DOC_PATH = re.compile(r"(?<![\w./-])docs/[\w.-]+\.md")
# a file, then a quoted section: `docs/protocol.md, "Profiles"`, `README, "AutoAL"`, `README ("AutoAL")`
SECTION = re.compile(r"((?<![\w./-])(?:docs/)?[\w.-]+\.md|\bREADME)`?(?:,\s*|\s*\()\"([^\"]{1,80})\"")
LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"`((?:alscope_autoal|cli|tests|benchmarks|docs)/[\w./-]*)`")


def sources() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for folder in CODE_DIRS:
        files += sorted(p for p in (REPO / folder).rglob("*.py") if p.name != Path(__file__).name)
    return [f for f in files if f.is_file()]


def notes() -> list[Path]:
    return sorted((REPO / "docs").glob("*.md"))


def line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def headings(path: Path) -> set[str]:
    """The text of every Markdown heading of `path`, outside fenced code blocks."""
    found, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            found.add(" ".join(line.lstrip("#").split()))
    return found


def cited_file(name: str, citing: Path) -> Path:
    if name == "README":
        return REPO / "README.md"
    if name.startswith("docs/"):
        return REPO / name
    return citing.parent / name if citing.parent == REPO / "docs" else REPO / name


def test_the_notes_exist():
    assert (REPO / "docs" / "autoal.md").is_file()
    assert (REPO / "docs" / "protocol.md").is_file()


def test_every_cited_note_and_section_is_in_the_repository():
    broken = []
    for path in sources():
        text = path.read_text()
        where = lambda match: f"{path.relative_to(REPO)}:{line_of(text, match.start())}"  # noqa: E731
        for match in DOC_PATH.finditer(text):
            if not (REPO / match.group(0)).is_file():
                broken.append(f"{where(match)}: {match.group(0)} does not exist")
        for match in SECTION.finditer(text):
            target = cited_file(match.group(1), path)
            section = " ".join(match.group(2).split())
            if not target.is_file():
                broken.append(f"{where(match)}: {match.group(1)} (cited for {section!r}) is not in the repository")
            elif section not in headings(target):
                broken.append(f"{where(match)}: {target.relative_to(REPO)} has no section {section!r}")
        if "shared/docs" in text:
            broken.append(f"{path.relative_to(REPO)}: cites notes outside the repository (shared/docs)")
    assert not broken, "\n".join(broken)


def test_links_and_paths_in_the_notes_resolve():
    broken = []
    for path in notes():
        text = path.read_text()
        for match in LINK.finditer(text):
            target = match.group(1).split("#")[0]
            if target and "://" not in target and not (path.parent / target).exists():
                broken.append(f"{path.name}:{line_of(text, match.start())}: link to {target} does not resolve")
        for match in REPO_PATH.finditer(text):
            if not (REPO / match.group(1).split("::")[0]).exists():
                broken.append(f"{path.name}:{line_of(text, match.start())}: {match.group(1)} does not exist")
    assert not broken, "\n".join(broken)
