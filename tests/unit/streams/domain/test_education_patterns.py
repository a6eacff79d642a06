"""Each registration pattern on both sides of its line: the findings that hold on a given day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.unit.streams.domain.test_education import (
    LATER,
    MON,
    PORT_SCHOOL,
    found,
    history,
    reg,
    school_day,
)

CASES = {
    "a stay of 55 school days, then gone: the guide's pattern, once": (
        [reg("r", "registered", MON), reg("d", "deregistered", school_day(55))],
        LATER,
        [("education.short_stay", "low"), ("education.no_destination", "medium")],
    ),
    "a stay of 54 school days is shorter than a term": (
        [reg("r", "registered", MON), reg("d", "deregistered", school_day(54))],
        LATER,
        [("education.no_destination", "medium")],
    ),
    "registered for a term or longer, then removed, again": (
        [
            reg("r1", "registered", MON, school="1"),
            reg("d1", "deregistered", school_day(60), school="1"),
            reg("r2", "registered", school_day(65), school="2"),
            reg("d2", "deregistered", school_day(125), school="2"),
        ],
        school_day(126),
        [("education.short_stay", "medium")],  # at once: on the roll in between or not
    ),
    "the same, but the first stay was shorter than a term": (
        [
            reg("r1", "registered", MON, school="1"),
            reg("d1", "deregistered", school_day(50), school="1"),
            reg("r2", "registered", school_day(55), school="2"),
            reg("d2", "deregistered", school_day(115), school="2"),
        ],
        school_day(116),
        [],
    ),
    "a term or longer, but registered elsewhere within the deadline: no pattern": (
        [
            reg("r", "registered", MON),
            reg("d", "deregistered", school_day(60)),
            reg("n", "registered", school_day(62), school="6819999"),
        ],
        LATER,
        [],
    ),
    "a term or longer is judged at the deadline, not on the day of leaving": (
        [reg("r", "registered", MON), reg("d", "deregistered", school_day(60))],
        school_day(65),
        [],
    ),
    "arriving at the named destination is neither short stay nor missing": (
        [
            reg("r", "registered", MON),
            reg("d", "deregistered", school_day(5), destination_school_id="6812999"),
            reg("n", "registered", school_day(7), school="6812999"),
        ],
        LATER,
        [],
    ),
    "not arriving at the named destination is lost in transfer": (
        [
            reg("r", "registered", MON),
            reg("d", "deregistered", school_day(5), destination_school_id="6812999"),
        ],
        LATER,
        [("education.lost_in_transfer", "medium")],
    ),
    "not yet lost in transfer on the 10th school day": (
        [reg("d", "deregistered", MON, destination_school_id="6812999")],
        school_day(10),
        [],
    ),
    "a child who died is not missing": (
        [reg("d", "deregistered", MON, deletion_ground="j_died")],
        LATER,
        [],
    ),
    "a Year 11 leaver is not missing": (
        [reg("d", "deregistered", MON, deletion_ground="k_left_compulsory_age")],
        LATER,
        [],
    ),
    "home education the authority was told of is not missing": (
        [
            reg("r", "registered", MON),
            reg("d", "deregistered", school_day(20), deletion_ground="d_educated_otherwise"),
        ],
        LATER,
        [],
    ),
    "deleted after continuous absence, whereabouts unknown, is missing": (
        [reg("d", "deregistered", MON, deletion_ground="h_continuous_absence")],
        LATER,
        [("education.no_destination", "medium")],
    ),
    "registering again at the same school the next day cancels it": (
        [reg("d", "deregistered", MON), reg("n", "registered", MON + dt.timedelta(days=1))],
        LATER,
        [],
    ),
    "not yet missing on the 10th school day": (
        [reg("d", "deregistered", MON)],
        school_day(10),
        [],
    ),
    "missing the day after the 10th school day": (
        [reg("d", "deregistered", MON)],
        school_day(10) + dt.timedelta(days=1),
        [("education.no_destination", "medium")],
    ),
    "a registration on the 10th school day cancels it": (
        [reg("d", "deregistered", MON), reg("n", "registered", school_day(10), school="6819999")],
        LATER,
        [],
    ),
    "a registration on the 11th school day comes too late": (
        [reg("d", "deregistered", MON), reg("n", "registered", school_day(11), school="6819999")],
        LATER,
        [("education.no_destination", "medium")],
    ),
    "three schools in a year": (
        [
            reg("a", "registered", MON, school="1"),
            reg("b", "registered", MON + dt.timedelta(100), school="2"),
            reg("c", "registered", MON + dt.timedelta(365), school="3"),
        ],
        LATER,
        [("education.repeated_registration", "medium")],
    ),
    "three schools, but the first outside the year": (
        [
            reg("a", "registered", MON, school="1"),
            reg("b", "registered", MON + dt.timedelta(100), school="2"),
            reg("c", "registered", MON + dt.timedelta(366), school="3"),
        ],
        LATER,
        [],
    ),
    "one move between two local authorities is not a pattern": (
        [
            reg("a", "registered", MON, school="1"),
            reg("b", "registered", MON + dt.timedelta(30), school="2", la="W06000011"),
        ],
        LATER,
        [],
    ),
    "two moves, three local authorities in a year": (
        [
            reg("a", "registered", MON, school="1"),
            reg("b", "registered", MON + dt.timedelta(30), school="2", la="W06000011"),
            reg("c", "registered", MON + dt.timedelta(90), school="2", la="W06000012"),
        ],
        LATER,
        [("education.repeated_registration", "low")],
    ),
    "9 days' absence is not returned": (
        [reg("x", "continuous_absence", MON, absence_school_days=9)],
        LATER,
        [],
    ),
    "10 days' absence": (
        [reg("x", "continuous_absence", MON, absence_school_days=10)],
        LATER,
        [("education.continuous_absence", "low")],
    ),
    "19 days' absence": (
        [reg("x", "continuous_absence", MON, absence_school_days=19)],
        LATER,
        [("education.continuous_absence", "low")],
    ),
    "20 days' absence raises the level": (
        [reg("x", "continuous_absence", MON, absence_school_days=20)],
        LATER,
        [("education.continuous_absence", "medium")],
    ),
    "an absence the pupil came back from is over": (
        [
            reg("x", "continuous_absence", MON, absence_school_days=12),
            reg(
                "y",
                "continuous_absence",
                MON + dt.timedelta(days=1),
                absence_school_days=13,
                returned_on=MON + dt.timedelta(days=2),
            ),
        ],
        LATER,
        [],
    ),
    "a new absence after a return is a finding again": (
        [
            reg("y", "continuous_absence", MON, absence_school_days=13, returned_on=MON),
            reg("z", "continuous_absence", MON + dt.timedelta(days=30), absence_school_days=10),
        ],
        LATER,
        [("education.continuous_absence", "low")],
    ),
    "a school near a port raises the level one step": (
        [reg("x", "continuous_absence", MON, school=PORT_SCHOOL, absence_school_days=10)],
        LATER,
        [("education.continuous_absence", "medium")],
    ),
    "a school near a port never makes an education finding high": (
        [reg("x", "continuous_absence", MON, school=PORT_SCHOOL, absence_school_days=22)],
        LATER,
        [("education.continuous_absence", "medium")],
    ),
}


@pytest.mark.parametrize(("records", "today", "expected"), CASES.values(), ids=CASES.keys())
def test_pattern_cases(
    records: list[dict[str, Any]], today: dt.date, expected: list[tuple[str, str]]
) -> None:
    assert found(history(*records), today) == expected
