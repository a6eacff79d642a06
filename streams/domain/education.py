"""One registration event or signal applied to one child: the missing-from-education step.

``step`` re-evaluates the child's findings (``education_rules``) after the history changed
(``registrations``) and says what to publish: the education alert when its content changed (or
again, on a resend), and each new finding as a movement observation for the combined concern.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.domain.alerts import education_alert, midnight
from streams.domain.config import Thresholds
from streams.domain.education_rules import Directory, Finding, evaluate
from streams.domain.registrations import EducationState
from streams.domain.schooldays import SchoolCalendar

KIND = "missing_from_education"


@dataclass(frozen=True)
class EducationStep:
    """What one event or signal means for the child."""

    alert: dict[str, Any] | None = None
    concern_observations: list[dict[str, Any]] = field(default_factory=list)
    next_due: str | None = None
    new_version: bool = False


def step(
    state: EducationState,
    child_ref: str,
    today: dt.date,
    calendar: SchoolCalendar,
    config: Thresholds,
    near_port: Directory,
    *,
    resend: bool = False,
) -> EducationStep:
    """Re-evaluate after an event or signal; ``resend`` re-publishes an unchanged alert."""
    state.pending = [p for p in state.pending if p.due > today.isoformat()]
    found = evaluate(state, today, calendar, config, near_port)
    concern = [
        concern_observation(child_ref, f)
        for f in found
        if not f.family_move and f.concern_event_id not in state.injected
    ]
    state.injected.extend(o["event_id"] for o in concern)
    if not found:
        state.alert.end()
        return EducationStep(concern_observations=concern, next_due=state.next_due())
    changed = state.alert.advance(_digest(found))
    alert = education_alert(child_ref, KIND, state.alert, found) if changed or resend else None
    return EducationStep(alert, concern, state.next_due(), new_version=changed)


def family_members_to_notify(
    departures: Sequence[tuple[str, str, str]], window_days: int
) -> list[tuple[str, str]]:
    """(child_ref, event_id) of each departure with another child's departure within the window.

    ``departures`` are (child_ref, event_id, ISO date) of one family's deregistrations.
    """
    matched = []
    for child, event_id, date in departures:
        day = dt.date.fromisoformat(date)
        if any(
            other != child and abs((dt.date.fromisoformat(d) - day).days) <= window_days
            for other, _, d in departures
        ):
            matched.append((child, event_id))
    return matched


def concern_observation(child_ref: str, finding: Finding) -> dict[str, Any]:
    """The finding as a local authority's movement observation for the combined concern."""
    when = midnight(finding.anchor.day)
    return {
        "event_id": finding.concern_event_id,
        "child_ref": child_ref,
        "indicator": finding.indicator,
        "agency": {"id": finding.anchor.local_authority, "type": "local_authority"},
        "observed_at": when,
        "reported_at": when,
        "local_authority": finding.anchor.local_authority,
        "date_of_birth": None,
        "age_disputed": False,
        "immediate_risk": False,
        "source_ref": None,
    }


def _digest(found: Sequence[Finding]) -> str:
    parts = sorted(
        f"{f.rule.id}|{f.level}|{f.anchor.event_id}|{f.family_move}|"
        + ",".join(r.event_id for r in f.evidence)
        for f in found
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
