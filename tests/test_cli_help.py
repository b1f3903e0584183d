"""Every command's --help shows every option's default, and its usage line names arguments plainly."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from alscope_autoal.cli.app import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)


def is_switch(param) -> bool:
    """An on/off flag with no --no- form (--dry-run, --json): off unless given, there is no value to default."""
    return param.is_flag and not param.secondary_opts


def help_lines(command: str, monkeypatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", "400")  # one line per option: nothing wraps
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_every_command_is_checked():
    assert {"bench", "list", "status", "plot", "report", "ablate"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_the_default_of_every_option(command, monkeypatch):
    lines = help_lines(command, monkeypatch)
    params = typer.main.get_command(app).commands[command].params
    for param in params:
        if param.param_type_name != "option" or param.name == "help" or is_switch(param):
            continue
        line = next((line for line in lines if f" {param.opts[0]} " in line), None)
        assert line is not None, f"{command} --help has no line for {param.opts[0]}"
        assert "[default: " in line, f"{command} --help shows no default for {param.opts[0]}: {line.strip()}"
        if isinstance(param.show_default, str):
            assert param.show_default in line, line


@pytest.mark.parametrize("command", COMMANDS)
def test_usage_names_arguments_without_braces(command, monkeypatch):
    usage = next(line for line in help_lines(command, monkeypatch) if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    arguments = [p.name.upper() for p in typer.main.get_command(app).commands[command].params
                 if p.param_type_name == "argument"]
    assert all(name in usage for name in arguments), usage
