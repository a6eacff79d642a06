"""The combined-concern rules as tables of cases, each rule with cases on both sides of its line."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.catalogue import default_catalogue
from streams.domain.concern_rules import assess, is_adult
from streams.domain.config import default_thresholds
from streams.domain.evidence import MS_PER_DAY, Evidence, to_millis
from tests.unit.streams.conftest import T0

CONFIG = default_thresholds()


def ev(
    indicator: str, agency: str = "school:s1", day: int = 0, *, flagged: bool = False
) -> Evidence:
    agency_type, agency_id = agency.split(":")
    return Evidence(
        event_id=f"{indicator}@{agency}@{day}",
        agency_type=agency_type,
        agency_id=agency_id,
        indicator=indicator,
        group=default_catalogue()[indicator].group,
        observed_at=to_millis(T0) + day * MS_PER_DAY,
        immediate_risk=flagged,
        local_authority="W06000015",
    )


NONE = (None, None, ())
COMBINED = ("concern.combined", "medium", ("report_child_at_risk", "share_with_agencies"))
TRAFFICKING = (
    "concern.possible_trafficking",
    "high",
    ("report_child_at_risk", "share_with_agencies", "nrm_referral", "icta_referral"),
)
TRAFFICKING_NOTIFY = (
    TRAFFICKING[0],
    TRAFFICKING[1],
    (*TRAFFICKING[2], "home_office_duty_to_notify"),
)
IMMEDIATE = (
    "concern.immediate_risk",
    "critical",
    ("call_police_999", "report_child_at_risk", "share_with_agencies"),
)

CASES = {
    "a single ordinary indicator raises nothing": ([ev("say_behave.no_peer_friends")], NONE),
    "two indicators, one agency, one group": (
        [ev("say_behave.no_peer_friends"), ev("say_behave.mood_swings", day=1)],
        NONE,
    ),
    "two agencies, one group": (
        [ev("say_behave.no_peer_friends"), ev("say_behave.mood_swings", "health:hb1")],
        COMBINED,
    ),
    "one agency, two groups": (
        [ev("say_behave.no_peer_friends"), ev("physical.unkempt_same_clothes")],
        COMBINED,
    ),
    "one clinician, one fact under two near-identical codes, counts once": (
        [
            ev("control.adult_speaks_for_child", "health:hb1"),
            ev("health.controlling_companion", "health:hb1", day=1),
        ],
        NONE,
    ),
    "the same fact seen by two agencies is two pieces": (
        [
            ev("control.adult_speaks_for_child", "police:p1"),
            ev("health.controlling_companion", "health:hb1", day=1),
        ],
        COMBINED,
    ),
    "one agency, a fact and a different fact in another group still counts twice": (
        [
            ev("health.controlling_companion", "health:hb1"),
            ev("physical.unkempt_same_clothes", "health:hb1", day=1),
        ],
        COMBINED,
    ),
    "young carers' chores are a concern, not exploitation": (
        [
            ev("control.excessive_household_chores"),
            ev("movement.missing_episodes", "police:p1", day=1),
        ],
        COMBINED,
    ),
    "being driven about by others is an action as well as control": (
        [
            ev("control.transported_by_others", "police:p1"),
            ev("control.long_working_hours", "health:hb1", day=1),
        ],
        TRAFFICKING_NOTIFY,
    ),
    "a school's own observation and the finding on its roll are one agency's pieces": (
        [
            ev("movement.collected_by_new_adults_from_school", "school:6812345"),
            ev("movement.unknown_destination_on_leaving", "school:6812345", day=3),
        ],
        NONE,
    ),
    "unaccompanied alone raises nothing": (
        [ev("movement.unaccompanied_travel", "border_force:bf")],
        NONE,
    ),
    "context is never the second agency": (
        [
            ev("risk.unaccompanied_asylum_seeking", "social_care:sc1"),
            ev("say_behave.no_peer_friends"),
        ],
        NONE,
    ),
    "context is never the second group": (
        [ev("movement.travels_with_unrelated_adults"), ev("say_behave.no_peer_friends")],
        NONE,
    ),
    "action without exploitation is only a combined concern": (
        [ev("movement.frequent_address_changes", "police:p1"), ev("movement.missing_episodes")],
        COMBINED,
    ),
    "action and exploitation: possible trafficking": (
        [
            ev("movement.short_school_registration_then_removed"),
            ev("health.controlling_companion", "health:hb1"),
        ],
        TRAFFICKING,
    ),
    "a police report adds the duty to notify": (
        [ev("movement.lingers_at_transport_hub", "police:p1"), ev("control.long_working_hours")],
        TRAFFICKING_NOTIFY,
    ),
    "an urgent catalogue indicator alone is immediate risk": (
        [ev("control.seen_in_inappropriate_places", "police:p1")],
        (IMMEDIATE[0], IMMEDIATE[1], IMMEDIATE[2]),
    ),
    "an ordinary indicator flagged immediate by the observer": (
        [ev("say_behave.fears_harm_to_family", "voluntary:v1", flagged=True)],
        IMMEDIATE,
    ),
    "immediate risk keeps the trafficking actions": (
        [
            ev("movement.missing_from_care", "social_care:sc1"),
            ev("control.threats_or_violence", "police:p1"),
        ],
        (
            IMMEDIATE[0],
            "critical",
            (
                "call_police_999",
                "report_child_at_risk",
                "share_with_agencies",
                "nrm_referral",
                "icta_referral",
                "home_office_duty_to_notify",
            ),
        ),
    ),
}


@pytest.mark.parametrize(("evidence", "expected"), CASES.values(), ids=CASES.keys())
def test_rule_cases(
    evidence: list[Evidence], expected: tuple[str | None, str | None, tuple[str, ...]]
) -> None:
    decision = assess(evidence, default_catalogue(), CONFIG)
    if expected[0] is None:
        assert decision is None
        return
    assert decision is not None
    assert (decision.rule.id, decision.level, decision.actions) == expected


def test_combined_reason_names_agencies_groups_and_the_part_7_duty() -> None:
    decision = assess(
        [
            ev("say_behave.no_peer_friends"),
            ev("physical.unkempt_same_clothes", "health:hb1"),
            ev("movement.unaccompanied_travel", "border_force:bf"),
        ],
        default_catalogue(),
        CONFIG,
    )
    assert decision is not None
    assert decision.reasons == (
        "2 agencies (health hb1, school s1) saw indicators in 2 groups (physical, say_behave) "
        "within 365 days. Each may hold only one piece: report the child at risk to the local "
        "authority's social services (Part 7, Social Services and Well-being (Wales) Act 2014) "
        "and share with every agency involved.",
        "Not counted on their own: movement.unaccompanied_travel. A child travelling "
        "unaccompanied or with an adult who is not their parent must not be assumed a victim "
        "on that factor alone.",
    )


TWO_AGENCIES = [ev("say_behave.no_peer_friends"), ev("say_behave.mood_swings", "health:hb1")]


@pytest.mark.parametrize(
    ("date_of_birth", "disputed", "planned"),
    [
        (dt.date(2008, 8, 31), False, True),  # turns 18 in 182 days
        (dt.date(2008, 9, 2), False, False),  # 184 days: outside the window
        (dt.date(2008, 8, 31), True, False),  # disputed age: no transition planning by date
        (None, False, False),
    ],
)
def test_transition_at_18_is_planned_within_six_months(
    date_of_birth: dt.date | None, disputed: bool, planned: bool
) -> None:
    decision = assess(
        TWO_AGENCIES,
        default_catalogue(),
        CONFIG,
        date_of_birth=date_of_birth,
        age_disputed=disputed,
    )
    assert decision is not None
    assert ("plan_transition_at_18" in decision.actions) is planned


@pytest.mark.parametrize(
    ("date_of_birth", "on", "disputed", "adult"),
    [
        (dt.date(2008, 3, 2), dt.date(2026, 3, 2), False, True),  # the 18th birthday
        (dt.date(2008, 3, 3), dt.date(2026, 3, 2), False, False),  # the day before it
        (dt.date(2000, 1, 1), dt.date(2026, 3, 2), True, False),  # disputed: treated as a child
        (None, dt.date(2026, 3, 2), False, False),  # unknown: treated as a child
        (dt.date(2008, 2, 29), dt.date(2026, 2, 28), False, False),  # leapling: 1 March
        (dt.date(2008, 2, 29), dt.date(2026, 3, 1), False, True),
    ],
)
def test_is_adult(date_of_birth: dt.date | None, on: dt.date, disputed: bool, adult: bool) -> None:
    assert is_adult(date_of_birth, on, age_disputed=disputed) is adult
