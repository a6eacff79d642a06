"""The stream worker against the real broker: exact alerts, idempotence, dead letters, SIGKILL."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from schemas.codec import EventCodec

from .helpers import Supervised, TopicReader, background, publish, safeguard, wait_for

OBSERVATIONS = EventCodec("observation")
ALERTS = EventCodec("alert")
DEAD_LETTERS = EventCodec("dead_letter")
T0 = dt.datetime(2026, 10, 5, 8, 45, tzinfo=dt.UTC)


def child(n: int) -> str:
    return hashlib.sha256(f"test-child-{n}".encode()).hexdigest()


def observation(
    n: int, event_id: str, indicator: str, agency: str, day: int, **extra: Any
) -> tuple[bytes, bytes]:
    agency_type, agency_id = agency.split(":")
    when = T0 + dt.timedelta(days=day)
    record = {
        "event_id": event_id,
        "child_ref": child(n),
        "indicator": indicator,
        "agency": {"id": agency_id, "type": agency_type},
        "observed_at": when,
        "reported_at": when + dt.timedelta(hours=1),
        "local_authority": "W06000011",
        "date_of_birth": None,
        "age_disputed": False,
        "immediate_risk": False,
        "source_ref": None,
        **extra,
    }
    return child(n).encode(), OBSERVATIONS.encode(record)


def story(n: int) -> list[tuple[bytes, bytes]]:
    """A school sees a short stay, health an adult who speaks for the child, police long hours."""
    return [
        observation(
            n,
            f"c{n}-school",
            "movement.short_school_registration_then_removed",
            "school:6812345",
            0,
        ),
        observation(n, f"c{n}-health", "health.controlling_companion", "health:hb-swansea-bay", 9),
        observation(n, f"c{n}-police", "control.long_working_hours", "police:south-wales", 20),
    ]


@pytest.fixture
def worker_env(
    kafka_servers: str, unique_name: Callable[[str], str], tmp_path: Path, admin: KafkaAdminClient
) -> Iterator[dict[str, str]]:
    prefix = unique_name("worker")
    env = {
        "SAFEGUARD_KAFKA_BOOTSTRAP": kafka_servers,
        "SAFEGUARD_APP_ID": prefix,
        "SAFEGUARD_DATA_DIR": str(tmp_path / "data"),
        "SAFEGUARD_TOPIC_PARTITIONS": "4",
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
        "SAFEGUARD_TOPIC_OBSERVATIONS": f"{prefix}.observations",
        "SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS": f"{prefix}.school-registrations",
        "SAFEGUARD_TOPIC_SCHOOLS": f"{prefix}.schools",
        "SAFEGUARD_TOPIC_ALERTS_CONCERN": f"{prefix}.alerts.concern",
        "SAFEGUARD_TOPIC_ALERTS_EDUCATION": f"{prefix}.alerts.education",
        "SAFEGUARD_TOPIC_DEADLETTER": f"{prefix}.deadletter",
        "SAFEGUARD_TOPIC_ALERT_ACTIONS": f"{prefix}.alert-actions",
        "SAFEGUARD_TOPIC_EDUCATION_SIGNALS": f"{prefix}.education-signals",
        "SAFEGUARD_TOPIC_FAMILY_DEPARTURES": f"{prefix}.family-departures",
        "SAFEGUARD_EDUCATION_SWEEP_SECONDS": "1",
    }
    subprocess.run(
        safeguard("topics", "create"), env={**os.environ, **env}, check=True, capture_output=True
    )
    yield env
    admin.delete_topics(
        [
            v
            for k, v in env.items()
            if k.startswith("SAFEGUARD_TOPIC_") and k != "SAFEGUARD_TOPIC_PARTITIONS"
        ]
    )


def alerts_by_child(reader: TopicReader) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in reader.poll():
        alert = ALERTS.decode(record.value)
        assert record.key == alert["child_ref"].encode()
        found.setdefault(alert["child_ref"], []).append(alert)
    return found


def test_three_agencies_raise_one_explained_alert_and_a_replay_adds_no_version(
    kafka_servers: str, worker_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka_servers, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    with background(safeguard("worker"), worker_env, log):
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], story(1))
        wait_for(lambda: len(alerts.poll()) >= 2, 90, "two alert versions", log)
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], story(1))  # again
        wait_for(lambda: len(alerts.poll()) >= 4, 60, "the replay to be handled", log)

    (versions,) = alerts_by_child(alerts).values()
    first, second, *resent = versions
    assert first["alert_id"] == second["alert_id"]
    assert [(a["version"], a["level"], a["rule_id"]) for a in (first, second)] == [
        (1, "high", "concern.possible_trafficking"),
        (2, "high", "concern.possible_trafficking"),
    ]
    assert [e["event_id"] for e in second["evidence"]] == ["c1-school", "c1-health", "c1-police"]
    assert second["actions"] == [
        "report_child_at_risk",
        "share_with_agencies",
        "nrm_referral",
        "icta_referral",
        "home_office_duty_to_notify",
    ]
    assert second["raised_at"] == T0 + dt.timedelta(days=20)
    # The replay resends the current version, byte for byte, and never makes a version 3.
    assert resent and all(ALERTS.encode(a) == ALERTS.encode(second) for a in resent)
    alerts.close()


def test_bad_records_go_to_the_dead_letter_topic_whole_and_the_worker_carries_on(
    kafka_servers: str, worker_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka_servers, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    dead = TopicReader(kafka_servers, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    unknown = observation(2, "c2-x", "say_behave.no_peer_friends", "school:s", 0)[1].replace(
        b"say_behave.no_peer_friends", b"say_behave.no_peer_friendz"
    )
    bad = [(child(2).encode(), b"\x00garbage"), (child(2).encode(), unknown)]
    with background(safeguard("worker"), worker_env, log):
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], bad + story(2)[:2])
        wait_for(
            lambda: len(dead.poll()) >= 2 and alerts.poll(), 90, "dead letters and an alert", log
        )

    letters = sorted(
        (DEAD_LETTERS.decode(r.value) for r in dead.records), key=lambda d: d["offset"]
    )
    assert [(d["payload"], d["error_kind"]) for d in letters] == [
        (b"\x00garbage", "NotSingleObjectError"),
        (unknown, "UnknownIndicatorError"),
    ]
    assert letters[1]["error_message"] == (
        "indicator: 'say_behave.no_peer_friendz' is not a code in the indicator catalogue"
    )
    assert {d["source_topic"] for d in letters} == {worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"]}
    (versions,) = alerts_by_child(alerts).values()
    assert [(a["version"], a["level"]) for a in versions] == [(1, "high")]
    alerts.close()
    dead.close()


def test_sigkill_mid_stream_loses_no_alert_and_duplicates_no_version(
    kafka_servers: str, worker_env: dict[str, str], tmp_path: Path
) -> None:
    children = range(100, 400)
    records = [r for n in children for r in story(n)]
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka_servers, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    with background(safeguard("worker"), worker_env, log) as first:
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], records[:300])
        wait_for(lambda: len(alerts.poll()) >= 50, 90, "the first alerts", log)
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], records[300:])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    # A worker that stops itself for a fault (exit 70) is started again, as compose does.
    env = {**worker_env, "SAFEGUARD_WORKER_STALL_SECONDS": "15"}
    with Supervised(safeguard("worker"), env, tmp_path / "worker2.log") as second:

        def complete() -> bool:
            final = alerts_by_child(alerts)
            return second.alive() and (
                len(final) == len(children)
                and all(max(a["version"] for a in versions) == 2 for versions in final.values())
            )

        wait_for(
            complete,
            150,
            "every child's second version after the restart",
            tmp_path / "worker2.log",
        )

    copies: dict[tuple[str, int], set[bytes]] = {}
    for record in alerts.records:
        alert = ALERTS.decode(record.value)
        copies.setdefault((alert["alert_id"], alert["version"]), set()).add(record.value)
    assert len(copies) == 2 * len(children)
    assert all(len(variants) == 1 for variants in copies.values()), (
        "a version was sent with two contents"
    )
    alerts.close()


def test_oversized_extreme_and_null_records_are_dead_lettered_and_the_worker_goes_on(
    kafka_servers: str, worker_env: dict[str, str], tmp_path: Path
) -> None:
    key = child(3).encode()
    noise = random.Random(3).randbytes(1_000_000)
    bad = [
        observation(
            3, "c3-big", "control.long_working_hours", "police:p", 1, source_ref="x" * 900_000
        ),
        (key, noise),
        observation(
            3,
            "c3-dob",
            "control.long_working_hours",
            "police:p",
            1,
            date_of_birth=dt.date(9990, 1, 1),
        ),
        (key, OBSERVATIONS.encode(_before_1970(3))),
        (key, None),
    ]
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka_servers, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    dead = TopicReader(kafka_servers, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    with background(safeguard("worker"), worker_env, log) as worker:
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], [*bad, *story(3)])
        wait_for(
            lambda: len(dead.poll()) >= 5 and len(alerts.poll()) >= 2, 90, "letters, alerts", log
        )
        assert worker.poll() is None
    letters = sorted(
        (DEAD_LETTERS.decode(r.value) for r in dead.records), key=lambda d: d["offset"]
    )
    assert [(d["error_kind"], d["error_message"]) for d in letters] == [
        ("InvalidRecordError", "source_ref: 900000 characters, at most 256 allowed"),
        (
            "NotSingleObjectError",
            "not Avro single-object encoded: expected C3 01 and an 8-byte fingerprint, got "
            f"1000000 bytes starting {noise[:10].hex(' ')}",
        ),
        ("InvalidRecordError", "date_of_birth: 9990-01-01 is before 1900 or after observed_at"),
        ("InvalidRecordError", "observed_at: 1969-07-20T20:17:00+00:00 is outside 1990-2199"),
        ("InvalidRecordError", "value: null (no record at all)"),
    ]
    # Whole up to 900,000 bytes, so a dead letter always fits the broker's 1 MB; cut beyond.
    assert [(len(d["payload"]), d["payload_size"], d["value_null"]) for d in letters] == [
        (900_000, len(bad[0][1]), False),
        (900_000, 1_000_000, False),
        (len(bad[2][1]), len(bad[2][1]), False),
        (len(bad[3][1]), len(bad[3][1]), False),
        (0, 0, True),
    ]
    (versions,) = alerts_by_child(alerts).values()
    assert [(a["version"], a["level"]) for a in versions] == [(1, "high"), (2, "high")]
    assert "Traceback" not in log.read_text(errors="replace")
    alerts.close()
    dead.close()


def _before_1970(n: int) -> dict[str, Any]:
    when = dt.datetime(1969, 7, 20, 20, 17, tzinfo=dt.UTC)
    return {
        **OBSERVATIONS.decode(
            observation(n, "c3-moon", "control.long_working_hours", "police:p", 0)[1]
        ),
        "observed_at": when,
        "reported_at": when,
    }


def test_an_alert_the_broker_refuses_stops_the_worker_and_is_sent_after_the_restart(
    kafka_servers: str, worker_env: dict[str, str], admin: KafkaAdminClient, tmp_path: Path
) -> None:
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]

    def max_message_bytes(size: int) -> None:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(size)})]
        )

    max_message_bytes(200)  # every alert is larger: the broker refuses each one
    env = {**worker_env, "SAFEGUARD_WORKER_RETRY_SECONDS": "5"}
    log = tmp_path / "worker.log"
    with background(safeguard("worker"), env, log) as worker:
        publish(kafka_servers, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], story(6))
        wait_for(lambda: worker.poll() is not None, 90, "the worker to stop", log)
    assert worker.returncode == 70
    assert "stopping the worker: agent aggregate_observations could not complete" in log.read_text()

    max_message_bytes(1_048_588)
    alerts = TopicReader(kafka_servers, topic)
    with background(safeguard("worker"), env, tmp_path / "worker2.log"):
        wait_for(lambda: len(alerts.poll()) >= 2, 90, "both alert versions", log)
    (versions,) = alerts_by_child(alerts).values()
    assert [(a["version"], [e["event_id"] for e in a["evidence"]]) for a in versions] == [
        (1, ["c6-school", "c6-health"]),
        (2, ["c6-school", "c6-health", "c6-police"]),
    ]
    alerts.close()
