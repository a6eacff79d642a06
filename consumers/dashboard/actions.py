"""What each recommended action means, and the guide's practice points at the moment of acting,
from one reviewed text source (``guidance.yaml``), in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from consumers.dashboard.i18n import LANGUAGES
from safeguard.kernel.errors import ConfigError
from schemas.catalogue import ACTIONS, AGENCY_TYPES

FILE = Path(__file__).with_name("guidance.yaml")
EVERYONE = "all"


@dataclass(frozen=True)
class Point:
    id: str
    text: dict[str, str]
    actions: tuple[str, ...]
    services: tuple[str, ...]
    source: str

    def for_service(self, service: str | None) -> bool:
        """Whether the point is for the reader's service first (everyone's, or theirs)."""
        return EVERYONE in self.services or (service is not None and service in self.services)


@dataclass(frozen=True)
class Guidance:
    actions: dict[str, dict[str, str]]
    points: tuple[Point, ...]

    def describe(self, action: str, area_name: str, language: str = "en") -> str:
        text = self.actions.get(action)
        if text is None:
            return action
        return _in(text, language).format(la=area_name)

    def points_for(self, action: str, service: str | None) -> tuple[list[Point], list[Point]]:
        """The points of ``action``: those for the reader's service, then those for others."""
        of_action = [p for p in self.points if action in p.actions]
        return (
            [p for p in of_action if p.for_service(service)],
            [p for p in of_action if not p.for_service(service)],
        )


def _in(text: dict[str, str], language: str) -> str:
    return text.get(language) or text["en"]


def text_of(point: Point, language: str = "en") -> str:
    return _in(point.text, language)


@cache
def guidance() -> Guidance:
    """The shipped guidance, checked: every action the rules recommend has its words, and every
    point names known actions and services."""
    raw: dict[str, Any] = yaml.safe_load(FILE.read_text(encoding="utf-8"))
    actions = {code: entry["text"] for code, entry in raw["actions"].items()}
    missing = [a for a in ACTIONS if a not in actions or set(LANGUAGES) - set(actions[a])]
    if missing:
        raise ConfigError(f"{FILE.name}: no text in every language for {', '.join(missing)}")
    points = []
    for entry in raw["points"]:
        unknown = [a for a in entry["actions"] if a not in ACTIONS] + [
            s for s in entry["services"] if s != EVERYONE and s not in AGENCY_TYPES
        ]
        if unknown or set(LANGUAGES) - set(entry["text"]):
            raise ConfigError(
                f"{FILE.name}: point {entry['id']}: unknown {', '.join(unknown)}"
                if unknown
                else f"{FILE.name}: point {entry['id']}: not in every language"
            )
        points.append(
            Point(
                entry["id"],
                entry["text"],
                tuple(entry["actions"]),
                tuple(entry["services"]),
                entry["source"],
            )
        )
    return Guidance(actions, tuple(points))


def describe(action: str, area_name: str, language: str = "en") -> str:
    return guidance().describe(action, area_name, language)
