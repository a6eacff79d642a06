"""Decoding and checking each record the agents read: a bad record raises ``InvalidRecordError``
(or another ``CodecError``) naming the field, and the guard dead-letters it.

Records keyed by child must carry their ``child_ref`` as the key (it decides the partition); a
wrong key is never echoed, since it may be a raw identifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from safeguard.kernel.errors import InvalidRecordError
from safeguard.kernel.settings import load_settings
from schemas.catalogue import default_catalogue
from schemas.codec import EventCodec, TopicCodec
from schemas.validation import (
    check_child_ref,
    check_erasure,
    check_link,
    check_observation,
    check_registration,
    check_retraction,
)
from streams.domain import clock

CATALOGUE = default_catalogue()
TOLERANCE = load_settings().future_tolerance
OBSERVATIONS = TopicCodec("observation", "retraction")
REGISTRATIONS = TopicCodec("school_registration", "retraction")
ACTION_CODEC = EventCodec("alert_action")


#: Signals both agents read: a reference's place among linked references, what another
#: reference of the same child sends on, and a record forwarded to the child it was linked into.
IDENTITY_SIGNALS = ("identity", "absorb", "forward")
LINK_CODEC = EventCodec("identity_link")
ERASURE_CODEC = EventCodec("erasure")


def _signal(key: bytes | None, value: bytes | None, what: str, kinds: tuple[str, ...]) -> Any:
    """An internal JSON signal keyed by ``child_ref``, of one of ``kinds``."""
    if not key:
        raise InvalidRecordError("key: missing; signals are keyed by child_ref", field="key")
    check_child_ref(key.decode(errors="replace"), field="key")
    try:
        signal = json.loads(value or b"")
    except ValueError:
        raise InvalidRecordError(f"value: not a JSON {what} signal", field="value") from None
    if not isinstance(signal, dict) or signal.get("type") not in kinds:
        raise InvalidRecordError(f"type: not one of {', '.join(kinds)}", field="type", value=None)
    if signal["type"] in IDENTITY_SIGNALS:
        _check_identity_signal(signal)
    return signal


def _check_identity_signal(signal: dict[str, Any]) -> None:
    version = signal.get("version")
    if not isinstance(version, int) or version < 0:
        raise InvalidRecordError("version: not a whole number", field="version")
    kind = signal["type"]
    refs = {"identity": ("canonical",), "absorb": ("origin",), "forward": ("origin",)}[kind]
    for name in refs:
        check_child_ref(str(signal.get(name, "")), field=name)
    if kind == "identity":
        members = signal.get("members")
        if not isinstance(members, list) or signal["canonical"] not in members:
            raise InvalidRecordError("members: not a list holding the canonical", field="members")
        for member in members:
            check_child_ref(str(member), field="members")
    elif kind == "absorb" and not isinstance(signal.get("payload"), dict):
        raise InvalidRecordError("payload: missing from an absorb signal", field="payload")
    elif kind == "forward":
        if not isinstance(signal.get("topic"), str) or not isinstance(signal.get("value"), str):
            raise InvalidRecordError("value: not a forwarded record", field="value")
        try:
            signal["value"] = base64.b64decode(signal["value"], validate=True)
        except ValueError:
            raise InvalidRecordError("value: not base64", field="value") from None


def forward(topic: str, value: bytes, origin: str, version: int) -> bytes:
    """A record sent on to the reference its child was linked into."""
    signal = {
        "type": "forward",
        "version": version,
        "origin": origin,
        "topic": topic,
        "value": base64.b64encode(value).decode(),
    }
    return json.dumps(signal).encode()


def link(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """An agency's statement that two references are the same child, or its withdrawal."""
    record: dict[str, Any] = LINK_CODEC.decode(_present(value))
    check_link(record, now=clock.now(), tolerance=TOLERANCE)
    return record


