"""Name -> object registries with helpful errors, shared by datasets, strategies, models and profiles."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Generic, Iterator, TypeVar

from .errors import UserError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    description: str
    target: T | str  # the object itself, or "module:attr" to import on first use


class Registry(Generic[T]):
    """A registry that refuses duplicates and answers unknown names with "did you mean ...?"."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, target: T | str, description: str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, description, target)

    def register(self, name: str, description: str):
        """Decorator form of `add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, description)
            return obj

        return decorate

    def get(self, name: str) -> T:
        entry = self._entries.get(self.check(name))
        target = entry.target
        if isinstance(target, str):
            module, attr = target.split(":")
            target = getattr(importlib.import_module(module), attr)
        return target

    def check(self, name: str) -> str:
        """Return `name` if registered, else raise a UserError that suggests the closest names."""
        if name in self._entries:
            return name
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UserError(f"unknown {self.kind} {name!r}; {hint}available: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self._entries)

    def describe(self, name: str) -> str:
        return self._entries[self.check(name)].description

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
