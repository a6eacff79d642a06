"""Dead-letter records: what could not be decoded, validated or stored, kept with why.

The original value is kept whole unless the dead letter would not fit the broker's message size
(1 MB by default): then its first ``MAX_PAYLOAD`` bytes are kept and ``payload_size`` says how
large it was. A null value (``value_null``) is told apart from empty bytes. The key is kept as
it was, up to ``MAX_KEY`` bytes.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from safeguard.kernel.errors import SafeguardError
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


#: Room for the rest of the dead letter and the record batch overhead within 1 MB.
MAX_PAYLOAD = 900_000
MAX_KEY = 4_096
MAX_MESSAGE = 2_000


def dead_letter(
    record: SourceRecord,
    error: SafeguardError,
    consumer: str,
    failed_at: dt.datetime | None = None,
) -> bytes:
    """The encoded DeadLetter record for one failed input record, with its original bytes."""
    value = record.value
    return EventCodec("dead_letter").encode(
        {
            "source_topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": None if record.key is None else record.key[:MAX_KEY],
            "payload": (value or b"")[:MAX_PAYLOAD],
            "error_kind": type(error).__name__,
            "error_message": str(error)[:MAX_MESSAGE],
            "failed_at": failed_at or dt.datetime.now(dt.UTC),
            "consumer": consumer,
            "value_null": value is None,
            "payload_size": len(value or b""),
        }
    )
