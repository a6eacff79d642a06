"""The worker and bad or outsized input, extreme dates, and a broker that refuses its alert."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from safeguard.kernel.settings import Settings

from .helpers import TopicReader, background, publish, safeguard, wait_for
from .records import (
    ALERTS,
    DEAD_LETTERS,
    OBSERVATIONS,
    alerts_by_child,
    child,
    observation,
    story,
)


def test_oversized_extreme_and_null_records_are_dead_lettered_and_the_worker_goes_on(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
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
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    with background(safeguard("worker"), worker_env, log) as worker:
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], [*bad, *story(3)])
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
            "1000000 bytes, not starting C3 01",
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
    kafka: Settings, worker_env: dict[str, str], admin: KafkaAdminClient, tmp_path: Path
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
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], story(6))
        wait_for(lambda: worker.poll() is not None, 90, "the worker to stop", log)
    assert worker.returncode == 70
    assert "stopping the worker: agent aggregate_observations could not complete" in log.read_text()

    max_message_bytes(1_048_588)
    alerts = TopicReader(kafka, topic)
    with background(safeguard("worker"), env, tmp_path / "worker2.log"):
        wait_for(lambda: len(alerts.poll()) >= 2, 90, "both alert versions", log)
    (versions,) = alerts_by_child(alerts).values()
    # At least once: records read again after the start's seek may send a version again, byte
    # for byte the same (the alert store keeps one).
    sent: dict[int, set[bytes]] = {}
    for record in alerts.records:
        sent.setdefault(ALERTS.decode(record.value)["version"], set()).add(record.value)
    assert all(len(copies) == 1 for copies in sent.values()), sent.keys()
    distinct = {(a["version"], tuple(e["event_id"] for e in a["evidence"])) for a in versions}
    assert sorted(distinct) == [
        (1, ("c6-school", "c6-health")),
        (2, ("c6-school", "c6-health", "c6-police")),
    ]
    alerts.close()
