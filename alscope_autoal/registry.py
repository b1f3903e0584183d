"""Name -> object registries with helpful errors, shared by datasets, strategies, models and profiles.

Each entry remembers where it came from (`Source`): the package itself, an installed distribution's entry point,
or a plugin file or module the user named (`strategies/plugins.py`), so `autoal list` can say so and a name
from outside never replaces one that exists.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

from .errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """Where an entry came from. `label` is how `autoal list` names it; `module` and `path` (the file whose
    SHA-256 identifies the code) are set for entries from outside the package."""

    label: str = "built-in"
    module: str = ""
    path: str = ""
    sha256: str = ""  # of the file at `path` when it was imported; "" until known (entry points: at first need)

    @property
    def external(self) -> bool:
        return bool(self.module)

    def __str__(self) -> str:
        return self.label


BUILT_IN = Source()


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    description: str
    target: T | str  # the object itself, or "module:attr" to import on first use
    source: Source = BUILT_IN


class Registry(Generic[T]):
    """A registry that refuses duplicates and answers unknown names with "did you mean ...?".

    `discover`, when given, is called once before the first lookup and returns entries from outside the package
    (installed entry points); they join the registry only if none of their names is taken."""

    def __init__(self, kind: str, discover: Callable[[], list[Entry[T]]] | None = None):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._discover = discover
        self._source = BUILT_IN  # what `add` attributes entries to; `sourced` changes it while a plugin loads

    @property
    def entries(self) -> dict[str, Entry[T]]:
        if self._discover is not None:
            found, self._discover = self._discover, None
            try:
                self._join(found())
            except BaseException:
                self._discover = found  # nothing joined: the next lookup says the same again
                raise
        return self._entries

    def _join(self, entries: list[Entry[T]]) -> None:
        taken = dict(self._entries)
        for entry in entries:
            if entry.name in taken:
                raise self.clash(entry.name, entry.source, taken[entry.name].source)
            taken[entry.name] = entry
        self._entries.update(taken)

    def clash(self, name: str, new: Source, old: Source) -> UserError:
        return UserError(f"{self.kind} {name!r} of {new} is already registered ({old}); rename it in "
                         f"{new if new.external else old}")

    @contextlib.contextmanager
    def sourced(self, source: Source):
        """Attribute the entries added meanwhile (by a plugin's import) to `source`; if the block raises, they
        are removed again."""
        saved, self._source = self._source, source
        before = set(self.entries)
        try:
            yield
        except BaseException:
            for name in set(self._entries) - before:
                del self._entries[name]
            raise
        finally:
            self._source = saved

    def add(self, name: str, target: T | str, description: str) -> None:
        # the package's own entries are added at import, before any lookup discovers the ones from outside
        entries = self.entries if self._source.external else self._entries
        if name in entries:
            raise self.clash(name, self._source, entries[name].source)
        entries[name] = Entry(name, description, target, self._source)

    def source(self, name: str) -> Source:
        return self.entries[self.check(name)].source

    def register(self, name: str, description: str):
        """Decorator form of `add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, description)
            return obj

        return decorate

    def get(self, name: str) -> T:
        entry = self.entries[self.check(name)]
        if not isinstance(entry.target, str):
            return entry.target
        try:
            return import_target(entry.target)
        except Exception as exc:
            if not entry.source.external:
                raise
            first = (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]
            raise UserError(f"{self.kind} {name!r} of {entry.source} cannot be loaded from {entry.target}: "
                            f"{first}") from None

    def check(self, name: str) -> str:
        """Return `name` if registered, else raise a UserError that suggests the closest names."""
        if name in self.entries:
            return name
        close = difflib.get_close_matches(name, self.entries, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UserError(f"unknown {self.kind} {name!r}; {hint}available: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self.entries)

    def describe(self, name: str) -> str:
        return self.entries[self.check(name)].description or first_doc_line(self.get(name))

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.entries))


def import_target(target: str) -> object:
    """The object a "module:attr" (or "module:Class.attr") target names, imported now."""
    module, attr = target.split(":")
    found = importlib.import_module(module.strip())
    for part in attr.strip().split("."):
        found = getattr(found, part)
    return found


def first_doc_line(obj: object) -> str:
    """An entry point carries no description: its object's docstring gives one."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else "(no description)"
