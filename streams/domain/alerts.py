"""What an alert of each kind says, from the child's state and the rules' decision.

``raised_at`` is the newest evidence's event time, never the wall clock, so reprocessing the
same input gives the same bytes; ids, versions and status come from the lifecycle
(``lifecycle.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from schemas.catalogue import ACTIONS, LEVELS
from streams.domain.evidence import EPOCH, ChildState, to_datetime
from streams.domain.lifecycle import Content
from streams.domain.said import reason

if TYPE_CHECKING:  # the rules import nothing of this module; only their types are needed
    from streams.domain.concern_rules import Decision
    from streams.domain.education_rules import Finding


def responsible(
    school_authority: str | None, authorities: Sequence[str]
) -> tuple[str, tuple[str, ...]]:
    """The responsible local authority (the current school's, else the first in the evidence,
    oldest first) and every other authority involved."""
    home = school_authority or authorities[0]
    return home, tuple(sorted(set(authorities) - {home}))


def concern_content(decision: Decision, state: ChildState, change: str | None) -> Content:
    """What the child's combined-concern alert says; ``change`` names evidence an agency took
    back, when that is why this version differs from the last."""
    home, others = responsible(state.school_authority, [e.local_authority for e in state.evidence])
    status_reason, status_code = decision.status_reason, decision.status_code
    if change is not None:
        status_reason = f"{change} The alert now rests on the rest of the evidence."
        status_code = None
    return Content(
        level=decision.level,
        rule_id=decision.rule.id,
        rule_version=decision.rule.version,
        raised_at=to_datetime(max(e.observed_at for e in state.evidence)),
        local_authority=home,
        local_authorities=others,
        evidence=tuple(e.to_alert() for e in state.evidence),
        reasons=decision.reasons,
        reason_codes=decision.reason_codes,
        actions=decision.actions,
        status_reason=status_reason,
        status_reason_code=status_code,
        linked_refs=state.membership.members,
    )


def education_content(
    found: Sequence[Finding], school_authority: str | None, linked_refs: tuple[str, ...] = ()
) -> Content:
    """What the child's education alert says, from the findings that hold."""
    top = max(found, key=lambda f: LEVELS.index(f.level))
    level = top.level
    actions = {"missing_education_enquiries"}
    if LEVELS.index(level) >= LEVELS.index("medium"):
        actions |= {"report_child_at_risk", "share_with_agencies"}
    indicator_of: dict[str, str] = {}
    for f in found:
        for r in f.evidence:
            indicator_of.setdefault(r.event_id, f.indicator)
    evidence = sorted(
        {r.event_id: r for f in found for r in f.evidence}.values(),
        key=lambda r: (r.date, r.event_id),
    )
    home, others = responsible(school_authority, [r.local_authority for r in evidence])
    return Content(
        level=level,
        rule_id=top.rule.id,
        rule_version=top.rule.version,
        raised_at=midnight(max(r.day for r in evidence)),
        local_authority=home,
        local_authorities=others,
        evidence=tuple(
            {
                "event_id": r.event_id,
                "agency_type": "school",
                "agency_id": r.school_id,
                "indicator": indicator_of[r.event_id],
                "group": "movement",
                "observed_at": midnight(r.day),
            }
            for r in evidence
        ),
        reasons=tuple(f.reason for f in found),
        reason_codes=tuple(reason(*f.said) for f in found),
        actions=tuple(a for a in ACTIONS if a in actions),
        family_move=all(f.family_move for f in found),
        linked_refs=linked_refs,
    )


def midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in UTC: the event time of a date-only event."""
    return EPOCH + dt.timedelta(days=(day - EPOCH.date()).days)
