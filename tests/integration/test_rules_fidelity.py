"""The registration rules as a practitioner reads the guide, and time checked, through the real
broker: deletion grounds, a child lost in transfer, and a mistyped date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

from .helpers import TopicReader, background, consumed_all, publish, safeguard, wait_for
from .records import T0, alerts_by_child, child, observation
from .test_education import registration

LEFT = dt.date(2026, 9, 14)


def test_deletion_grounds_and_a_child_lost_in_transfer(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    # Weeks after every deadline: what is missing by now has been noticed.
    env = {**worker_env, "SAFEGUARD_CLOCK": "2026-11-02T12:00:00+00:00"}
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    log = tmp_path / "worker.log"
    with background(safeguard("worker", "-l", "info"), env, log):
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"],
            [
                registration(701, "a", "deregistered", LEFT, "6614002", deletion_ground="j_died"),
                registration(
                    702,
                    "b",
                    "deregistered",
                    LEFT,
                    "6614002",
                    deletion_ground="k_left_compulsory_age",
                ),
                registration(
                    703, "c", "deregistered", LEFT, "6614002", destination_school_id="6614009"
                ),
                registration(
                    704,
                    "d",
                    "deregistered",
                    LEFT,
                    "6614002",
                    deletion_ground="h_continuous_absence",
                ),
                registration(705, "e", "deregistered", LEFT, "6614002"),
                registration(705, "f", "registered", LEFT + dt.timedelta(days=1), "6614002"),
            ],
        )
        wait_for(lambda: len(alerts_by_child(education)) >= 3, 120, "the education alerts", log)
        # The first two children (died; left compulsory school age) raise nothing.
        wait_for(
            lambda: consumed_all(
                kafka,
                worker_env["SAFEGUARD_APP_ID"],
                worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"],
            ),
            60,
            "every registration handled",
            log,
        )
    found = {
        ref: [(a["rule_id"], a["level"], a["status"]) for a in alerts]
        for ref, alerts in alerts_by_child(education).items()
    }
    # Read weeks late, the fifth child's departure alerts at once; its return to the same
    # school the next day, read after it, withdraws the alert.
    assert found == {
        child(703): [("education.lost_in_transfer", "medium", "open")],
        child(704): [("education.no_destination", "medium", "open")],
        child(705): [
            ("education.no_destination", "medium", "open"),
            ("education.no_destination", "medium", "withdrawn"),
        ],
    }
    education.close()


def test_a_mistyped_future_date_is_dead_lettered_and_a_later_genuine_report_still_counts(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**worker_env, "SAFEGUARD_CLOCK": (T0 + dt.timedelta(days=5)).isoformat()}
    mistyped = T0.replace(year=2062)
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    log = tmp_path / "worker.log"
    with background(safeguard("worker", "-l", "info"), env, log):
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                observation(801, "h1", "health.controlling_companion", "health:hb1", 0),
                observation(
                    801,
                    "s1",
                    "say_behave.mood_swings",
                    "school:6812345",
                    0,
                    observed_at=mistyped,
                    reported_at=mistyped,
                ),
                observation(801, "p1", "control.seen_in_inappropriate_places", "police:sw", 4),
            ],
        )
        wait_for(alerts.poll, 120, "the alert", log)
        wait_for(dead.poll, 30, "the dead letter", log)
    (letter,) = [EventCodec("dead_letter").decode(r.value) for r in dead.records]
    assert (letter["error_kind"], letter["consumer"]) == (
        "FutureEventError",
        "worker.aggregate_observations",
    )
    (alert,) = alerts_by_child(alerts)[child(801)]
    # The child's clock did not jump to 2062: the police report a day ago is immediate risk.
    assert (alert["version"], alert["level"]) == (1, "critical")
    assert [e["event_id"] for e in alert["evidence"]] == ["h1", "p1"]
    alerts.close()
    dead.close()


def test_counting_age_and_a_return_to_school_read_as_a_practitioner_would(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**worker_env, "SAFEGUARD_CLOCK": (T0 + dt.timedelta(days=5)).isoformat()}
    concern = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    adult = dt.date(2000, 1, 1)
    log = tmp_path / "worker.log"
    with background(safeguard("worker", "-l", "info"), env, log):
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                # One clinician records one fact under two near-identical codes: one piece.
                observation(811, "a", "control.adult_speaks_for_child", "health:hb1", 0),
                observation(811, "b", "health.controlling_companion", "health:hb1", 1),
                # An age dispute sticks when a later report claims an adult date of birth.
                observation(812, "c", "docs.age_uncertain_or_disputed", "border_force:bf", 0),
                observation(
                    812,
                    "d",
                    "control.seen_in_inappropriate_places",
                    "police:sw",
                    2,
                    date_of_birth=adult,
                ),
                # Assessed as an adult by social care: later reports are not aggregated.
                observation(
                    813, "e", "docs.age_assessed", "social_care:sc1", 0, date_of_birth=adult
                ),
                observation(813, "f", "control.seen_in_inappropriate_places", "police:sw", 2),
                # A school's own observation, and below its finding: one agency's pieces.
                observation(
                    815, "i", "movement.collected_by_new_adults_from_school", "school:6614002", 1
                ),
            ],
        )
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"],
            [
                registration(
                    814,
                    "g",
                    "continuous_absence",
                    dt.date(2026, 9, 28),
                    "6614002",
                    absence_school_days=12,
                ),
                registration(
                    814,
                    "h",
                    "continuous_absence",
                    dt.date(2026, 9, 30),
                    "6614002",
                    absence_school_days=14,
                    returned_on=dt.date(2026, 10, 1),
                ),
                registration(
                    815,
                    "j",
                    "continuous_absence",
                    dt.date(2026, 10, 2),
                    "6614002",
                    absence_school_days=10,
                ),
            ],
        )
        wait_for(lambda: child(812) in alerts_by_child(concern), 120, "the concern alert", log)
        wait_for(
            lambda: (
                len(alerts_by_child(education).get(child(814), [])) >= 2
                and child(815) in alerts_by_child(education)
            ),
            60,
            "the education alerts",
            log,
        )
        wait_for(
            lambda: consumed_all(
                kafka,
                worker_env["SAFEGUARD_APP_ID"],
                worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            ),
            60,
            "every observation handled",
            log,
        )
    raised = alerts_by_child(concern)
    # 811: one piece; 813: an adult; 815: the school's observation and its finding, one agency.
    assert set(raised) == {child(812)}
    (disputed,) = raised[child(812)]
    assert (disputed["level"], [e["event_id"] for e in disputed["evidence"]]) == (
        "critical",
        ["c", "d"],
    )
    absent = alerts_by_child(education)[child(814)]
    assert [(a["version"], a["level"], a["status"]) for a in absent] == [
        (1, "low", "open"),
        (2, "low", "ended"),
    ]
    assert absent[1]["status_reason"] == (
        "Ended: school 6614002 reported the child back at school on 2026-10-01 after 14 school "
        "days' absence."
    )
    concern.close()
    education.close()
