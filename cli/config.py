"""Experiment files: `autoal bench --config FILE.toml` reads a whole sweep from one TOML file.

Every key of the file is an option of `autoal bench`, named as its Python parameter (`query_size`) or as its flag
without the dashes (`query-size`); lists are TOML arrays or comma-separated strings. Strategy parameters may also
be a table, `[strategy_params.bald] passes = 20`. Relative paths (`out`, `data_dir`, the `plugin` entries and the
`datasets` entries that start with ./ or ../) are read from the file's folder.

The file's values become the command's defaults (click's `default_map`), so an option given on the command line
(or through its environment variable) overrides the file; each value is checked against its option's type here,
then converted by Typer as a typed one would be. `[[sweep]]` tables split the grid: each holds grid options (`datasets`, `rounds`, `max_pool`, ...) that
replace the top level's for its part; all parts run as one sweep into one folder.
"""

from __future__ import annotations

import difflib
import enum
import sys
import types as types_
import typing
from pathlib import Path
from typing import Any

from alscope_autoal.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SWEEP_TABLE = "sweep"
PARAMS_TABLE = "strategy_params"  # the table form of the strategy_param option
NOT_IN_FILES = ("config",)
META_KEY = "autoal.experiment"  # ctx.meta entry: the file and its [[sweep]] parts


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UserError(f"experiment file {path} does not exist") from None
    except OSError as exc:
        raise UserError(f"cannot read experiment file {path} ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from None


def option_types(hints: dict[str, Any]) -> dict[str, Any]:
    """The command's options (its function's type hints) by name, Optional unwrapped: bool, int, float, str,
    Path, list or an Enum."""
    types = {}
    for name, hint in hints.items():
        if name in NOT_IN_FILES or name == "return" or getattr(hint, "__name__", "") == "Context":
            continue
        if typing.get_origin(hint) in (typing.Union, types_.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        types[name] = list if typing.get_origin(hint) is list else hint
    return types


def option_name(key: str, known: dict[str, Any], where: str) -> str:
    """A file key as the option's parameter name: 'query-size' and 'query_size' -> 'query_size'."""
    name = PARAMS_TABLE[:-1] if key == PARAMS_TABLE else key.replace("-", "_")
    if name in known:
        return name
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    raise UserError(f"{where}: unknown key {key!r}; {hint}keys are the options of 'autoal bench' "
                    "(see 'autoal bench --help')")


def param_table(value: dict[str, Any], where: str) -> list[str]:
    """{'bald': {'passes': 20}} -> ['bald.passes=20'], as --strategy-param takes them."""
    items = []
    for strategy, params in value.items():
        if not isinstance(params, dict):
            raise UserError(f"{where}: [{PARAMS_TABLE}.{strategy}] must be a table of KEY = VALUE")
        items += [f"{strategy}.{key}={as_text(v)}" for key, v in params.items()]
    return items


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    return str(value)


def is_path_entry(name: str, entry: str) -> bool:
    """Entries of a name list that are paths: datasets starting with ./ or ../ (after a NAME= prefix), plugins
    too or ending in .py."""
    relative = entry.partition("=")[2].startswith(("./", "../")) if name == "datasets" and "=" in entry \
        else entry.startswith(("./", "../"))
    return relative or (name == "plugin" and entry.endswith(".py"))


def entry_from_folder(folder: Path, name: str, entry: str) -> str:
    """A path entry read from the file's folder, keeping a dataset's NAME= prefix."""
    if name == "datasets" and "=" in entry:
        label, _, path = entry.partition("=")
        return f"{label}={from_folder(folder, path)}"
    return from_folder(folder, entry)


def from_folder(folder: Path, text: str) -> str:
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())


def raw_value(name: str, value: Any, kind: Any, folder: Path, where: str) -> Any:
    """The file's value as the option's type: a list for a repeatable option, a comma string for a comma-separated
    one, relative paths resolved against `folder`; a wrong type is named in one line."""
    if isinstance(value, dict):
        if name != PARAMS_TABLE[:-1]:
            raise UserError(f"{where}: {name} cannot be a table")
        value = param_table(value, where)
    if kind is list:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise UserError(f"{where}: {name} must be a list of strings or a comma-separated string")
        items = [item.strip() for item in items if item.strip()]
        return [entry_from_folder(folder, name, v) if is_path_entry(name, v) else v for v in items]
    if kind is bool:
        return checked(value, bool, "true or false", name, where)
    if kind is int:
        return checked(value, int, "a whole number", name, where)
    if kind is float:
        return float(checked(value, (int, float), "a number", name, where))
    if kind is Path:
        return Path(from_folder(folder, checked(value, str, "a path (a string)", name, where)))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        choices = [member.value for member in kind]
        if value not in choices:
            raise UserError(f"{where}: {name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise UserError(f"{where}: {name} must be a list of strings or a comma-separated string")
        value = ",".join(value)
    text = checked(value, str, "a string", name, where)
    return ",".join(entry_from_folder(folder, name, v) if is_path_entry(name, v) else v
                    for v in split(text))


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()] if "," in text else [text]


def checked(value: Any, kind: type | tuple[type, ...], what: str, name: str, where: str) -> Any:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise UserError(f"{where}: {name} must be {what}, got {value!r}")
    return value


def converted(types: dict[str, Any], table: dict[str, Any], folder: Path, where: str) -> dict[str, Any]:
    """The table's options by parameter name, each as its option's type."""
    values = {}
    for key, value in table.items():
        name = option_name(key, types, where)
        if name in values:
            raise UserError(f"{where}: {name} is given twice ({key!r} and another spelling)")
        values[name] = raw_value(name, value, types[name], folder, where)
    return values


def load_experiment(ctx, path: Path, hints: dict[str, Any], sweep_keys: set[str]) -> None:
    """Read `path` into `ctx.default_map` (the top level) and `ctx.meta[META_KEY]` (the file and its parts);
    `hints`: the command function's type hints, which name its options and their types."""
    table = read_toml(path)
    types = option_types(hints)
    parts = table.pop(SWEEP_TABLE, [])
    if not isinstance(parts, list) or not all(isinstance(part, dict) for part in parts):
        raise UserError(f"{path}: [[{SWEEP_TABLE}]] must be an array of tables, one per part of the grid")
    folder = path.resolve().parent
    top = converted(types, table, folder, str(path))
    sweeps = []
    for number, part in enumerate(parts, 1):
        where = f"{path} [[{SWEEP_TABLE}]] {number}"
        values = converted(types, part, folder, where)
        outside = sorted(set(values) - sweep_keys)
        if outside:
            raise UserError(f"{where}: {', '.join(outside)} applies to the whole sweep: set it at the top level")
        sweeps.append(values)
    ctx.default_map = {**(ctx.default_map or {}), **top}
    ctx.meta[META_KEY] = {"file": str(path.resolve()), "sweeps": sweeps}


def sweep_parts(ctx) -> list[dict[str, Any]]:
    """Each [[sweep]] part's grid values less those the command line (or the environment) gave: those override
    every part. [{}] without parts: the top level alone."""
    parts = ctx.meta.get(META_KEY, {}).get("sweeps") or [{}]
    return [{name: value for name, value in part.items() if not given_explicitly(ctx, name)} for part in parts]


def given_explicitly(ctx, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def experiment_file(ctx) -> str | None:
    return ctx.meta.get(META_KEY, {}).get("file")
