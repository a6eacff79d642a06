"""Publishing observations and school registrations: validated, keyed by child_ref, sent once.

``Publisher`` validates each record against its schema and the indicator catalogue before it is
sent (nothing invalid reaches Kafka), keys it by ``child_ref`` so one child's events share a
partition, and sends with an idempotent producer (``acks=all``), so a retry inside the client never
duplicates a record. ``flush`` waits for the broker's acknowledgement of everything sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from safeguard.kernel.clients import producer_options
from safeguard.kernel.errors import SafeguardError
from safeguard.kernel.settings import Settings
from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec
from schemas.validation import (
    FUTURE_TOLERANCE,
    check_encoding,
    check_erasure,
    check_link,
    check_observation,
    check_registration,
    check_retraction,
)


class PublishError(SafeguardError):
    """The broker did not acknowledge a record."""

    retriable = True


def encode_observation(
    record: Mapping[str, Any], tolerance: dt.timedelta = FUTURE_TOLERANCE
) -> bytes:
    """The record's bytes, after schema, pseudonym, catalogue and time checks."""
    data = EventCodec("observation").encode(record)
    check_observation(record, default_catalogue(), tolerance=tolerance)
    return data


def encode_registration(
    record: Mapping[str, Any], tolerance: dt.timedelta = FUTURE_TOLERANCE
) -> bytes:
    """The record's bytes, after the same checks the worker makes of a registration."""
    data = EventCodec("school_registration").encode(record)
    check_registration(record, tolerance=tolerance)
    return data


def encode_retraction(record: Mapping[str, Any]) -> bytes:
    """The record's bytes, after the same checks the worker makes of a retraction."""
    data = EventCodec("retraction").encode(record)
    check_retraction(record)
    return data


def encode_link(record: Mapping[str, Any], tolerance: dt.timedelta = FUTURE_TOLERANCE) -> bytes:
    """An identity link's bytes, after the same checks the worker makes of one."""
    data = EventCodec("identity_link").encode(record)
    check_link(record, now=dt.datetime.now(dt.UTC), tolerance=tolerance)
    return data


def encode_erasure(record: Mapping[str, Any]) -> bytes:
    """An erasure's bytes, after the same checks the worker makes of one."""
    data = EventCodec("erasure").encode(record)
    check_erasure(record)
    return data


def encode_encoding(record: Mapping[str, Any]) -> bytes:
    """A child encoding's bytes, after the same checks the worker makes of one."""
    data = EventCodec("child_encoding").encode(record)
    check_encoding(record)
    return data


def retraction_topic(settings: Settings, of: str) -> str:
    """A retraction travels on the topic of the event it takes back (so it is read after it)."""
    return (
        settings.topic_observations if of == "observation" else settings.topic_school_registrations
    )


def derived_event_id(*parts: str) -> str:
    """A deterministic event id, so the same source record published twice is one event."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Publisher:
    def __init__(self, settings: Settings, producer: KafkaProducer | None = None) -> None:
        self.settings = settings
        self.producer = producer or KafkaProducer(
            **producer_options(settings, "importer", linger_ms=5)
        )
        self._pending: list[Any] = []

    def publish(self, kind: str, record: Mapping[str, Any]) -> str:
        """``observation``, ``registration``, ``retraction``, ``link`` or ``encoding``: validate
        and send; return the event id."""
        if kind == "link":
            return self.link(record)
        if kind == "encoding":
            data = encode_encoding(record)
            return self._send(self.settings.topic_identity_encodings, record, data)
        if kind == "retraction":
            return self.retraction(record)
        return self.observation(record) if kind == "observation" else self.registration(record)

    def retraction(self, record: Mapping[str, Any]) -> str:
        """Validate and send one retraction, on the topic of the event it takes back."""
        topic = retraction_topic(self.settings, record["of"])
        return self._send(topic, record, encode_retraction(record))

    def schools(self, records: list[tuple[bytes, bytes]]) -> None:
        """Encoded school reference records, keyed by school id, onto the schools topic."""
        for key, value in records:
            self._pending.append(
                self.producer.send(self.settings.topic_schools, key=key, value=value)
            )

    def observation(self, record: Mapping[str, Any]) -> str:
        """Validate and send one observation; return its event id."""
        data = encode_observation(record, self.settings.future_tolerance)
        return self._send(self.settings.topic_observations, record, data)

    def registration(self, record: Mapping[str, Any]) -> str:
        """Validate and send one school registration event; return its event id."""
        data = encode_registration(record, self.settings.future_tolerance)
        return self._send(self.settings.topic_school_registrations, record, data)

    def link(self, record: Mapping[str, Any]) -> str:
        """Validate and send one identity link (or its withdrawal); return its event id. Links
        are keyed by ``ref_a`` on a one-partition topic, so every link is read in one order."""
        data = encode_link(record, self.settings.future_tolerance)
        future = self.producer.send(
            self.settings.topic_identity_links, key=record["ref_a"].encode(), value=data
        )
        self._pending.append(future)
        return str(record["event_id"])

    def _send(self, topic: str, record: Mapping[str, Any], data: bytes) -> str:
        future = self.producer.send(topic, key=record["child_ref"].encode(), value=data)
        self._pending.append(future)
        return str(record["event_id"])

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until the broker has acknowledged every record sent so far."""
        self.producer.flush(timeout=timeout)
        pending, self._pending = self._pending, []
        for future in pending:
            try:
                future.get(timeout=timeout)
            except KafkaError as exc:
                raise PublishError(f"the broker did not acknowledge a record: {exc}") from exc

    def close(self) -> None:
        self.flush()
        self.producer.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
