"""Dead-letter records: what could not be decoded, validated or stored, kept whole with why."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from safeguard.errors import SafeguardError
from schemas.codec import EventCodec


class SourceRecord(Protocol):
    """What Faust's ``Message`` and aiokafka's ``ConsumerRecord`` both carry."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def dead_letter(
    record: SourceRecord,
    error: SafeguardError,
    consumer: str,
    failed_at: dt.datetime | None = None,
) -> bytes:
    """The encoded DeadLetter record for one failed input record, with its original bytes."""
    return EventCodec("dead_letter").encode(
        {
            "source_topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key,
            "payload": record.value or b"",
            "error_kind": type(error).__name__,
            "error_message": str(error),
            "failed_at": failed_at or dt.datetime.now(dt.UTC),
            "consumer": consumer,
        }
    )
