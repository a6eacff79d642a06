"""Missing-from-education patterns: a child's registration history in, findings and an alert out.

Pure code: no Faust, no I/O, and "today" is a parameter (the worker passes its injectable clock).
Each pattern is a rule with an id, a version and a configurable threshold (defaults from section 2.6
of the domain notes). ``evaluate`` turns a child's ``EducationState`` into the findings that hold
today; ``step`` applies one registration event or signal and says what to publish.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.domain.alerts import alert_id
from streams.domain.evidence import EPOCH
from streams.domain.registrations import EducationState, Pending, Registration
from streams.domain.rules import ACTIONS, LEVELS, Rule
from streams.domain.schooldays import SchoolCalendar

KIND = "missing_from_education"

SHORT_STAY = Rule(
    "education.short_stay",
    1,
    "medium",
    "A child registered at a school for a term or longer and then moved elsewhere in the UK or "
    "abroad, in a pattern of registration and de-registration, may have been trafficked.",
)
REPEATED_REGISTRATION = Rule(
    "education.repeated_registration",
    1,
    "medium",
    "A pattern of registration and de-registration; highly mobile children get lost between "
    "schools and local authorities.",
)
NO_DESTINATION = Rule(
    "education.no_destination",
    1,
    "medium",
    "A pupil who leaves with no known destination and appears on no other roll is a child "
    "missing education, whom the local authority must try to find.",
)
CONTINUOUS_ABSENCE = Rule(
    "education.continuous_absence",
    1,
    "low",
    "Schools in Wales return to the local authority every pupil with 10 or more continuous "
    "school days of unauthorised absence (Pupil Registration (Wales) Regulations 2010 reg 12); "
    "20 days is a ground for deletion after joint enquiries.",
)
PORT_SCHOOL = Rule(
    "education.port_school",
    1,
    "low",
    "Schools near ports of entry are a particular concern, but every school must be alert.",
)
FAMILY_MOVE = Rule(
    "education.family_move",
    1,
    "low",
    "Not every child missing from education is trafficked: Gypsy, Roma, Traveller or migrant "
    "families may go missing from school together.",
)


@dataclass(frozen=True)
class EducationConfig:
    short_registration_max_school_days: int = 65
    repeated_window_days: int = 365
    repeated_min_schools: int = 3
    repeated_min_local_authorities: int = 2
    no_destination_school_days: int = 10
    absence_return_school_days: int = 10
    absence_deletion_school_days: int = 20
    family_window_days: int = 5


@dataclass(frozen=True)
class Finding:
    """One pattern found in the child's history."""

    rule: Rule
    level: str
    indicator: str
    """The movement indicator this finding stands for in the combined-concern evidence."""
    anchor: Registration
    """The event the finding hangs on (its school and local authority)."""
    evidence: tuple[Registration, ...]
    reason: str
    family_move: bool = False

    @property
    def concern_event_id(self) -> str:
        return f"edu-{self.rule.id}-{self.anchor.event_id}"


@dataclass(frozen=True)
class EducationStep:
    """What one event or signal means for the child."""

    alert: dict[str, Any] | None = None
    concern_observations: list[dict[str, Any]] = field(default_factory=list)
    next_due: str | None = None
    new_version: bool = False


Directory = Callable[[str], bool]
"""Whether a school id is near a port of entry (unknown schools are not)."""


def evaluate(
    state: EducationState,
    today: dt.date,
    calendar: SchoolCalendar,
    config: EducationConfig,
    near_port: Directory,
) -> list[Finding]:
    """Every finding that holds today; also schedules the deadlines still to come."""
    held = {
        p.event_id for p in state.pending if p.kind == "family_window" and p.due > today.isoformat()
    }
    found: list[Finding] = []
    for departure in (r for r in state.registrations if r.destination_unknown):
        if departure.event_id in state.family_moves:
            state.pending = [p for p in state.pending if p.event_id != departure.event_id]
            found.append(_family_move(departure))
        elif departure.event_id not in held:
            found.extend(_departure_findings(state, departure, today, calendar, config))
    found.extend(_repeated(state, config))
    found.extend(_absence(state, config))
    return [_port(f, near_port) for f in found]


