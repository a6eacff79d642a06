"""Alert records of both kinds, built from the child's state and the rules' decision.

``raised_at`` is the newest evidence's event time, never the wall clock, so reprocessing the
same input gives the same bytes; ids and versions come from the lifecycle (``lifecycle.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from schemas.catalogue import ACTIONS, LEVELS
from streams.domain.evidence import EPOCH, ChildState, to_datetime
from streams.domain.lifecycle import AlertState

if TYPE_CHECKING:  # the rules import nothing of this module; only their types are needed
    from streams.domain.concern_rules import Decision
    from streams.domain.education_rules import Finding


def concern_alert(
    child_ref: str, kind: str, decision: Decision, state: ChildState
) -> dict[str, Any]:
    """The Alert record for the child's current combined-concern alert (episode and version)."""
    current = state.alert(kind)
    latest = state.evidence[-1]
    return {
        "alert_id": current.alert_id(child_ref, kind),
        "version": current.version,
        "child_ref": child_ref,
        "kind": kind,
        "level": decision.level,
        "rule_id": decision.rule.id,
        "rule_version": decision.rule.version,
        "raised_at": to_datetime(max(e.observed_at for e in state.evidence)),
        "local_authority": latest.local_authority,
        "evidence": [e.to_alert() for e in state.evidence],
        "reasons": list(decision.reasons),
        "actions": list(decision.actions),
        "family_move": False,
    }


def education_alert(
    child_ref: str, kind: str, current: AlertState, found: Sequence[Finding]
) -> dict[str, Any]:
    """The education alert for the child's current episode and version."""
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
    return {
        "alert_id": current.alert_id(child_ref, kind),
        "version": current.version,
        "child_ref": child_ref,
        "kind": kind,
        "level": level,
        "rule_id": top.rule.id,
        "rule_version": top.rule.version,
        "raised_at": midnight(max(r.day for r in evidence)),
        "local_authority": evidence[-1].local_authority,
        "evidence": [
            {
                "event_id": r.event_id,
                "agency_type": "school",
                "agency_id": r.school_id,
                "indicator": indicator_of[r.event_id],
                "group": "movement",
                "observed_at": midnight(r.day),
            }
            for r in evidence
        ],
        "reasons": [f.reason for f in found],
        "actions": [a for a in ACTIONS if a in actions],
        "family_move": all(f.family_move for f in found),
    }


def midnight(day: dt.date) -> dt.datetime:
    """The start of ``day`` in UTC: the event time of a date-only event."""
    return EPOCH + dt.timedelta(days=(day - EPOCH.date()).days)
