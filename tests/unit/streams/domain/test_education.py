"""Missing-from-education patterns as tables of cases on both sides of each threshold."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from safeguard.kernel.errors import ConfigError
from schemas.codec import EventCodec
from streams.domain import education
from streams.domain.config import default_thresholds
from streams.domain.education import family_members_to_notify, step
from streams.domain.education_rules import evaluate
from streams.domain.registrations import EducationState, Pending, record_registration
from streams.domain.schooldays import SchoolCalendar, load_calendar

CHILD = "c" * 64
CAL = SchoolCalendar()
CONFIG = default_thresholds()
MON = dt.date(2026, 1, 5)  # a Monday
PORT_SCHOOL = "6610001"


def near_port(school_id: str) -> bool:
    return school_id == PORT_SCHOOL


def reg(
    event_id: str,
    kind: str,
    day: dt.date,
    school: str = "6812345",
    la: str = "W06000015",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "child_ref": CHILD,
        "school_id": school,
        "local_authority": la,
        "kind": kind,
        "effective_date": day,
        "reported_at": dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC),
        "deletion_ground": None,
        "destination_school_id": None,
        "absence_school_days": None,
        "family_group_ref": None,
        "family_travelling": False,
        **extra,
    }


def history(*records: dict[str, Any]) -> EducationState:
    state = EducationState()
    for record in records:
        record_registration(state, record, CONFIG)
    return state


def found(state: EducationState, today: dt.date) -> list[tuple[str, str]]:
    return [(f.rule.id, f.level) for f in evaluate(state, today, CAL, CONFIG, near_port)]


def school_day(n: int) -> dt.date:
    return CAL.add_school_days(MON, n, "W06000015")


LATER = dt.date(2027, 6, 1)  # every deadline has passed


def test_a_missing_deadline_is_scheduled_the_day_after_the_10th_school_day() -> None:
    state = history(reg("d", "deregistered", MON))
    assert found(state, MON) == []
    assert state.pending == [Pending("no_destination", "d", "2026-01-20")]
    assert state.next_due() == "2026-01-20"


def test_a_travelling_familys_departure_waits_for_its_siblings() -> None:
    departure = reg("d", "deregistered", MON, family_group_ref="f" * 64, family_travelling=True)
    state = history(departure)
    assert Pending("family_window", "d", "2026-01-11") in state.pending
    assert found(state, dt.date(2026, 1, 10)) == []  # held while siblings may follow
    state.family_moves.append("d")
    (finding,) = evaluate(state, LATER, CAL, CONFIG, near_port)
    assert (finding.rule.id, finding.level, finding.family_move) == (
        "education.family_move",
        "low",
        True,
    )


def test_a_lone_travelling_child_gets_the_authoritys_enquiry_at_low_after_the_window() -> None:
    departure = reg("d", "deregistered", MON, family_group_ref="f" * 64, family_travelling=True)
    state = history(departure)
    assert found(state, dt.date(2026, 1, 10)) == []  # held while siblings may follow
    (finding,) = evaluate(state, LATER, CAL, CONFIG, near_port)
    assert (finding.rule.id, finding.level, finding.family_move) == (
        "education.family_move",
        "low",
        True,
    )
    assert "with no sibling leaving at the same time" in finding.reason
    assert state.pending == []  # no missing-education deadline, no trafficking indicator
    assert run(state, LATER).concern_observations == []


def test_a_child_of_a_family_not_known_to_travel_who_leaves_alone_is_missing() -> None:
    departure = reg("d", "deregistered", MON, family_group_ref="f" * 64)
    assert found(history(departure), LATER) == [("education.no_destination", "medium")]


@pytest.mark.parametrize(
    ("departures", "expected"),
    [
        ([("a", "e1", "2026-01-05"), ("b", "e2", "2026-01-10")], [("a", "e1"), ("b", "e2")]),
        ([("a", "e1", "2026-01-05"), ("b", "e2", "2026-01-11")], []),
        ([("a", "e1", "2026-01-05"), ("a", "e2", "2026-01-06")], []),
    ],
)
def test_family_members_within_the_window(
    departures: list[tuple[str, str, str]], expected: list[tuple[str, str]]
) -> None:
    assert family_members_to_notify(departures, 5) == expected


def run(state: EducationState, today: dt.date, *, resend: bool = False) -> education.EducationStep:
    return step(state, CHILD, today, CAL, CONFIG, near_port, resend=resend)


def test_versions_concern_observations_and_resend() -> None:
    state = history(reg("r", "registered", MON), reg("d", "deregistered", school_day(60)))
    on_leaving = run(state, school_day(60))
    assert on_leaving.alert is None and on_leaving.next_due == "2026-04-14"
    first = run(state, dt.date(2026, 4, 14))
    assert first.new_version and first.alert is not None
    assert (first.alert["version"], first.alert["rule_id"], first.alert["level"]) == (
        1,
        "education.no_destination",
        "medium",
    )
    assert [e["event_id"] for e in first.alert["evidence"]] == ["r", "d"]
    assert first.alert["reasons"][0] == (
        "Registered at school 6812345 on 2026-01-05 and removed on 2026-03-30 after 60 school "
        "days (a term or longer: 55) with no known destination, and on no other roll 10 school "
        "days later."
    )
    assert first.alert["actions"] == [
        "report_child_at_risk",
        "share_with_agencies",
        "missing_education_enquiries",
    ]
    assert [(o["event_id"], o["indicator"], o["agency"]) for o in first.concern_observations] == [
        (
            "edu-education.short_stay-d",
            "movement.short_school_registration_then_removed",
            {"id": "6812345", "type": "school"},
        ),
        (
            "edu-education.no_destination-d",
            "movement.unknown_destination_on_leaving",
            {"id": "6812345", "type": "school"},
        ),
    ]
    assert first.next_due is None

    again = run(state, dt.date(2026, 4, 14), resend=True)
    codec = EventCodec("alert")
    assert not again.new_version and codec.encode(again.alert) == codec.encode(first.alert)
    assert again.concern_observations == []

    later = run(state, dt.date(2026, 5, 4))
    assert (later.alert, later.new_version, later.concern_observations) == (None, False, [])


def test_a_family_move_is_alerted_but_never_enters_the_concern_evidence() -> None:
    state = history(
        reg("d", "deregistered", MON, family_group_ref="f" * 64, family_travelling=True)
    )
    state.family_moves.append("d")
    result = run(state, LATER)
    assert result.alert is not None and result.alert["family_move"] is True
    assert (result.alert["level"], result.alert["actions"]) == (
        "low",
        ["missing_education_enquiries"],
    )
    assert result.concern_observations == []


def test_weekends_and_holidays_are_not_school_days(tmp_path: Path) -> None:
    path = tmp_path / "calendar.csv"
    path.write_text(
        "local_authority,first_day,last_day\nW06000015,2026-01-06,2026-01-07  # inset\n"
    )
    calendar = load_calendar(path)
    assert calendar.add_school_days(dt.date(2026, 1, 2), 1, "W06000015") == dt.date(2026, 1, 5)
    assert calendar.add_school_days(dt.date(2026, 1, 5), 1, "W06000015") == dt.date(2026, 1, 8)
    assert calendar.add_school_days(dt.date(2026, 1, 5), 1, "W06000011") == dt.date(2026, 1, 6)


def test_the_shipped_welsh_calendar_knows_holidays_and_bank_holidays() -> None:
    wales = load_calendar(None)
    la = "W06000015"
    assert not wales.is_school_day(dt.date(2026, 10, 30), la)  # October half term
    assert not wales.is_school_day(dt.date(2026, 11, 6), la)  # its second week
    assert wales.is_school_day(dt.date(2026, 11, 9), la)
    assert not wales.is_school_day(dt.date(2027, 5, 3), la)  # May Day, a bank holiday
    # Left the day before the summer break: the tenth school day is in September.
    assert wales.add_school_days(dt.date(2027, 7, 19), 10, la) == dt.date(2027, 9, 13)
    assert SchoolCalendar().add_school_days(dt.date(2027, 7, 19), 10, la) == dt.date(2027, 8, 2)


def test_an_authoritys_file_replaces_the_holiday_weeks_but_not_bank_holidays(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calendar.csv"
    path.write_text("local_authority,first_day,last_day\nW06000015,2026-11-02,2026-11-06\n")
    own = load_calendar(path)
    assert own.is_school_day(dt.date(2026, 10, 30), "W06000015")  # not a holiday in this file
    assert not own.is_school_day(dt.date(2026, 11, 2), "W06000015")
    assert not own.is_school_day(dt.date(2026, 12, 25), "W06000015")  # bank holiday


def test_a_bad_calendar_row_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "calendar.csv"
    path.write_text("local_authority,first_day,last_day\nW06000015,2026-13-01,2026-01-07\n")
    with pytest.raises(
        ConfigError,
        match=r"calendar\.csv:2: 'W06000015,2026-13-01,2026-01-07': month must be in 1\.\.12",
    ):
        load_calendar(path)


def test_a_registration_in_time_removes_the_pending_deadline() -> None:
    state = history(reg("d", "deregistered", MON))
    assert found(state, MON) == []
    assert [p.kind for p in state.pending] == ["no_destination"]
    record_registration(state, reg("n", "registered", school_day(3), school="6819999"), CONFIG)
    assert found(state, MON) == []
    assert state.pending == []
