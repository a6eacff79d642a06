"""One observation at a time through ``observe``: versions, duplicates, late events, expiry, age."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec
from streams.domain.concern import Result, observe
from streams.domain.config import default_thresholds
from streams.domain.evidence import ChildState
from streams.domain.lifecycle import alert_id
from tests.unit.streams.conftest import T0

CHILD = hashlib.sha256(b"child").hexdigest()
CONFIG = default_thresholds()
ALERTS = EventCodec("alert")


def obs(
    event_id: str, indicator: str, agency: str = "school:s1", day: int = 0, **extra: Any
) -> dict[str, Any]:
    agency_type, agency_id = agency.split(":")
    when = T0 + dt.timedelta(days=day)
    return {
        "event_id": event_id,
        "child_ref": CHILD,
        "indicator": indicator,
        "agency": {"id": agency_id, "type": agency_type},
        "observed_at": when,
        "reported_at": when,
        "local_authority": "W06000015",
        "date_of_birth": None,
        "age_disputed": False,
        "immediate_risk": False,
        "source_ref": None,
        **extra,
    }


SCHOOL = obs("e1", "movement.short_school_registration_then_removed")
HEALTH = obs("e2", "health.controlling_companion", "health:hb1", day=3)
POLICE = obs("e3", "control.long_working_hours", "police:p1", day=5)


def run(state: ChildState, *observations: dict[str, Any]) -> list[Any]:
    return [observe(state, o, default_catalogue(), CONFIG) for o in observations]


def test_first_alert_then_new_versions_of_the_same_alert() -> None:
    state = ChildState()
    first, second, third = run(state, SCHOOL, HEALTH, POLICE)
    assert (first.result, first.alert, first.changed) == (Result.NO_ALERT, None, True)
    assert second.result is Result.NEW_VERSION and third.result is Result.NEW_VERSION
    assert (
        second.alert["alert_id"]
        == third.alert["alert_id"]
        == alert_id(CHILD, "combined_concern", 0)
    )
    assert (second.alert["version"], third.alert["version"]) == (1, 2)
    assert [e["event_id"] for e in third.alert["evidence"]] == ["e1", "e2", "e3"]
    assert third.alert["level"] == "high"
    assert third.alert["rule_id"] == "concern.possible_trafficking"
    assert third.alert["raised_at"] == POLICE["observed_at"]
    assert "home_office_duty_to_notify" in third.alert["actions"]


def test_a_duplicate_resends_the_current_version_byte_for_byte() -> None:
    state = ChildState()
    *_, latest = run(state, SCHOOL, HEALTH, POLICE)
    (again,) = run(state, HEALTH)
    # Written again: the replay of a crash puts a state found only locally into the changelog.
    assert (again.result, again.changed) == (Result.RESEND, True)
    assert ALERTS.encode(again.alert) == ALERTS.encode(latest.alert)
    assert state.alert("combined_concern").version == 2


def test_replaying_everything_on_restored_state_makes_no_new_version() -> None:
    state = ChildState()
    run(state, SCHOOL, HEALTH, POLICE)
    restored = ChildState.from_json(state.to_json())
    assert restored == state
    replay = run(restored, SCHOOL, HEALTH, POLICE)
    assert [s.result for s in replay] == [Result.RESEND] * 3
    assert {s.alert["version"] for s in replay} == {2}


def test_the_stored_form_lists_every_field_in_declaration_order() -> None:
    # The changelog holds this form: a field added to the dataclasses must be added here too.
    state = ChildState()
    run(state, SCHOOL, HEALTH, POLICE)
    expected = dataclasses.asdict(state)
    expected["evidence"] = [list(dataclasses.asdict(e).values()) for e in state.evidence]
    expected["membership"] = None  # a reference never linked stores no membership
    assert state.to_json() == expected
    assert json.loads(json.dumps(state.to_json())) == expected


def test_a_late_event_inside_the_lookback_counts() -> None:
    state = ChildState()
    run(state, HEALTH, POLICE)  # day 3 and day 5
    (late,) = run(state, obs("e0", "docs.held_by_someone_else", "police:p1", day=-300))
    assert late.result is Result.NEW_VERSION
    assert [e["event_id"] for e in late.alert["evidence"]] == ["e0", "e2", "e3"]


def test_a_late_event_outside_the_lookback_is_ignored() -> None:
    state = ChildState()
    run(state, HEALTH, POLICE)
    (late,) = run(state, obs("e0", "docs.held_by_someone_else", "police:p1", day=-361))
    assert (late.result, late.alert, late.changed) == (Result.TOO_OLD, None, False)
    assert [e.event_id for e in state.evidence] == ["e2", "e3"]


def test_expired_evidence_ends_the_episode_and_a_new_alert_gets_a_new_id() -> None:
    state = ChildState()
    *_, old = run(state, SCHOOL, HEALTH)
    (quiet,) = run(state, obs("e4", "say_behave.mood_swings", day=400))
    assert quiet.result is Result.ENDED
    ended = quiet.alert
    assert (ended["alert_id"], ended["version"], ended["status"], ended["actions"]) == (
        old.alert["alert_id"],
        old.alert["version"] + 1,
        "ended",
        [],
    )
    assert ended["evidence"] == old.alert["evidence"]
    assert ended["status_reason"] == (
        "Ended: the evidence that raised this alert is more than 365 days old and has left the "
        "look-back."
    )
    # The same, as codes a dashboard words in its reader's language (alert v4).
    code = {"parts": [{"code": "concern.ended.lookback", "params": {"days": ["365"]}}]}
    assert (ended["status_reason_code"], ended["reason_codes"]) == (code, [code])
    assert [e.event_id for e in state.evidence] == ["e4"]
    (fresh,) = run(state, obs("e5", "say_behave.no_peer_friends", "health:hb1", day=401))
    assert (
        fresh.alert["alert_id"] == alert_id(CHILD, "combined_concern", 1) != old.alert["alert_id"]
    )
    assert fresh.alert["version"] == 1


def test_an_adult_observation_is_not_aggregated_and_leaves_no_state() -> None:
    state = ChildState()
    adult = obs("e9", "control.long_working_hours", "police:p1", date_of_birth=dt.date(2000, 1, 1))
    (step,) = run(state, adult)
    assert step.result is Result.ADULT
    assert (state.evidence, step.changed) == ([], False)


def test_a_disputed_age_is_treated_as_a_child() -> None:
    state = ChildState()
    disputed = obs(
        "e9",
        "control.seen_in_inappropriate_places",
        "police:p1",
        date_of_birth=dt.date(2000, 1, 1),
        age_disputed=True,
    )
    (step,) = run(state, disputed)
    assert step.result is Result.NEW_VERSION
    assert step.alert["level"] == "critical"


def test_one_event_id_from_two_agencies_is_two_pieces_of_evidence() -> None:
    state = ChildState()
    health = obs("e1", "health.controlling_companion", "health:h1")
    police = obs("e1", "control.long_working_hours", "police:p1", day=1, immediate_risk=True)
    _, second = run(state, health, police)
    assert [(e.agency_type, e.event_id) for e in state.evidence] == [
        ("health", "e1"),
        ("police", "e1"),
    ]
    assert (second.result, second.alert["level"]) == (Result.NEW_VERSION, "critical")


def test_an_age_dispute_sticks_when_a_later_report_claims_an_adult_date_of_birth() -> None:
    state = ChildState()
    run(state, obs("e1", "health.controlling_companion", "health:h1", age_disputed=True))
    claimed = obs(
        "e2", "control.long_working_hours", "police:p1", 1, date_of_birth=dt.date(2000, 1, 1)
    )
    (step,) = run(state, claimed)
    assert (step.result, step.alert["level"]) == (Result.NEW_VERSION, "medium")
    assert [e.event_id for e in state.evidence] == ["e1", "e2"] and state.age_disputed


def test_evidence_after_the_18th_birthday_is_kept_while_an_alert_is_open() -> None:
    state = ChildState()
    born = (T0 - dt.timedelta(days=18 * 365)).date()  # 18 a few days after T0
    _, opened = run(state, {**SCHOOL, "date_of_birth": born}, {**HEALTH, "date_of_birth": born})
    assert "plan_transition_at_18" in opened.alert["actions"]
    (later,) = run(
        state, obs("e9", "control.long_working_hours", "police:p1", 30, date_of_birth=born)
    )
    assert (later.result, later.alert["version"]) == (Result.NEW_VERSION, 2)
    assert [e.event_id for e in state.evidence] == ["e1", "e2", "e9"]


def test_an_age_dispute_lasts_until_an_age_assessment_finds_an_adult() -> None:
    state = ChildState()
    run(state, obs("e1", "docs.age_uncertain_or_disputed", "border_force:bf1"))
    assert state.age_disputed  # the indicator disputes the age as the flag does
    adult_claim = obs("e2", "docs.none", "border_force:bf1", 1, date_of_birth=dt.date(2000, 1, 1))
    (kept,) = run(state, adult_claim)
    assert kept.result is not Result.ADULT
    assessed = obs(
        "e3", "docs.age_assessed", "social_care:sc1", 2, date_of_birth=dt.date(2001, 6, 1)
    )
    (outcome,) = run(state, assessed)
    assert (outcome.result, outcome.changed) == (Result.ADULT, True)
    assert (state.age_disputed, state.date_of_birth) == (False, "2001-06-01")
    (after,) = run(state, obs("e4", "control.long_working_hours", "police:p1", 3))
    assert after.result is Result.ADULT
    assert [e.event_id for e in state.evidence] == ["e1", "e2"]


def test_an_age_assessment_that_finds_a_child_ends_the_dispute_and_keeps_counting() -> None:
    state = ChildState()
    born = (T0 - dt.timedelta(days=15 * 365)).date()
    run(state, obs("e1", "health.controlling_companion", "health:h1", age_disputed=True))
    (assessed,) = run(
        state, obs("e2", "docs.age_assessed", "social_care:sc1", 1, date_of_birth=born)
    )
    assert assessed.result is not Result.ADULT
    assert (state.age_disputed, state.date_of_birth) == (False, born.isoformat())
