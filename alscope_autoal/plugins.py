"""Strategies from outside the package: installed entry points and the files or modules named by `--plugin`.

An installed distribution declares `[project.entry-points."alscope_autoal.strategies"] mine = "pkg.mod:Mine"`;
the strategy registry reads that group at its first lookup and imports each class on first use. A `--plugin`
names a .py file (imported by path) or a module (imported by name); whatever it registers while it is imported
(`STRATEGIES.add`, `@register_strategy`) joins the registry, attributed to it. A worker runs `load_plugins` with
the same list before its first job (`runner.core.compute_job`), so the names mean the same code there.

A plugin's code is identified by its module and the SHA-256 of its file: `source_identity` is what a job's
identity records for a strategy from outside (`identity.resolved_values`), so an edited file gives new jobs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path

from .errors import UserError
from .registry import Entry, Source

ENTRY_POINT_GROUP = "alscope_autoal.strategies"

_loaded: dict[str, Source] = {}  # plugin reference (absolute file path or module name) -> its source
_module_hashes: dict[str, str] = {}  # entry-point module -> the SHA-256 of its file, hashed at first need


def sha256_file(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def is_file_reference(ref: str) -> bool:
    """A .py file or a path; anything else names a module."""
    return ref.endswith(".py") or "/" in ref or "\\" in ref


def reference(ref: str) -> str:
    """How workers are told about a plugin: a file by its absolute path (their working folder may differ)."""
    return str(Path(ref).expanduser().resolve()) if is_file_reference(ref) else ref


def load_plugins(refs: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Import each plugin once per process (again: nothing happens); returns their references for `RunOptions`."""
    return tuple(load_plugin(ref) for ref in refs or ())


def load_plugin(ref: str) -> str:
    key = reference(ref)
    if key not in _loaded:
        _loaded[key] = import_file(ref, Path(key)) if is_file_reference(ref) else import_module(ref)
    return key


def import_file(ref: str, path: Path) -> Source:
    if not path.is_file():
        raise UserError(f"plugin file {ref} does not exist; give the path of a .py file or an importable module "
                        "name")
    source = Source(f"plugin {ref}", module=path.name, path=str(path), sha256=sha256_file(path))
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"plugin file {ref} cannot be imported: Python imports .py files only")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # classes defined there pickle and unpickle by this name
    try:
        registering(source, lambda: spec.loader.exec_module(module), ref)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return source


def module_name(path: Path) -> str:
    """A module name for the file that no other module has: `autoal_plugin_<stem>`, then with a path hash."""
    name = f"autoal_plugin_{path.stem}"
    taken = sys.modules.get(name)
    if taken is None or getattr(taken, "__file__", None) == str(path):
        return name
    return f"{name}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def import_module(ref: str) -> Source:
    try:
        spec = importlib.util.find_spec(ref)
    except (ImportError, ValueError) as exc:
        raise UserError(f"plugin module {ref} cannot be imported: {one_line(exc)}") from None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise UserError(f"plugin {ref} is neither a file nor an importable module; give the path of a .py file "
                        "or install the module")
    source = Source(f"plugin module {ref}", module=ref, path=spec.origin, sha256=sha256_file(spec.origin))
    registering(source, lambda: importlib.import_module(ref), ref)
    return source


def registering(source: Source, run, ref: str) -> None:
    """Run a plugin's import with its registrations attributed to `source`; an import that fails leaves no
    registration behind and becomes one line naming the plugin and the error."""
    from .strategies import STRATEGIES

    try:
        with STRATEGIES.sourced(source):
            run()
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error in the user's file is reported in one line
        raise UserError(f"plugin {ref} failed to import: {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]


def entry_point_entries() -> list[Entry]:
    """The strategies installed distributions declare in the entry-point group, imported on first use. A
    distribution seen twice on the path (the same name and target) counts once."""
    entries: dict[str, Entry] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = point.dist.name if point.dist is not None else "an unnamed distribution"
        source = Source(f"entry point of {dist}", module=point.module)
        entry = Entry(point.name, "", point.value, source)
        seen = entries.get(point.name)
        if seen is not None and (seen.target, seen.source) != (entry.target, entry.source):
            raise UserError(f"strategy {point.name!r} of {source} is already registered ({seen.source}); "
                            f"uninstall one of them")
        entries[point.name] = entry
    return list(entries.values())


def source_identity(source: Source) -> str:
    """'<module or file name>@<first 12 hex digits of its file's SHA-256>': what a job records of its code."""
    return f"{source.module}@{code_hash(source)[:12]}"


def code_hash(source: Source) -> str:
    if source.sha256:
        return source.sha256
    if source.module not in _module_hashes:
        spec = importlib.util.find_spec(source.module)
        if spec is None or not spec.origin or not Path(spec.origin).is_file():
            raise UserError(f"strategy module {source.module} ({source}) cannot be found; reinstall it")
        _module_hashes[source.module] = sha256_file(spec.origin)
    return _module_hashes[source.module]


def provenance(source: Source) -> dict[str, str]:
    """What a result footer records of a strategy from outside the package."""
    return {"source": source.label, "module": source.module, "sha256": code_hash(source)}