def erasure(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """The partnership's erasure of one child reference's data, keyed by that reference."""
    record: dict[str, Any] = ERASURE_CODEC.decode(_present(value))
    check_erasure(record)
    _check_key(key, record["child_ref"])
    return record


def signal(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """An internal education signal: ``{"type": "deadline_due"}`` or a family move."""
    signal: dict[str, Any] = _signal(
        key, value, "education", ("deadline_due", "family_move", *IDENTITY_SIGNALS)
    )
    if signal["type"] == "family_move" and not isinstance(signal.get("event_id"), str):
        raise InvalidRecordError("event_id: missing from a family_move signal", field="event_id")
    return signal


def registration(key: bytes | None, value: bytes | None) -> tuple[str, dict[str, Any]]:
    """A school roll change, or a school's retraction of one: ``(event, record)``."""
    event, record = REGISTRATIONS.decode(_present(value))
    if event == "retraction":
        _check_retraction(record, "school_registration")
    else:
        check_registration(record, now=clock.now(), tolerance=TOLERANCE)
    _check_key(key, record["child_ref"])
    return event, record


def action(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """A practitioner's action on an alert, keyed by the alert's child."""
    record = ACTION_CODEC.decode(_present(value))
    if not key:
        raise InvalidRecordError("key: missing; actions are keyed by child_ref", field="key")
    check_child_ref(key.decode(errors="replace"), field="key")
    return record


def concern_signal(key: bytes | None, value: bytes | None) -> dict[str, Any]:
    """``{"type": "deadline_due"}`` or ``{"type": "school_authority", "local_authority": ...}``."""
    signal: dict[str, Any] = _signal(
        key, value, "concern", ("deadline_due", "school_authority", *IDENTITY_SIGNALS)
    )
    if signal["type"] == "school_authority" and not isinstance(
        signal.get("local_authority"), str | None
    ):
        raise InvalidRecordError("local_authority: not a code or null", field="local_authority")
    return signal


def _check_retraction(record: dict[str, Any], of: str) -> None:
    check_retraction(record)
    if record["of"] != of:
        raise InvalidRecordError(
            f"of: a retraction of a {record['of']} on the topic of {of} events", field="of"
        )


def _present(value: bytes | None) -> bytes:
    if value is None:
        raise InvalidRecordError("value: null (no record at all)", field="value")
    return value


def departure(key: bytes | None, value: bytes | None) -> list[str]:
    """``[child_ref, event_id, ISO date]``, keyed by the family's reference."""
    if not key:
        raise InvalidRecordError("key: missing; departures are keyed by family", field="key")
    try:
        departure = json.loads(value or b"")
    except ValueError:
        raise InvalidRecordError("value: not a JSON departure", field="value") from None
    if not (
        isinstance(departure, list)
        and len(departure) == 3
        and all(isinstance(part, str) for part in departure)
    ):
        raise InvalidRecordError("value: not [child_ref, event_id, date]", field="value")
    check_child_ref(departure[0])
    try:
        dt.date.fromisoformat(departure[2])
    except ValueError:
        raise InvalidRecordError("date: not an ISO date", field="date") from None
    return departure


def observation(key: bytes | None, value: bytes | None) -> tuple[str, dict[str, Any]]:
    """An observation or an agency's retraction of one: ``(event, record)``, validated; the key
    must be the ``child_ref`` (it decides the partition)."""
    event, record = OBSERVATIONS.decode(_present(value))
    if event == "retraction":
        _check_retraction(record, "observation")
    else:
        check_observation(record, CATALOGUE, now=clock.now(), tolerance=TOLERANCE)
    _check_key(key, record["child_ref"])
    return event, record


def _check_key(key: bytes | None, child_ref: str) -> None:
    if key != child_ref.encode():
        # The key is not echoed: a wrong key may be a raw identifier.
        raise InvalidRecordError(
            "key: missing or not the record's child_ref; events are keyed by child_ref",
            field="key",
        )
