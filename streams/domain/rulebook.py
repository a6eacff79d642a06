"""Rules as data: each rule is a function with its id, version, level and the guide's words.

A ``RuleBook`` lists the rules of one kind of alert in order of precedence; the evaluation folds
the book over a child's state. A rule's id and version travel with everything it produces, so
bumping the version of a rule changes the alerts it raises and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from schemas.catalogue import LEVELS

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rule:
    """One rule: what it raises and the guide's words it rests on."""

    id: str
    version: int
    level: str
    source: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"rule {self.id}: level {self.level!r} is not one of {LEVELS}")


@dataclass(frozen=True)
class Entry(Generic[F]):
    """A registered rule: its ``Rule`` and the function that checks it."""

    rule: Rule
    check: F


class RuleBook(Generic[F]):
    """The rules of one kind, in order of precedence; each registered with ``@book.rule(...)``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.entries: list[Entry[F]] = []

    def rule(self, id: str, version: int, level: str, source: str) -> Callable[[F], Entry[F]]:
        """Register the decorated function as a rule (its name is then bound to the ``Entry``)."""

        def register(check: F) -> Entry[F]:
            if any(e.rule.id == id for e in self.entries):
                raise ValueError(f"{self.name}: two rules share the id {id}")
            entry = Entry(Rule(id, version, level, source), check)
            self.entries.append(entry)
            return entry

        return register

    def __iter__(self) -> Iterator[Entry[F]]:
        return iter(self.entries)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(e.rule for e in self.entries)
