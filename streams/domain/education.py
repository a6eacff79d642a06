"""One registration event or signal applied to one child: the missing-from-education step.

``step`` re-evaluates the child's findings (``education_rules``) after the history changed
(``registrations``) and says what to publish: the education alert when its content changed (or
again, on a resend), and each new finding as a movement observation for the combined concern.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.domain.alerts import education_content, midnight
from streams.domain.config import Thresholds
from streams.domain.education_rules import Directory, Finding, evaluate
from streams.domain.registrations import EducationState
from streams.domain.said import part, reason
from streams.domain.schooldays import SchoolCalendar

KIND = "missing_from_education"


@dataclass(frozen=True)
class EducationStep:
    """What one event or signal means for the child."""

    alert: dict[str, Any] | None = None
    concern_observations: list[dict[str, Any]] = field(default_factory=list)
    next_due: str | None = None
    new_version: bool = False
    authority: str | None = None
    """The local authority of the child's current school, if any."""
    retractions: list[dict[str, Any]] = field(default_factory=list)
    """Retractions of movement observations whose basis was withdrawn."""


def step(
    state: EducationState,
    child_ref: str,
    today: dt.date,
    calendar: SchoolCalendar,
    config: Thresholds,
    near_port: Directory,
    *,
    resend: bool = False,
    because: str | None = None,
    ending: str | None = None,
) -> EducationStep:
    """Re-evaluate after an event or signal; ``resend`` re-publishes an unchanged alert.

    ``because`` describes the input (a registration, a retraction): if the findings vanish
    because of it, the alert is withdrawn, with that as the reason, and the movement
    observations it gave the combined concern are retracted; without it, the episode ends
    (``ending`` says why, when the input is a return to school).
    """
    state.pending = [p for p in state.pending if p.due > today.isoformat()]
    found = evaluate(state, today, calendar, config, near_port)
    concern = [
        concern_observation(child_ref, f)
        for f in found
        if not f.family_move and f.concern_event_id not in state.injected
    ]
    state.injected.extend(o["event_id"] for o in concern)
    state.injected_by.update(
        {o["event_id"]: f"{o['agency']['type']}:{o['agency']['id']}" for o in concern}
    )
    authority = current_authority(state)
    if not found:
        if because is None:
            why = f"Ended: {ending or 'the registration pattern no longer holds.'}"
            code = None if ending else reason(part("education.ended"))
            alert = state.alert.finish(child_ref, KIND, "ended", why, code=code)
            return EducationStep(alert, concern, state.next_due(), authority=authority)
        alert = state.alert.finish(
            child_ref,
            KIND,
            "withdrawn",
            f"Withdrawn: {because} This removes the basis of the alert.",
        )
        retractions = (
            [
                retraction_of(child_ref, event_id, state.injected_by.get(event_id, ""), today)
                for event_id in state.injected
            ]
            if alert is not None
            else []
        )
        return EducationStep(
            alert, concern, state.next_due(), authority=authority, retractions=retractions
        )
    content = education_content(found, authority, state.membership.members)
    alert = state.alert.publish(child_ref, KIND, content)
    changed = alert is not None
    if alert is None and resend and state.alert.digest == content.digest():
        alert = state.alert.record(child_ref, KIND, content)
    return EducationStep(alert, concern, state.next_due(), new_version=changed, authority=authority)


def on_identity(
    state: EducationState,
    me: str,
    signal: dict[str, Any],
    today: dt.date,
    calendar: SchoolCalendar,
    config: Thresholds,
    near_port: Directory,
) -> tuple[EducationStep | None, dict[str, dict[str, Any]]]:
    """The identity agent says where ``me`` stands among the references linked as one child:
    the registrations go where they belong now (``EducationState.take_out``) and the alert is
    re-assessed, or ends naming the child it continues under. None: nothing new."""
    if not state.membership.is_newer(signal["version"]):
        return None, {}
    state.membership.learn(me, signal)
    payloads = state.take_out(me)
    merged = state.membership.canonical
    if merged is not None:
        why = (
            "Withdrawn: agencies linked this reference to another of the same child; the school "
            "history and the alert continue under that child."
        )
        state.pending = []
        alert = state.alert.finish(
            me,
            KIND,
            "withdrawn",
            why,
            merged_into=merged,
            code=reason(part("education.withdrawn.merged")),
        )
        return EducationStep(alert, authority=None), payloads
    because = None
    if payloads:
        because = (
            "a link between two references of this child was withdrawn, and the school history "
            "known under the other reference is no longer counted here."
        )
    return step(state, me, today, calendar, config, near_port, because=because), payloads


def on_absorb(
    state: EducationState,
    me: str,
    signal: dict[str, Any],
    today: dt.date,
    calendar: SchoolCalendar,
    config: Thresholds,
    near_port: Directory,
) -> tuple[EducationStep, dict[str, dict[str, Any]]]:
    """The school history of a reference linked as this child arrives; what does not belong
    here by this reference's own (newer) view is sent on."""
    state.absorb(me, signal["payload"], config.repeated_registrations_window_days + 60)
    payloads = {} if state.membership.is_newer(signal["version"]) else state.take_out(me)
    return step(state, me, today, calendar, config, near_port), payloads


def current_authority(state: EducationState) -> str | None:
    """The local authority of the child's current school registration, if the child has one."""
    for registration in reversed(state.registrations):
        if registration.kind == "deregistered":
            return None
        if registration.kind == "registered":
            return registration.local_authority
    return None


def retraction_of(child_ref: str, event_id: str, agency: str, today: dt.date) -> dict[str, Any]:
    """The agency that published a movement observation whose finding was withdrawn takes it
    back. ``agency`` is ``type:id`` (a bare id is a local authority: states of earlier versions
    published findings as the local authority's)."""
    kind, _, agency_id = agency.rpartition(":")
    return {
        "event_id": f"retract-{event_id}",
        "child_ref": child_ref,
        "agency": {"id": agency_id, "type": kind or "local_authority"},
        "retracts": event_id,
        "of": "observation",
        "reason": "basis_withdrawn",
        "retracted_at": midnight(today),
    }


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
    """The finding as a movement observation for the combined concern, from the school the
    finding hangs on: it is that school's piece, never a second agency beside the school."""
    when = midnight(finding.anchor.day)
    return {
        "event_id": finding.concern_event_id,
        "child_ref": child_ref,
        "indicator": finding.indicator,
        "agency": {"id": finding.anchor.school_id, "type": "school"},
        "observed_at": when,
        "reported_at": when,
        "local_authority": finding.anchor.local_authority,
        "date_of_birth": None,
        "age_disputed": False,
        "immediate_risk": False,
        "source_ref": None,
    }
