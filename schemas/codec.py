"""Avro single-object encoding of the project's events.

Wire format (Apache Avro specification, "Single object encoding"), byte for byte::

    C3 01                 two-byte marker (format version 1)
    FP FP FP FP FP FP FP FP
                          CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form,
                          8 bytes, little-endian
    ...                   the record in Avro binary encoding under that writer schema

This is what Apache Avro's Java ``BinaryMessageEncoder`` and ``BinaryMessageDecoder`` speak, so no
schema registry server is needed: the fingerprint names the schema version, and every version is
kept in ``schemas/``.

``EventCodec(event).encode(record)`` validates the record against the newest version of the
event's schema first and writes with it. ``decode(data)`` finds the writer's version by
fingerprint and resolves the record into the newest version. Every failure is one of the
``CodecError`` subclasses in ``safeguard.kernel.errors``; nothing else escapes.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from safeguard.kernel.errors import (
    CorruptBodyError,
    InvalidRecordError,
    NotSingleObjectError,
    TruncatedBodyError,
    UnknownFingerprintError,
    WrongEventError,
)
from schemas.registry import SchemaRegistry, SchemaVersion, default_registry

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8


def header(schema: SchemaVersion) -> bytes:
    """The 10-byte single-object header for ``schema``."""
    return MARKER + schema.fingerprint


class EventCodec:
    """Encode and decode one event type (``observation``, ``alert``, ...)."""

    def __init__(
        self, event: str, registry: SchemaRegistry | None = None, *, version: int | None = None
    ) -> None:
        """``version``: write (and read into) that schema version instead of the newest."""
        self.registry = registry or default_registry()
        self.event = event
        if version is None:
            self.schema = self.registry.latest(event)
        else:
            self.schema = next(v for v in self.registry.versions(event) if v.version == version)
        self._header = header(self.schema)

    def encode(self, record: Mapping[str, Any], *, check: bool = True) -> bytes:
        """Validate ``record`` and encode it with the newest schema version.

        ``check=False`` skips the full validation (about a third of the cost) for records the
        caller built itself from validated input, such as the worker's alerts; a value the
        writer cannot encode still raises ``InvalidRecordError``.
        """
        if check:
            _reject_naive_datetimes(record, self.schema.raw["name"])
            try:
                validate(record, self.schema.parsed, raise_errors=True)
            except ValidationError as exc:
                raise _invalid(exc, self.schema.raw["namespace"]) from exc
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            schemaless_writer(buf, self.schema.parsed, record)
        except (ValueError, TypeError, OverflowError, UnicodeError) as exc:
            raise InvalidRecordError(
                f"{self.schema.raw['name']}: cannot be encoded: {exc}"
            ) from exc
        return buf.getvalue()

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The schema version ``data`` was written with (checks marker and fingerprint)."""
        if len(data) < HEADER_SIZE or data[:2] != MARKER:
            # None of the bytes is echoed: whatever a sender put there may be personal data.
            raise NotSingleObjectError(
                f"not Avro single-object encoded: expected C3 01 and an 8-byte fingerprint, "
                f"got {len(data)} bytes"
                + (", not starting C3 01" if len(data) >= 2 and data[:2] != MARKER else "")
            )
        fp = data[2:HEADER_SIZE]
        writer = self.registry.by_fingerprint(fp)
        if writer is None:
            raise UnknownFingerprintError(
                f"unknown writer schema fingerprint {fp.hex()} "
                f"(CRC-64-AVRO {int.from_bytes(fp, 'little'):#018x}); "
                f"no schema version in {self.registry.folder} has it"
            )
        if writer.event != self.event:
            raise WrongEventError(f"expected {self.event} data, got {writer.name}")
        return writer

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode ``data`` into a record of the newest schema version."""
        writer = self.writer_of(data)
        buf = io.BytesIO(data)
        buf.seek(HEADER_SIZE)
        reader = None if writer is self.schema else self.schema.parsed
        try:
            record = schemaless_reader(buf, writer.parsed, reader)
        except (EOFError, StopIteration) as exc:
            raise TruncatedBodyError(
                f"{writer.name} body is truncated ({len(data) - HEADER_SIZE} bytes)"
            ) from exc
        except Exception as exc:  # fastavro raises many types on garbage; all mean corrupt
            raise CorruptBodyError(
                f"{writer.name} body is corrupt: {type(exc).__name__}: {exc}"
            ) from exc
        trailing = len(data) - buf.tell()
        if trailing:
            raise CorruptBodyError(f"{writer.name} body has {trailing} unread trailing bytes")
        if not isinstance(record, dict):
            raise CorruptBodyError(f"{writer.name} body did not decode to a record")
        return record


def _invalid(exc: ValidationError, namespace: str) -> InvalidRecordError:
    first = exc.errors[0]
    path = str(first.field).removeprefix(f"{namespace}.")
    value = first.datum
    expected = first.schema
    if isinstance(expected, dict):
        expected = expected.get("logicalType") or expected.get("name") or expected.get("type")
    elif isinstance(expected, list):
        expected = " or ".join(str(b if isinstance(b, str) else b.get("name", b)) for b in expected)
    if isinstance(expected, str):
        expected = expected.removeprefix(f"{namespace}.")
    missing = " (missing)" if value is None else ""
    return InvalidRecordError(
        f"{path}: {value!r}{missing} is not a valid {expected}", field=path, value=value
    )


def _reject_naive_datetimes(value: Any, path: str) -> None:
    """Timestamps without a time zone are ambiguous; fastavro would read them as local time."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        raise InvalidRecordError(
            f"{path}: {value.isoformat()} has no time zone; give an aware (UTC) datetime",
            field=path,
            value=value,
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_naive_datetimes(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_naive_datetimes(item, f"{path}[{index}]")


class TopicCodec:
    """Decodes a topic that carries more than one kind of event (an event and its retractions):
    the writer schema's fingerprint says which kind each record is."""

    def __init__(self, *events: str, registry: SchemaRegistry | None = None) -> None:
        self.codecs = {event: EventCodec(event, registry) for event in events}

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(event, record) for ``data``; ``WrongEventError`` for a kind the topic does not carry."""
        first = next(iter(self.codecs.values()))
        try:
            writer = first.writer_of(data)
        except WrongEventError:
            fp = data[2:HEADER_SIZE]
            found = first.registry.by_fingerprint(fp)
            assert found is not None, "writer_of checked the fingerprint"
            writer = found
        codec = self.codecs.get(writer.event)
        if codec is None:
            raise WrongEventError(f"expected {' or '.join(self.codecs)} data, got {writer.name}")
        return writer.event, codec.decode(data)
