"""One child, many references: the identity graph and each reference's place in it.

Agencies state that two of their pseudonymous references are the same child (a link) or take
such a statement back. The references linked together form one child, whose *canonical*
reference is the smallest of them; everything known under the others is kept under it.

Two parts, both framework-free:

- ``Graph``: the statements, per pair of references, as the one identity agent keeps them (one
  partition, so every link is applied in one order). Applying a statement says which references'
  groups changed; each of them is told its group with a new ``version``.
- ``Membership``: what one reference knows of its group, kept in the child's own state. It says
  where anything about a reference belongs (``route``): here, forwarded to the canonical
  reference, or back to its own reference after a split. A message carries the version of the
  sender's view, so a reference whose own view is older keeps what it is sent until its own
  news arrives, and nothing goes back and forth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

#: A statement: (agency type, agency id, event id, basis).
Statement = tuple[str, str, str, str]


@dataclass(slots=True)
class Node:
    """One reference in the graph: the statements linking it to each other reference."""

    links: dict[str, list[Statement]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"links": {other: [list(s) for s in ss] for other, ss in self.links.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Node:
        if not data:
            return cls()
        return cls({other: [_statement(s) for s in ss] for other, ss in data["links"].items()})


def _statement(row: list[str]) -> Statement:
    return (row[0], row[1], row[2], row[3])


@dataclass(frozen=True)
class Group:
    """What one reference is told: its group's canonical reference and every member."""

    ref: str
    canonical: str
    members: tuple[str, ...]
    version: int

    def to_signal(self) -> dict[str, Any]:
        return {
            "type": "identity",
            "version": self.version,
            "canonical": self.canonical,
            "members": list(self.members),
        }


@dataclass
class Change:
    """What applying one statement did: nodes to write, groups to tell."""

    nodes: dict[str, Node] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.nodes)


def apply_statement(
    read: Callable[[str], Node],
    version: int,
    link: dict[str, Any],
) -> Change:
    """Apply a decoded ``identity_link`` record to the graph read through ``read``.

    A statement is one agency's: another agency's statement of the same pair is kept beside it,
    and a withdrawal takes back only the withdrawing agency's own statements of that pair. Two
    references stay linked while any statement links them. ``version`` is the version the
    groups are told if they change: it must go up with every statement.
    """
    a, b = link["ref_a"], link["ref_b"]
    agency = link["agency"]
    statement: Statement = (agency["type"], agency["id"], link["event_id"], link["basis"])
    node_a, node_b = read(a), read(b)
    # Each node holds the pair's statements; after a crash between the two writes only one may
    # have them, and the other is written again (the groups were told before either write).
    known = node_a.links.get(b, [])
    was_linked = bool(known)
    if link["withdrawn"]:
        kept = [s for s in known if s[:2] != statement[:2]]
    elif any(s[:3] == statement[:3] for s in known):
        kept = known  # the same statement again
    else:
        kept = [*known, statement]
    if kept == known and node_b.links.get(a, []) == known:
        return Change()
    for node, other in ((node_a, b), (node_b, a)):
        if kept:
            node.links[other] = list(kept)
        else:
            node.links.pop(other, None)
    change = Change(nodes={a: node_a, b: node_b})
    if was_linked == bool(kept):
        return change  # another agency's statement of a link that stands, or of one still held
    if kept and b in _component(read, a):
        return change  # already one child through other links
    overlay = change.nodes

    def now(ref: str) -> Node:
        return overlay[ref] if ref in overlay else read(ref)

    after = [_component(now, a)]
    if b not in after[0]:  # a split (a withdrawn link still bridged by others splits nothing)
        after.append(_component(now, b))
    elif not kept:
        return change
    for group in after:
        canonical = min(group)
        members = tuple(sorted(group))
        change.groups.extend(Group(ref, canonical, members, version) for ref in members)
    return change


def _component(read: Callable[[str], Node], start: str) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for other in read(todo.pop()).links:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


@dataclass(slots=True)
class Membership:
    """What one reference knows of its group (from the newest ``identity`` signal it read)."""

    version: int = 0
    canonical: str | None = None
    """Another reference this one is merged into; None while it is its own (or its group's)."""
    members: tuple[str, ...] = ()
    """Every reference of the group, when this one is its canonical reference."""

    def is_newer(self, version: int) -> bool:
        """Whether a signal of ``version`` is news to this reference."""
        return version > self.version

    def route(self, me: str, origin: str, version: int) -> str | None:
        """Where something about ``origin``, sent with a view of ``version``, belongs: None for
        here, else the reference to send it to.

        A sender whose view is newer than ours knows better that it belongs here (our own news
        is on its way); otherwise our view decides.
        """
        if version > self.version:
            return None
        if self.canonical is not None:
            return self.canonical
        if origin == me or not origin or origin in self.members:
            return None
        return origin

    def learn(self, me: str, signal: dict[str, Any]) -> None:
        canonical = signal["canonical"]
        self.version = signal["version"]
        self.canonical = None if canonical == me else canonical
        members = tuple(signal["members"])
        self.members = members if self.canonical is None and len(members) > 1 else ()

    def to_json(self) -> list[Any] | None:
        if not self.version:
            return None
        return [self.version, self.canonical, list(self.members)]

    @classmethod
    def from_json(cls, data: list[Any] | None) -> Membership:
        if not data:
            return cls()
        return cls(data[0], data[1], tuple(data[2]))


def group_by_destination(
    membership: Membership, me: str, origins: Iterable[tuple[str, Any]]
) -> dict[str | None, list[Any]]:
    """Each ``(origin, item)`` under where it belongs now (None: here)."""
    out: dict[str | None, list[Any]] = {}
    for origin, item in origins:
        out.setdefault(membership.route(me, origin or me, membership.version), []).append(item)
    return out