def _departure_findings(
    state: EducationState,
    departure: Registration,
    today: dt.date,
    calendar: SchoolCalendar,
    config: EducationConfig,
) -> list[Finding]:
    found = []
    joined = [
        r
        for r in state.registrations
        if r.kind == "registered"
        and r.school_id == departure.school_id
        and r.date <= departure.date
    ]
    if joined:
        stay = calendar.school_days_between(
            joined[-1].day, departure.day, departure.local_authority
        )
        if stay <= config.short_registration_max_school_days:
            found.append(
                Finding(
                    SHORT_STAY,
                    SHORT_STAY.level,
                    "movement.short_school_registration_then_removed",
                    departure,
                    (joined[-1], departure),
                    f"Registered at school {departure.school_id} on {joined[-1].date} and "
                    f"removed on {departure.date} after {stay} school days (a term or less, "
                    f"threshold {config.short_registration_max_school_days}) with no known "
                    "destination.",
                )
            )
    deadline = calendar.add_school_days(
        departure.day, config.no_destination_school_days, departure.local_authority
    )
    moved_on = any(
        r.kind == "registered"
        and r.school_id != departure.school_id
        and departure.day <= r.day <= deadline
        for r in state.registrations
    )
    if not moved_on and today > deadline:
        found.append(
            Finding(
                NO_DESTINATION,
                NO_DESTINATION.level,
                "movement.unknown_destination_on_leaving",
                departure,
                (departure,),
                f"Left school {departure.school_id} on {departure.date} with no known "
                f"destination and was registered nowhere within "
                f"{config.no_destination_school_days} school days (by {deadline.isoformat()}).",
            )
        )
    elif not moved_on:
        state.schedule(Pending("no_destination", departure.event_id, _after(deadline)))
    else:  # a registration in time cancels the deadline
        state.pending = [
            p
            for p in state.pending
            if (p.kind, p.event_id) != ("no_destination", departure.event_id)
        ]
    return found


def _family_move(departure: Registration) -> Finding:
    return Finding(
        FAMILY_MOVE,
        FAMILY_MOVE.level,
        "movement.unknown_destination_on_leaving",
        departure,
        (departure,),
        f"Left school {departure.school_id} on {departure.date} together with siblings of a "
        "travelling family: the local authority should make its missing-education enquiries, "
        "but a family moving together is not on its own a sign of trafficking.",
        family_move=True,
    )


def _repeated(state: EducationState, config: EducationConfig) -> list[Finding]:
    joined = [r for r in state.registrations if r.kind == "registered"]
    if not joined:
        return []
    horizon = (joined[-1].day - dt.timedelta(days=config.repeated_window_days)).isoformat()
    recent = [r for r in joined if r.date >= horizon]
    schools = sorted({r.school_id for r in recent})
    authorities = sorted({r.local_authority for r in recent})
    many_schools = len(schools) >= config.repeated_min_schools
    if not many_schools and len(authorities) < config.repeated_min_local_authorities:
        return []
    return [
        Finding(
            REPEATED_REGISTRATION,
            "medium" if many_schools else "low",
            "movement.repeated_school_registrations",
            # The earliest registration anchors the finding, so later registrations extend the
            # same finding (one movement observation) instead of adding one per registration.
            recent[0],
            tuple(recent),
            f"Registered at {len(schools)} schools in {len(authorities)} local "
            f"{'authority' if len(authorities) == 1 else 'authorities'} within "
            f"{config.repeated_window_days} days (thresholds: {config.repeated_min_schools} "
            f"schools or {config.repeated_min_local_authorities} local authorities).",
        )
    ]


def _absence(state: EducationState, config: EducationConfig) -> list[Finding]:
    if not state.registrations or state.registrations[-1].kind != "continuous_absence":
        return []
    latest = state.registrations[-1]
    days = latest.absence_days or 0
    if days < config.absence_return_school_days:
        return []
    level = "medium" if days >= config.absence_deletion_school_days else "low"
    return [
        Finding(
            CONTINUOUS_ABSENCE,
            level,
            "movement.unexplained_prolonged_absence",
            latest,
            (latest,),
            f"{days} consecutive school days of unauthorised absence from school "
            f"{latest.school_id} up to {latest.date} (returned to the local authority from "
            f"{config.absence_return_school_days}; {config.absence_deletion_school_days} "
            "raises the level).",
        )
    ]


