"""What a chaos run produced, read back from its topics, and how two runs differ."""

from __future__ import annotations

import collections
import time
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from safeguard.kernel.clients import consumer_options
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import TABLES
from schemas.codec import EventCodec, TopicCodec

ALERTS = EventCodec("alert")
DEAD_LETTERS = EventCodec("dead_letter")
OBSERVATIONS = TopicCodec("observation", "retraction")


class Finished(Protocol):
    """A finished run: where its topics are, and how often its worker was killed."""

    kafka: Settings
    env: dict[str, str]
    kills: int
    fault_exits: int

    def topic(self, name: str) -> str: ...


def end_offsets(kafka: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(**consumer_options(kafka, "admin", None))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def read_all(kafka: Settings, topic: str) -> list[Any]:
    """Every record of ``topic``, from the beginning to its current end."""
    ends = end_offsets(kafka, topic)
    consumer = KafkaConsumer(**consumer_options(kafka, "admin", None))
    try:
        consumer.assign(list(ends))
        consumer.seek_to_beginning(*ends)
        records: list[Any] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise SystemExit(f"could not read {topic} to its end")
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


#: Signals whose content depends on timing, not on what happened (see ``collect``).
TIMING_SIGNALS = (b'"deadline_due"', b'"type": "absorb"', b'"type": "forward"')


def collect(run: Finished) -> dict[str, Any]:
    versions: dict[str, set[str]] = collections.defaultdict(set)
    for name in ("ALERTS_CONCERN", "ALERTS_EDUCATION"):
        for record in read_all(run.kafka, run.topic(name)):
            alert = ALERTS.decode(record.value)
            versions[f"{alert['alert_id']}#{alert['version']}"].add(record.value.hex())
    dead = {
        f"{letter['error_kind']}:{letter['payload'].hex()}"
        for letter in (
            DEAD_LETTERS.decode(r.value) for r in read_all(run.kafka, run.topic("DEADLETTER"))
        )
    }
    # What a reference merged into another sends it depends on what had arrived by then (an
    # observation read before the link moves with the rest, one read after it is forwarded):
    # those signals are compared through their effect, the state and the alerts, not one by one.
    signals = {
        f"{record.key.hex()}:{record.value.hex()}"
        for name in ("EDUCATION_SIGNALS", "FAMILY_DEPARTURES", "CONCERN_SIGNALS")
        for record in read_all(run.kafka, run.topic(name))
        if not any(kind in record.value for kind in TIMING_SIGNALS)
    }
    movements = {  # the education findings' observations, and their retractions
        record.value.hex()
        for record in read_all(run.kafka, run.topic("OBSERVATIONS"))
        if OBSERVATIONS.decode(record.value)[1]["event_id"].startswith(("edu-", "retract-edu-"))
    }
    state: dict[str, str] = {}
    for table in TABLES:
        topic = f"{run.env['SAFEGUARD_APP_ID']}-{table}-changelog"
        for record in read_all(run.kafka, topic):
            key = f"{table}:{record.key.hex()}"
            if record.value is None:
                state.pop(key, None)
            else:
                state[key] = record.value.decode()
    return {
        "versions": {k: sorted(v) for k, v in versions.items()},
        "dead_letters": sorted(dead),
        "signals": sorted(signals),
        "movements": sorted(movements),
        "state": state,
        "kills": run.kills,
        "fault_exits": run.fault_exits,
    }


def compare(clean: dict[str, Any], faulty: dict[str, Any]) -> dict[str, int]:
    """The differences that matter, counted."""
    want, got = clean["versions"], faulty["versions"]
    gaps = 0
    for key in got:
        alert_id, version = key.rsplit("#", 1)
        if int(version) > 1 and f"{alert_id}#{int(version) - 1}" not in got:
            gaps += 1
    state_keys = set(clean["state"]) | set(faulty["state"])
    return {
        "kills": faulty["kills"],
        "fault_exits": clean["fault_exits"] + faulty["fault_exits"],
        "versions_expected": len(want),
        "versions_missing": len(set(want) - set(got)),
        "versions_extra": len(set(got) - set(want)),
        "versions_different": sum(1 for k in set(want) & set(got) if want[k] != got[k]),
        "versions_with_two_contents": sum(1 for v in got.values() if len(v) > 1),
        "gaps": gaps,
        "dead_letters_expected": len(clean["dead_letters"]),
        "dead_letters_different": len(set(clean["dead_letters"]) ^ set(faulty["dead_letters"])),
        "signals_expected": len(clean["signals"]),
        "signals_lost": len(set(clean["signals"]) - set(faulty["signals"])),
        "signals_extra": len(set(faulty["signals"]) - set(clean["signals"])),
        "movements_expected": len(clean["movements"]),
        "movements_lost": len(set(clean["movements"]) - set(faulty["movements"])),
        "state_keys": len(clean["state"]),
        "state_different": sum(
            1 for k in state_keys if clean["state"].get(k) != faulty["state"].get(k)
        ),
    }


def state_differences(
    clean: dict[str, Any], faulty: dict[str, Any], limit: int = 20
) -> list[dict[str, Any]]:
    """Up to ``limit`` table entries that differ: the key and both values, to see why."""
    keys = sorted(set(clean["state"]) | set(faulty["state"]))
    return [
        {"key": k, "clean": clean["state"].get(k), "faulty": faulty["state"].get(k)}
        for k in keys
        if clean["state"].get(k) != faulty["state"].get(k)
    ][:limit]


FAILURES = (
    "versions_missing",
    "versions_extra",
    "versions_different",
    "versions_with_two_contents",
    "gaps",
    "dead_letters_different",
    "signals_lost",
    "signals_extra",
    "movements_lost",
    "state_different",
)
