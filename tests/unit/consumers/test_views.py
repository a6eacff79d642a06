"""How the dashboard words things: dates without invented times, names for codes."""

from __future__ import annotations

import datetime as dt

from consumers.dashboard.views import Names, day, plain, row_view, when
from schemas.areas import area_name, areas


def test_a_date_only_event_shows_no_time_and_a_timed_one_shows_uk_time() -> None:
    assert when("2026-12-07T00:00:00+00:00") == "7 December 2026"
    assert when(dt.datetime(2026, 7, 7, 13, 5, tzinfo=dt.UTC)) == "7 July 2026, 14:05"  # BST
    assert when(dt.datetime(2026, 12, 7, 13, 5, tzinfo=dt.UTC)) == "7 December 2026, 13:05"
    assert when(dt.datetime(2026, 7, 7, 13, 5, tzinfo=dt.UTC), "cy") == "7 Gorffennaf 2026, 14:05"
    # Late evening in UTC is the next day in the UK in summer; a date-only event keeps its day.
    assert day(dt.datetime(2026, 7, 7, 23, 30, tzinfo=dt.UTC)) == "8 Jul 2026"
    assert day("2026-07-07T00:00:00+00:00") == "7 Jul 2026"
    assert when(None) == ""


def test_the_22_welsh_authorities_have_english_and_welsh_names() -> None:
    assert len(areas()) == 22
    assert area_name("W06000015") == "Cardiff"
    assert area_name("W06000015", "cy") == "Caerdydd"
    assert area_name("W06000009") == "Pembrokeshire"
    assert area_name("E09000001") == "E09000001"  # not a Welsh authority: shown as it is


NAMES = Names(
    {
        "sw": {"name": "South Wales Police", "contact": "101"},
        "hb-x": {"name": None, "contact": None},
    },
    {"6602000": "Ysgol Gymraeg Bro Morgannwg"},
)


def test_agencies_and_schools_are_named_from_the_register_and_the_reference_data() -> None:
    assert NAMES.agency("police", "sw") == "South Wales Police"
    assert NAMES.agency("school", "6602000") == "Ysgol Gymraeg Bro Morgannwg"
    assert NAMES.agency("health", "hb-x") == "health service hb-x"  # registered without a name
    assert NAMES.agency("border_force", "bf-1") == "Border Force bf-1"  # not registered
    assert NAMES.contact("sw") == "101" and NAMES.contact("bf-1") is None


def test_a_stored_reason_names_its_agencies_schools_and_indicators_in_plain_words() -> None:
    evidence = [
        {"agency_type": "police", "agency_id": "sw"},
        {"agency_type": "school", "agency_id": "6602000"},
    ]
    text = (
        "Immediate risk (movement.missing_from_care; reported by police sw). "
        "School 6602000 is near a port of entry."
    )
    assert plain(
        text, evidence, NAMES, {"movement.missing_from_care": "Goes missing from care."}
    ) == (
        "Immediate risk (“Goes missing from care”; reported by South Wales Police). "
        "Ysgol Gymraeg Bro Morgannwg is near a port of entry."
    )


def test_a_row_says_which_alert_its_link_opens() -> None:
    row = {
        "kind": "combined_concern",
        "level": "critical",
        "local_authority": "W06000011",
        "local_authorities": ["W06000015"],
        "first_evidence_at": "2026-10-05T08:45:00+00:00",
        "last_evidence_at": "2026-10-07T00:00:00+00:00",
        "status": "reopened",
    }
    assert row_view(row) == {
        "kind": "Combined concern",
        "area": "Swansea",
        "also": ["Cardiff"],
        "first": "5 Oct 2026",
        "last": "7 Oct 2026",
        "level": "critical",
        "status": "escalated after closure",
        "episode": "open",
        "link": "Critical combined concern, Swansea",
    }