def _port(finding: Finding, near_port: Directory) -> Finding:
    if finding.family_move or not near_port(finding.anchor.school_id):
        return finding
    raised = LEVELS[min(LEVELS.index(finding.level) + 1, LEVELS.index("high"))]
    return Finding(
        finding.rule,
        raised,
        finding.indicator,
        finding.anchor,
        finding.evidence,
        f"{finding.reason} School {finding.anchor.school_id} is near a port of entry, where the "
        "guide asks for particular alertness (level raised one step).",
    )


def _after(day: dt.date) -> str:
    return (day + dt.timedelta(days=1)).isoformat()


def record_registration(
    state: EducationState, record: dict[str, Any], config: EducationConfig
) -> Registration | None:
    """Add a decoded SchoolRegistration to the history; None if it was a duplicate.

    A travelling family's departure with no known destination is held for
    ``family_window_days`` so siblings' departures can be matched before it is judged.
    """
    ground = record["deletion_ground"]
    item = Registration(
        event_id=record["event_id"],
        kind=record["kind"],
        school_id=record["school_id"],
        local_authority=record["local_authority"],
        date=record["effective_date"].isoformat(),
        destination=record["destination_school_id"],
        ground=ground,
        absence_days=record["absence_school_days"],
        family_group_ref=record["family_group_ref"],
        family_travelling=record["family_travelling"],
    )
    if not state.add(item, keep_days=config.repeated_window_days + 60):
        return None
    if is_family_departure(item):
        due = item.day + dt.timedelta(days=config.family_window_days + 1)
        state.schedule(Pending("family_window", item.event_id, due.isoformat()))
    return item


def is_family_departure(item: Registration) -> bool:
    return item.destination_unknown and bool(item.family_group_ref) and item.family_travelling


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


def build_alert(child_ref: str, state: EducationState, found: Sequence[Finding]) -> dict[str, Any]:
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
        "alert_id": alert_id(child_ref, KIND, state.alert.episode),
        "version": state.alert.version,
        "child_ref": child_ref,
        "kind": KIND,
        "level": level,
        "rule_id": top.rule.id,
        "rule_version": top.rule.version,
        "raised_at": _midnight(max(r.day for r in evidence)),
        "local_authority": evidence[-1].local_authority,
        "evidence": [
            {
                "event_id": r.event_id,
                "agency_type": "school",
                "agency_id": r.school_id,
                "indicator": indicator_of[r.event_id],
                "group": "movement",
                "observed_at": _midnight(r.day),
            }
            for r in evidence
        ],
        "reasons": [f.reason for f in found],
        "actions": [a for a in ACTIONS if a in actions],
        "family_move": all(f.family_move for f in found),
    }


def concern_observation(child_ref: str, finding: Finding) -> dict[str, Any]:
    """The finding as a local authority's movement observation for the combined concern."""
    when = _midnight(finding.anchor.day)
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


def step(
    state: EducationState,
    child_ref: str,
    today: dt.date,
    calendar: SchoolCalendar,
    config: EducationConfig,
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
        if state.alert.version:
            state.alert.episode += 1
            state.alert.version = 0
            state.alert.digest = ""
        return EducationStep(concern_observations=concern, next_due=state.next_due())
    digest = _digest(found)
    changed = digest != state.alert.digest
    if changed:
        state.alert.version += 1
        state.alert.digest = digest
    alert = build_alert(child_ref, state, found) if changed or resend else None
    return EducationStep(alert, concern, state.next_due(), new_version=changed)


def _digest(found: Sequence[Finding]) -> str:
    parts = sorted(
        f"{f.rule.id}|{f.level}|{f.anchor.event_id}|{f.family_move}|"
        + ",".join(r.event_id for r in f.evidence)
        for f in found
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _midnight(day: dt.date) -> dt.datetime:
    return EPOCH + dt.timedelta(days=(day - EPOCH.date()).days)
