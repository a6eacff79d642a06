"""What the combined-concern rules read and decide: the facts about one child, what a rule that
holds says, the decision, and whether an immediate risk still holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.catalogue import Catalogue, Component
from streams.domain.config import Thresholds
from streams.domain.evidence import MS_PER_DAY, Evidence
from streams.domain.rulebook import Rule
from streams.domain.said import Part

#: Specified public authorities under the Modern Slavery Act 2015 s52 duty to notify: the police
#: and local authorities (whose social services are the social_care agencies).
DUTY_TO_NOTIFY = frozenset({"police", "local_authority", "social_care"})
#: What every combined-concern alert asks for, whichever rule raised it.
ALWAYS = frozenset({"report_child_at_risk", "share_with_agencies"})
#: "Found and safe": reported by the police or the local authority, it ends the immediate risk
#: of every earlier report (an outcome, not an indicator: it never counts towards an alert).
FOUND_SAFE = "movement.found_safe"
SAFE_REPORTERS = frozenset({"police", "local_authority", "social_care"})


@dataclass(frozen=True)
class Facts:
    """What the rules read about one child."""

    evidence: Sequence[Evidence]
    counted: Sequence[Evidence]
    """The evidence that counts on its own (context indicators and outcomes do not), one piece
    per agency and fact: near-identical codes (``same_as``) from one agency count once."""
    catalogue: Catalogue
    date_of_birth: dt.date | None
    age_disputed: bool
    now: int = 0
    """The time (ms) windows are measured back from: the newest evidence, or the clock."""

    @classmethod
    def of(
        cls,
        evidence: Sequence[Evidence],
        catalogue: Catalogue,
        date_of_birth: dt.date | None = None,
        age_disputed: bool = False,
        now: int | None = None,
    ) -> Facts:
        counted: list[Evidence] = []
        seen: set[tuple[str, str, str]] = set()
        for e in evidence:  # in time order (``ChildState`` keeps it so): the first piece counts
            entry = catalogue[e.indicator]
            piece = (e.agency_type, e.agency_id, entry.fact)
            if entry.counts and piece not in seen:
                seen.add(piece)
                counted.append(e)
        latest = max((e.observed_at for e in evidence), default=0)
        return cls(evidence, counted, catalogue, date_of_birth, age_disputed, max(latest, now or 0))

    def component(self, component: Component) -> list[Evidence]:
        return [e for e in self.counted if component in self.catalogue[e.indicator].components]

    def group(self, e: Evidence) -> str:
        """The group a piece counts in: that of the fact it records."""
        return self.catalogue[self.catalogue[e.indicator].fact].group

    def urgent(self) -> list[Evidence]:
        return [
            e
            for e in self.evidence
            if e.immediate_risk or self.catalogue[e.indicator].immediate_risk
        ]

    def found_safe_at(self) -> int | None:
        """When the police or the local authority last reported the child found and safe."""
        return max(
            (
                e.observed_at
                for e in self.evidence
                if e.indicator == FOUND_SAFE and e.agency_type in SAFE_REPORTERS
            ),
            default=None,
        )


@dataclass(frozen=True)
class Fired:
    """A rule that holds: why, and the actions it adds."""

    reason: str
    actions: frozenset[str] = frozenset()
    changes_status: bool = False
    """The reason also says why the level changed (the version's ``status_reason``)."""
    said: tuple[Part, ...] = ()
    """The reason as codes and parameters (``streams.domain.said``)."""


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one child."""

    rule: Rule
    """The most severe rule that fired: the alert's ``rule_id`` and ``rule_version``."""
    level: str
    reasons: tuple[str, ...]
    actions: tuple[str, ...]
    fired: tuple[Rule, ...] = ()
    """Every rule that fired or added a note, in book order."""
    status_reason: str | None = None
    reason_codes: tuple[dict[str, Any], ...] = ()
    """Each reason as codes and parameters, in the order of ``reasons``."""
    status_code: dict[str, Any] | None = None
    """``status_reason`` as codes and parameters."""


def live_urgent(facts: Facts, config: Thresholds) -> list[Evidence]:
    """Immediate-risk evidence that still holds: recent, and not followed by a report that the
    child was found safe."""
    since = facts.now - config.immediate_risk_days * MS_PER_DAY
    safe = facts.found_safe_at()
    return [
        e
        for e in facts.urgent()
        if e.observed_at >= since and (safe is None or e.observed_at > safe)
    ]


def stale_urgent(facts: Facts, config: Thresholds) -> list[Evidence]:
    """Immediate-risk evidence whose risk has passed (too old, or the child found safe since)."""
    live = set(live_urgent(facts, config))
    return [e for e in facts.urgent() if e not in live]
