"""The alert-consumer helper without a broker: what it dead-letters, retries and stops on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from consumers.alert_store import AlertStore
from consumers.follow import AlertConsumer
from safeguard.kernel.errors import EXIT_FAULT, InvalidRecordError, ServiceUnavailableError
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

ALERTS = EventCodec("alert")
WHEN = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def alert(evidence: list[dict[str, Any]]) -> bytes:
    return ALERTS.encode(
        {
            "alert_id": "combined_concern-0123456789abcdef01234567",
            "version": 1,
            "child_ref": "c" * 64,
            "kind": "combined_concern",
            "level": "medium",
            "rule_id": "concern.combined",
            "rule_version": 1,
            "raised_at": WHEN,
            "local_authority": "W06000015",
            "evidence": evidence,
            "reasons": ["Two agencies."],
            "actions": ["report_child_at_risk"],
            "family_move": False,
        }
    )


def record(value: bytes | None, offset: int = 7) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "alerts", 0, offset, 0, 0, b"c" * 64, value, None, 0, len(value or b""), []
    )


class Recorder(AlertConsumer):
    name = "recorder"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.rejected: list[tuple[int, str, str]] = []

    async def reject(self, record: ConsumerRecord, error: Exception) -> None:  # type: ignore[override]
        self.rejected.append((record.offset, type(error).__name__, str(error)))


def settings(**values: Any) -> Settings:
    return Settings.model_construct(**values)


async def test_undecodable_null_and_unexpected_records_are_rejected_with_their_reason() -> None:
    consumer = Recorder(settings())
    good = alert([])

    def explode(record: ConsumerRecord, value: dict[str, Any]) -> Any:
        raise KeyError("no such field")

    assert await consumer._decode(record(good, 1)) == (record(good, 1), ALERTS.decode(good))
    assert await consumer._decode(record(b"\x00not avro", 2)) is None
    assert await consumer._decode(record(None, 3)) is None
    consumer.prepare = explode  # type: ignore[method-assign]
    assert await consumer._decode(record(good, 4)) is None
    assert [(offset, kind) for offset, kind, _ in consumer.rejected] == [
        (2, "NotSingleObjectError"),
        (3, "InvalidRecordError"),
        (4, "RecordError"),
    ]
    assert consumer.rejected[1][2] == "value: null (no record at all)"
    assert consumer.rejected[2][2] == "KeyError while reading the alert"


async def test_the_alert_store_rejects_an_alert_with_no_evidence() -> None:
    store = AlertStore(settings())
    with pytest.raises(InvalidRecordError, match="evidence: empty"):
        store.prepare(record(alert([])), ALERTS.decode(alert([])))


async def test_a_fault_that_persists_stops_the_process_with_code_70() -> None:
    consumer = Recorder(settings(consumer_retry_seconds=1))
    calls = 0

    async def away() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("database away")

    with pytest.raises(SystemExit) as stopped:
        await consumer.retry(away)
    assert stopped.value.code == EXIT_FAULT
    assert calls >= 2  # retried before giving up


async def test_a_fault_that_clears_is_retried_until_it_succeeds() -> None:
    consumer = Recorder(settings(consumer_retry_seconds=30))
    answers: list[Exception | str] = [ServiceUnavailableError("not yet"), TimeoutError(), "ok"]

    async def flaky() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await consumer.retry(flaky) == "ok"
    assert answers == []
