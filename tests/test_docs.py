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


# ---- the README is a front door, and every command shown in it or in docs/ is one that exists ----

FENCE = re.compile(r"```(?:bash|sh|console)?\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:autoal|python benchmarks/)[^`]*)`")
OPTION = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
README_MAX_LINES = 300


def user_pages() -> list[Path]:
    return [REPO / "README.md", *notes()]


def shown_commands(text: str) -> list[str]:
    """Every `autoal ...` or `python benchmarks/...` command in fenced shell blocks and inline code; a trailing
    backslash joins a command's lines, and comments are dropped."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;|\|", line.split(" #")[0]):
                found.append(part.strip())
    found += [m.group(1) for m in INLINE.finditer(text)]
    return [c for c in found if c.startswith(("autoal ", "python benchmarks/")) or c == "autoal"]


def command_options() -> dict[str, set[str]]:
    """Each autoal command's option names (both spellings of a --x/--no-x flag)."""
    import typer

    from alscope_autoal.cli.app import app

    group = typer.main.get_command(app)
    return {name: {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)}
            for name, cmd in group.commands.items()}


def unknown_options(command: str, options: dict[str, set[str]]) -> list[str]:
    words = command.split()
    if words[0] == "python":
        script = REPO / words[1]
        if not script.is_file():
            return [f"{words[1]} does not exist"]
        source = script.read_text()
        return [f"{words[1]} has no option {o}" for o in OPTION.findall(command) if f'"{o}"' not in source]
    if len(words) == 1 or words[1].startswith("-"):
        return []
    if words[1] not in options:
        return [f"autoal has no command {words[1]!r}"]
    return [f"autoal {words[1]} has no option {o}" for o in OPTION.findall(command)
            if o not in options[words[1]] | {"--help"}]


def test_every_option_shown_in_the_readme_and_docs_exists():
    options, broken = command_options(), []
    for page in user_pages():
        for command in shown_commands(page.read_text()):
            broken += [f"{page.relative_to(REPO)}: {problem} (in: {command})"
                       for problem in unknown_options(command, options)]
    assert not broken, "\n".join(broken)


def test_the_option_check_catches_a_made_up_option():
    options = command_options()
    assert unknown_options("autoal bench --seeds 3 --no-such-flag", options) == [
        "autoal bench has no option --no-such-flag"]
    assert unknown_options("autoal bench --no-deterministic --seeds 3", options) == []
    assert unknown_options("autoal frobnicate", options) == ["autoal has no command 'frobnicate'"]


def test_readme_links_resolve_and_it_stays_short():
    text = (REPO / "README.md").read_text()
    broken = [target for target in (m.group(1).split("#")[0] for m in LINK.finditer(text))
              if target and "://" not in target and not (REPO / target).exists()]
    assert not broken, f"README links that do not resolve: {broken}"
    assert len(text.splitlines()) <= README_MAX_LINES, "the README is a front door: move depth into docs/"


def test_every_docs_page_is_reachable_from_the_readme():
    readme = (REPO / "README.md").read_text()
    linked = {Path(m.group(1).split("#")[0]).name for m in LINK.finditer(readme)}
    for page in notes():  # one click from the README, or one from a page it links
        linked |= {Path(m.group(1).split("#")[0]).name for m in LINK.finditer(page.read_text())
                   if page.name in linked}
    assert not [p.name for p in notes() if p.name not in linked]
