"""Dead-letter records: what could not be decoded, validated or stored, kept whole with why."""

from __future__ import annotations

import datetime as dt

from safeguard.errors import SafeguardError
from schemas.codec import EventCodec


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    payload: bytes | None,
    error: SafeguardError,
    consumer: str,
    failed_at: dt.datetime,
) -> bytes:
    """The encoded DeadLetter record for one failed input record."""
    return EventCodec("dead_letter").encode(
        {
            "source_topic": topic,
            "partition": partition,
            "offset": offset,
            "key": key,
            "payload": payload or b"",
            "error_kind": type(error).__name__,
            "error_message": str(error),
            "failed_at": failed_at,
            "consumer": consumer,
        }
    )
