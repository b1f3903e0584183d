"""The README's "Benchmark your own strategy" section, followed literally in an empty folder: its Python block
becomes the file it names, and its shell lines run as written, with the quick-look options the section itself
says to add to the bench command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTION = "Benchmark your own strategy"


def section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {SECTION}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def block(language: str) -> str:
    [found] = re.findall(rf"```{language}\n(.*?)```", section(), re.S)
    return found


def commands() -> list[list[str]]:
    lines = [line.split("  #")[0].strip() for line in block("bash").splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def quick_look() -> list[str]:
    """The options the section says to add for a quick look."""
    return shlex.split(re.search(r"add (--.+?) to the bench command", block("bash")).group(1))


def test_the_section_is_three_commands_and_under_twenty_lines_of_code_from_the_example():
    code = [line for line in block("python").splitlines() if line.strip()]
    assert len(code) <= 20 and len(commands()) <= 3
    assert all(args[0] == "autoal" for args in commands())
    example = [line for line in (REPO / "examples" / "my_strategy.py").read_text().splitlines() if line.strip()]
    positions = [example.index(line) for line in code]  # the README shows the example's code, as it is there
    assert positions == sorted(positions)
    bench = next(args for args in commands() if args[1] == "bench")
    assert {"far-margin", "margin", "autoal"} == set(bench[bench.index("--strategies") + 1].split(","))


@pytest.mark.slow
def test_following_the_section_benchmarks_the_strategy_against_margin_and_autoal(tmp_path):
    file_name = re.search(r"a file, e\.g\. `([\w.]+\.py)`", section()).group(1)
    (tmp_path / file_name).write_text(block("python"))
    outputs = {}
    for args in commands():
        if args[1] == "bench":
            args = args + quick_look()  # the last value of an option given twice wins
        script = Path(sys.executable).parent / args[0]
        result = subprocess.run([str(script), *args[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        outputs[args[1]] = result.stdout
    assert outputs["check"].count("pass  ") == 16 and "FAIL" not in outputs["check"]
    table = outputs["report"].split("AUBC (%)")[1]
    assert all(f"| {name} |" in table for name in ("far-margin", "margin", "autoal"))
