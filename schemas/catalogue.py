"""The indicator catalogue (``schemas/indicators.yaml``): what each indicator code means.

Loaded and checked once at start-up: a duplicate code, an unknown group, component or agency type,
or a code whose prefix is not its group is a ``SchemaError`` naming the entry. Rules ask the
catalogue for an indicator's group, trafficking component and whether it alone means immediate risk.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from safeguard.kernel.errors import SchemaError
from schemas.registry import SCHEMA_DIR, default_registry

CATALOGUE_FILE = SCHEMA_DIR / "indicators.yaml"


class Component(enum.StrEnum):
    """Which part of the guide's definition of child trafficking an indicator evidences."""

    ACTION = "action"
    EXPLOITATION = "exploitation"
    CONCERN = "concern"
    CONTEXT = "context"
    OUTCOME = "outcome"
    """Not an indicator: what an agency found (the child found safe); it ends a risk."""


#: The components an indicator may combine (context and outcomes stand alone).
EVIDENCE = frozenset({Component.ACTION, Component.EXPLOITATION, Component.CONCERN})


def _enum_symbols(event: str, *path: str) -> tuple[str, ...]:
    """Symbols of an enum in the newest schema of ``event``, following field names in ``path``."""
    node: Any = default_registry().latest(event).raw
    for name in path:
        fields = node["fields"] if node.get("type") == "record" else node["items"]["fields"]
        node = next(f["type"] for f in fields if f["name"] == name)
    if isinstance(node, list):  # a union with null: the enum is the other branch
        node = next(branch for branch in node if branch != "null")
    if node.get("type") == "array":
        node = node["items"]
    return tuple(node["symbols"])


# The project's one vocabulary, read from the schemas: every other list of these is derived.
GROUPS = _enum_symbols("alert", "evidence", "group")
AGENCY_TYPES = _enum_symbols("observation", "agency", "type")
LEVELS = _enum_symbols("alert", "level")
"""Alert levels in rising order of urgency."""
KINDS = _enum_symbols("alert", "kind")
ACTIONS = _enum_symbols("alert", "actions")
"""Recommended actions, in the order an alert lists them."""
STATUSES = _enum_symbols("alert", "status")
OUTCOMES = _enum_symbols("alert_action", "outcome")
"""The structured outcomes of a practitioner's closure."""


@dataclass(frozen=True)
class Indicator:
    """One catalogue entry."""

    code: str
    group: str
    components: frozenset[Component]
    """The parts of the guide's definition it evidences (most codes have one)."""
    immediate_risk: bool
    observers: tuple[str, ...]
    description: str
    sources: tuple[str, ...]
    same_as: str | None = None
    """The code of the same fact under another heading: counted once per agency with it."""
    proposal: str | None = None
    """Why the entry is a modelling choice for the partnership to review, if it is one."""
    description_cy: str = ""
    """The description in Welsh."""

    def described(self, language: str = "en") -> str:
        """The description in ``language`` (Welsh or English)."""
        return self.description_cy if language == "cy" and self.description_cy else self.description

    @property
    def component(self) -> Component:
        """The first component listed (the only one for most codes)."""
        return min(self.components, key=list(Component).index)

    @property
    def fact(self) -> str:
        """What is counted: near-identical codes share one fact."""
        return self.same_as or self.code

    @property
    def is_context(self) -> bool:
        """Context never raises an alert alone and never counts as a second agency or group."""
        return Component.CONTEXT in self.components

    @property
    def counts(self) -> bool:
        """Whether it counts towards an alert (context and outcomes never do)."""
        return not self.components & {Component.CONTEXT, Component.OUTCOME}


class Catalogue(Mapping[str, Indicator]):
    """Indicators by code, in file order."""

    def __init__(self, groups: Mapping[str, str], indicators: Mapping[str, Indicator]) -> None:
        self.groups = dict(groups)
        self._indicators = dict(indicators)

    def __getitem__(self, code: str) -> Indicator:
        return self._indicators[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._indicators)

    def __len__(self) -> int:
        return len(self._indicators)


def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """Read and check the catalogue file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SchemaError(f"{path.name}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("indicators"), list):
        raise SchemaError(f"{path.name}: expected 'groups' and an 'indicators' list")
    groups = doc.get("groups") or {}
    unknown_groups = set(groups) - set(GROUPS)
    if unknown_groups:
        raise SchemaError(f"{path.name}: groups not in the Alert schema: {sorted(unknown_groups)}")
    indicators: dict[str, Indicator] = {}
    for position, entry in enumerate(doc["indicators"], start=1):
        indicator = _indicator(entry, position, groups, path.name)
        if indicator.code in indicators:
            raise SchemaError(f"{path.name}: entry {position}: duplicate code {indicator.code!r}")
        indicators[indicator.code] = indicator
    for indicator in indicators.values():
        target = indicators.get(indicator.same_as or indicator.code)
        if target is None or target.same_as is not None:
            raise SchemaError(
                f"{path.name}: {indicator.code}: same_as {indicator.same_as!r} is not a code "
                "that stands for itself"
            )
    return Catalogue(groups, indicators)


def _indicator(entry: Any, position: int, groups: Mapping[str, str], file: str) -> Indicator:
    where = f"{file}: entry {position}"
    if not isinstance(entry, dict) or "code" not in entry:
        raise SchemaError(f"{where}: has no code")
    code = str(entry["code"])
    where = f"{file}: entry {position} ({code})"
    try:
        group = str(entry["group"])
        if group not in groups:
            raise SchemaError(f"{where}: unknown group {group!r}")
        if not code.startswith(f"{group}."):
            raise SchemaError(f"{where}: code must start with {group}.")
        observers = tuple(entry["observers"])
        unknown = [o for o in observers if o not in AGENCY_TYPES]
        if unknown:
            raise SchemaError(f"{where}: unknown agency types {unknown}")
        listed = entry["component"]
        components = frozenset(
            Component(c) for c in (listed if isinstance(listed, list) else [listed])
        )
        if not components or (len(components) > 1 and not components <= EVIDENCE):
            raise SchemaError(f"{where}: only action, exploitation and concern combine")
        return Indicator(
            code=code,
            group=group,
            components=components,
            immediate_risk=_bool(entry["immediate_risk"], where),
            observers=observers,
            description=str(entry["description"]),
            description_cy=str(entry["description_cy"]),
            sources=tuple(entry["sources"]),
            same_as=str(entry["same_as"]) if entry.get("same_as") else None,
            proposal=str(entry["proposal"]) if entry.get("proposal") else None,
        )
    except KeyError as exc:
        raise SchemaError(f"{where}: missing {exc.args[0]!r}") from None
    except ValueError as exc:
        raise SchemaError(f"{where}: {exc}") from None


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SchemaError(f"{where}: immediate_risk must be true or false")
    return value


@cache
def default_catalogue() -> Catalogue:
    """The catalogue shipped in this package (loaded once)."""
    return load_catalogue()
