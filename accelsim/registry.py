"""A small name → object registry shared by dataflows, timing conventions and schedulers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from accelsim.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named strategies of one kind; an unknown name raises and lists the valid ones.

    Parameters
    ----------
    kind:
        What the entries are, for error messages ("dataflow", "scheduler", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self._entries)
            raise UnknownNameError(f"unknown {self.kind} {name!r}; expected one of: {valid}") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
