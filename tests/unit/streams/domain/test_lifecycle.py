"""The life of an alert, step by step: closure and reopening, ending, withdrawal, retraction,
the passing of an immediate risk, and the responsible local authority."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec
from schemas.validation import check_retraction
from streams.domain import concern, education
from streams.domain.concern import Result
from streams.domain.evidence import ChildState
from streams.domain.registrations import EducationState, record_registration
from tests.unit.streams.conftest import T0
from tests.unit.streams.domain.test_concern import CHILD, CONFIG, HEALTH, SCHOOL, obs, run
from tests.unit.streams.domain.test_education import CAL, near_port, reg, school_day

ALERTS = EventCodec("alert")
CATALOGUE = default_catalogue()
CLOSED_AT = dt.datetime(2026, 3, 9, 9, tzinfo=dt.UTC)


def close(state: ChildState, alert: dict[str, Any], outcome: str = "strategy_discussion") -> None:
    action = {
        "alert_id": alert["alert_id"],
        "version": alert["version"],
        "action": "close",
        "by": "lead.cardiff",
        "assignee": None,
        "reason": "Discussed at the hub",
        "outcome": outcome,
        "at": CLOSED_AT,
    }
    assert concern.on_action(state, CHILD, action, CATALOGUE, CONFIG).changed


def test_new_evidence_after_a_closure_reopens_the_alert_naming_who_closed_it_and_why() -> None:
    state = ChildState()
    _, opened = run(state, SCHOOL, HEALTH)
    close(state, opened.alert)
    (escalated,) = run(state, obs("e9", "control.seen_in_inappropriate_places", "police:p1", 6))
    alert = escalated.alert
    assert (alert["alert_id"], alert["version"], alert["level"]) == (
        opened.alert["alert_id"],
        2,
        "critical",
    )
    assert alert["reopened_after_closure"] is True
    assert alert["closure"] == {
        "outcome": "strategy_discussion",
        "reason": "Discussed at the hub",
        "by": "lead.cardiff",
        "at": CLOSED_AT,
        "version": 1,
    }
    ALERTS.encode(alert)  # a valid Alert
    # The next version is an ordinary one; a resend of this one is byte-identical.
    (again,) = run(state, obs("e9", "control.seen_in_inappropriate_places", "police:p1", 6))
    assert again.result is Result.RESEND
    assert ALERTS.encode(again.alert) == ALERTS.encode(alert)
    (later,) = run(state, obs("e10", "say_behave.mood_swings", "school:s1", 7))
    assert (later.alert["version"], later.alert["reopened_after_closure"]) == (3, False)


def test_a_closure_of_an_older_episode_changes_nothing() -> None:
    state = ChildState()
    _, opened = run(state, SCHOOL, HEALTH)
    stale = {**opened.alert, "alert_id": "combined_concern-000000000000000000000000"}
    action = {"action": "close", "by": "x", "reason": "r", "outcome": None, "at": CLOSED_AT}
    step = concern.on_action(state, CHILD, {**action, **stale}, CATALOGUE, CONFIG)
    assert step.changed is False and state.alert("combined_concern").closure is None


def test_the_episode_ends_with_no_new_input_when_its_evidence_leaves_the_look_back() -> None:
    state = ChildState()
    _, opened = run(state, SCHOOL, HEALTH)
    assert opened.next_due == "2027-03-03"  # the school's evidence is 365 days old on 2 March
    early = concern.catch_up(state, CHILD, T0 + dt.timedelta(days=100), CATALOGUE, CONFIG)
    assert (early.result, early.alert, early.next_due) == (Result.NO_ALERT, None, "2027-03-03")
    due = concern.catch_up(state, CHILD, T0 + dt.timedelta(days=366), CATALOGUE, CONFIG)
    assert due.result is Result.ENDED
    assert (due.alert["status"], due.alert["version"], due.alert["evidence"]) == (
        "ended",
        2,
        opened.alert["evidence"],
    )
    assert due.next_due is None and not state.alert("combined_concern").is_open


def test_an_immediate_risk_falls_back_after_seven_days_with_a_reason() -> None:
    state = ChildState()
    urgent = obs("p1", "control.seen_in_inappropriate_places", "police:p1", 0)
    _, critical = run(state, urgent, HEALTH)
    assert critical.alert["level"] == "critical" and critical.next_due == "2026-03-10"
    step = concern.catch_up(state, CHILD, T0 + dt.timedelta(days=8), CATALOGUE, CONFIG)
    alert = step.alert
    assert (alert["version"], alert["level"], alert["status"]) == (3, "medium", "open")
    assert "call_police_999" not in alert["actions"]
    assert alert["status_reason"] == (
        "The immediate risk (control.seen_in_inappropriate_places) has passed: it was reported "
        "more than 7 days ago. The level is what the rest of the evidence supports."
    )


def test_found_safe_from_the_police_ends_the_immediate_risk_at_once() -> None:
    state = ChildState()
    urgent = obs("p1", "control.seen_in_inappropriate_places", "police:p1", 0)
    run(state, urgent, HEALTH)
    (safe,) = run(state, obs("p2", "movement.found_safe", "police:p1", 4))
    assert (safe.alert["level"], safe.alert["version"]) == ("medium", 3)
    assert "found safe on 2026-03-06" in safe.alert["status_reason"]


def test_a_retraction_by_the_sending_agency_withdraws_the_alert_and_another_agency_cannot() -> None:
    state = ChildState()
    run(state, SCHOOL, HEALTH)
    retraction = {
        "event_id": "r1",
        "child_ref": CHILD,
        "agency": {"id": "hb2", "type": "health"},  # not the agency that sent e2
        "retracts": "e2",
        "of": "observation",
        "reason": "wrong_child",
        "retracted_at": T0,
    }
    refused = concern.retract(state, CHILD, retraction, CATALOGUE, CONFIG)
    assert (refused.result, refused.alert) == (Result.NO_ALERT, None)
    assert [e.event_id for e in state.evidence] == ["e1", "e2"]
    own = {**retraction, "agency": {"id": "hb1", "type": "health"}}
    step = concern.retract(state, CHILD, own, CATALOGUE, CONFIG)
    assert step.result is Result.WITHDRAWN
    assert (step.alert["status"], step.alert["version"]) == ("withdrawn", 2)
    assert step.alert["status_reason"] == (
        "Withdrawn: health hb1 retracted its health.controlling_companion of 2026-03-05 "
        "(wrong_child). Nothing left supports an alert."
    )
    (resent,) = run(state, HEALTH)  # the retracted event, published again
    assert resent.result is Result.NO_ALERT and [e.event_id for e in state.evidence] == ["e1"]


def test_the_alert_belongs_to_the_current_schools_authority_and_lists_the_others() -> None:
    state = ChildState()
    run(state, SCHOOL)
    (port,) = run(
        state,
        obs("e2", "health.controlling_companion", "health:hb1", 3, local_authority="W06000001"),
    )
    assert (port.alert["local_authority"], port.alert["local_authorities"]) == (
        "W06000015",
        ["W06000001"],
    )
    moved = concern.on_school_authority(state, CHILD, "W06000011", CATALOGUE, CONFIG)
    assert (moved.alert["version"], moved.alert["local_authority"]) == (2, "W06000011")
    assert moved.alert["local_authorities"] == ["W06000001", "W06000015"]


def test_a_late_registration_withdraws_the_no_destination_alert() -> None:
    state = EducationState()
    left = reg("d", "deregistered", school_day(0))
    record_registration(state, left, CONFIG)
    late = school_day(30)
    first = education.step(state, CHILD, late, CAL, CONFIG, near_port, because="x")
    assert first.alert is not None and first.alert["rule_id"] == "education.no_destination"
    assert [o["event_id"] for o in first.concern_observations] == ["edu-education.no_destination-d"]
    record_registration(state, reg("r", "registered", school_day(4), school="6899999"), CONFIG)
    step = education.step(
        state,
        CHILD,
        late,
        CAL,
        CONFIG,
        near_port,
        because="school 6899999 reported the child registered on 2026-01-09.",
    )
    assert step.alert is not None
    assert (step.alert["status"], step.alert["version"]) == ("withdrawn", 2)
    assert step.alert["status_reason"] == (
        "Withdrawn: school 6899999 reported the child registered on 2026-01-09. This removes "
        "the basis of the alert."
    )
    assert [(r["agency"], r["retracts"]) for r in step.retractions] == [
        ({"id": "6812345", "type": "school"}, "edu-education.no_destination-d")
    ]
    EventCodec("retraction").encode(step.retractions[0])
    check_retraction(step.retractions[0])  # what the worker checks when it reads it back
