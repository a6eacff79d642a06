"""Missing-from-education through the real broker: reference data, patterns, timers, restarts."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

from .helpers import TopicReader, background, consumed_all, publish, safeguard, wait_for
from .records import ALERTS, child, observation

REGISTRATIONS = EventCodec("school_registration")
OBSERVATIONS = EventCodec("observation")
MON = dt.date(2026, 9, 7)


def registration(
    n: int, event_id: str, kind: str, day: dt.date, school: str, **extra: Any
) -> tuple[bytes, bytes]:
    record = {
        "event_id": event_id,
        "child_ref": child(n),
        "school_id": school,
        "local_authority": "W06000001",
        "kind": kind,
        "effective_date": day,
        "reported_at": dt.datetime.combine(day, dt.time(16), tzinfo=dt.UTC),
        "deletion_ground": None,
        "destination_school_id": None,
        "absence_school_days": None,
        "family_group_ref": None,
        "family_travelling": False,
        **extra,
    }
    return child(n).encode(), REGISTRATIONS.encode(record)


def import_schools(env: dict[str, str], tmp_path: Path) -> str:
    csv = tmp_path / "schools.csv"
    csv.write_text(
        "school_id,name,local_authority,near_port_of_entry\n"
        "6614001,Ysgol Uwchradd Caergybi,W06000001,yes\n"
        "6614002,Ysgol Llanfawr,W06000001,no\n"
        "6614003,,W06000001,no\n"
    )
    result = subprocess.run(
        safeguard("import", "schools", str(csv)),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "schools.csv:4: rejected: name: is empty" in result.stderr
    return result.stdout


def test_a_term_then_gone_at_a_port_school_alerts_and_adds_to_the_combined_concern(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    out = import_schools(worker_env, tmp_path)
    assert f"published 2 schools to {worker_env['SAFEGUARD_TOPIC_SCHOOLS']}; rejected 1" in out
    # A term and more on the roll, gone on 16 December, on no roll by the deadline in January.
    env = {**worker_env, "SAFEGUARD_CLOCK": "2027-02-01T12:00:00+00:00"}
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    concern = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    log = tmp_path / "worker.log"
    with background(safeguard("worker"), env, log):
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"],
            [
                registration(7, "r7", "registered", MON, "6614001"),
                registration(7, "d7", "deregistered", MON + dt.timedelta(days=100), "6614001"),
            ],
        )
        wait_for(education.poll, 90, "the education alert", log)
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                # Seen the day before the worker's clock (an event is never dated after now).
                observation(7, "h7", "health.controlling_companion", "health:hb-betsi", -5),
            ],
        )
        wait_for(concern.poll, 60, "the combined concern", log)

    (alert,) = [ALERTS.decode(r.value) for r in education.records]
    assert (alert["kind"], alert["rule_id"], alert["level"], alert["version"]) == (
        "missing_from_education",
        "education.short_stay",
        "medium",  # the port raises a finding one step, but never to high (possible trafficking)
        1,
    )
    assert [e["event_id"] for e in alert["evidence"]] == ["r7", "d7"]
    assert "near a port of entry" in alert["reasons"][0]
    (combined,) = [ALERTS.decode(r.value) for r in concern.records]
    assert (combined["rule_id"], combined["level"]) == ("concern.possible_trafficking", "high")
    assert [(e["event_id"], e["agency_type"]) for e in combined["evidence"]] == [
        ("h7", "health"),
        ("edu-education.no_destination-d7", "school"),
        ("edu-education.short_stay-d7", "school"),
    ]
    education.close()
    concern.close()


def test_a_pending_deadline_survives_a_restart_and_fires_exactly_once(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    before = {**worker_env, "SAFEGUARD_CLOCK": "2026-09-08T12:00:00+00:00"}
    log = tmp_path / "worker.log"
    departure = [registration(8, "d8", "deregistered", MON, "6614002")]
    with background(safeguard("worker"), before, log):
        publish(kafka, worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"], departure)
        topic = worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"]
        group = worker_env["SAFEGUARD_APP_ID"]
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the departure", log)
    assert education.poll() == []

    after = {**worker_env, "SAFEGUARD_CLOCK": "2026-09-30T12:00:00+00:00"}
    log2 = tmp_path / "worker2.log"
    with background(safeguard("worker"), after, log2):
        wait_for(education.poll, 90, "the deadline to fire", log2)
        time.sleep(5)  # five more sweeps: a deadline that has fired must not fire again
        education.poll()

    (alert,) = [ALERTS.decode(r.value) for r in education.records]
    assert (alert["rule_id"], alert["level"], alert["version"]) == (
        "education.no_destination",
        "medium",
        1,
    )
    assert alert["reasons"] == [
        "Left school 6614002 on 2026-09-07 with no known destination and was registered nowhere "
        "within 10 school days (by 2026-09-21)."
    ]
    education.close()


def test_siblings_of_a_travelling_family_get_a_family_move_alert_and_no_concern(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    family = "f" * 64
    env = {**worker_env, "SAFEGUARD_CLOCK": "2026-09-10T12:00:00+00:00"}
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    observations = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    log = tmp_path / "worker.log"
    departures = [
        registration(
            n,
            f"d{n}",
            "deregistered",
            MON + dt.timedelta(days=n - 20),
            "6614002",
            family_group_ref=family,
            family_travelling=True,
        )
        for n in (20, 21)
    ]
    with background(safeguard("worker"), env, log):
        publish(kafka, worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"], departures)
        wait_for(lambda: len(education.poll()) >= 2, 90, "both family-move alerts", log)

    alerts = sorted(
        (ALERTS.decode(r.value) for r in education.records), key=lambda a: a["child_ref"]
    )
    assert {a["child_ref"] for a in alerts} == {child(20), child(21)}
    for alert in alerts:
        assert (alert["rule_id"], alert["level"], alert["family_move"]) == (
            "education.family_move",
            "low",
            True,
        )
        assert alert["actions"] == ["missing_education_enquiries"]
    assert observations.poll() == []  # a family move never enters the concern evidence
    education.close()
    observations.close()
