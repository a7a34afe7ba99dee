"""Name -> factory registries (models, datasets, importers, metrics), with listing.

An unknown name is an error that lists every valid one, in the manner of timm's ``create_model``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import FashionlabError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of entries of one kind (e.g. ``IMPORTERS``).

    >>> R = Registry("widget")
    >>> @R.register("a")
    ... def make_a(): return 1
    >>> R.get("a")()
    1
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str | None = None) -> Callable[[T], T]:
        """Decorator adding an entry under ``name``; a duplicate name is a programming error."""

        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = obj
            doc = help or (getattr(obj, "__doc__", None) or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return obj

        return deco

    def get(self, name: str) -> T:
        """Return the entry named ``name`` or raise an error listing the valid names."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise FashionlabError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern`` (``list_models('*resnet*')`` style)."""
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def help(self, name: str) -> str:
        """One-line description of an entry."""
        self.get(name)
        return self._help.get(name, "")

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self._entries[n]) for n in self.names()]
