"""Checks beyond the Avro schema that every consumer of an event applies the same way.

The codec guarantees types; these guarantee meaning: a pseudonym that looks like one, an indicator
the catalogue knows, event times that are in order. Each failure names the field and the value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from safeguard.kernel.errors import FutureEventError, InvalidRecordError, UnknownIndicatorError
from schemas.catalogue import Catalogue

CHILD_REF = re.compile(r"^[0-9a-f]{64}$")
BLOCK_KEY = re.compile(r"^[0-9a-f]{16}$")

#: The longest text each field may hold. Ids and codes are short; nothing that reaches an alert
#: may make it larger than the broker's message size, however many pieces of evidence it has.
MAX_LENGTH = {
    "event_id": 128,
    "indicator": 128,
    "agency.id": 128,
    "local_authority": 32,
    "source_ref": 256,
    "school_id": 64,
    "destination_school_id": 64,
    "family_group_ref": 64,
    "retracts": 128,
    "scheme": 16,
}
#: Event times and dates outside this range are typing errors, not observations: they would
#: also break date arithmetic (an 18th birthday after year 9999).
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
EARLIEST_BIRTH = dt.date(1900, 1, 1)


def check_child_ref(value: str, field: str = "child_ref") -> None:
    if not CHILD_REF.match(value):
        # The value is not echoed: a malformed pseudonym may be a raw identifier.
        raise InvalidRecordError(
            f"{field}: not a pseudonym (64 lowercase hex digits of HMAC-SHA256); "
            f"got {len(value)} characters",
            field=field,
            value=None,
        )


def check_lengths(record: Mapping[str, Any]) -> None:
    """Raise ``InvalidRecordError`` for a text field longer than ``MAX_LENGTH`` allows."""
    for name, limit in MAX_LENGTH.items():
        value: Any = record
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str) and len(value) > limit:
            # The value is not echoed: it is too long to be what the field should hold.
            raise InvalidRecordError(
                f"{name}: {len(value)} characters, at most {limit} allowed", field=name
            )


def check_time(record: Mapping[str, Any], name: str) -> None:
    value = record[name]
    day = value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else None
    moment = dt.datetime.combine(day, dt.time(), dt.UTC) if day else value
    if not EARLIEST <= moment < LATEST:
        raise InvalidRecordError(
            f"{name}: {value.isoformat()} is outside {EARLIEST.year}-{LATEST.year - 1}",
            field=name,
        )


#: An age assessment's outcome (its date of birth is the assessed one), and who makes one.
AGE_ASSESSED = "docs.age_assessed"
AGE_ASSESSORS = frozenset({"social_care", "local_authority"})

#: How far after its report (or now) an event may be dated: clocks and time zones differ.
FUTURE_TOLERANCE = dt.timedelta(hours=24)


def check_not_future(
    record: Mapping[str, Any],
    name: str,
    *,
    now: dt.datetime | None = None,
    tolerance: dt.timedelta = FUTURE_TOLERANCE,
) -> None:
    """Raise ``FutureEventError`` if the event time ``name`` is later than the report (or
    ``now``) by more than ``tolerance``."""
    value = record[name]
    moment = (
        dt.datetime.combine(value, dt.time(), dt.UTC)
        if not isinstance(value, dt.datetime)
        else value
    )
    for limit, what in ((record["reported_at"], "it was reported"), (now, "now")):
        if limit is not None and moment > limit + tolerance:
            raise FutureEventError(
                f"{name}: {value.isoformat()} is in the future, more than "
                f"{tolerance.total_seconds() / 3600:.0f} h after {what}; an event cannot be "
                "dated after it was seen",
                field=name,
            )


def check_registration(
    record: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    tolerance: dt.timedelta = FUTURE_TOLERANCE,
) -> None:
    """Raise ``InvalidRecordError`` naming the bad field of a school registration."""
    check_lengths(record)
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_child_ref(record["child_ref"])
    check_time(record, "effective_date")
    check_time(record, "reported_at")
    check_not_future(record, "effective_date", now=now, tolerance=tolerance)
    if record.get("returned_on") is not None:
        if record["kind"] != "continuous_absence":
            raise InvalidRecordError(
                "returned_on: only a continuous_absence ends with a return", field="returned_on"
            )
        check_time(record, "returned_on")
        check_not_future(record, "returned_on", now=now, tolerance=tolerance)
        if record["returned_on"] < record["effective_date"]:
            raise InvalidRecordError(
                "returned_on: is before effective_date, the last school day of the absence",
                field="returned_on",
            )


def check_observation(
    record: Mapping[str, Any],
    catalogue: Catalogue,
    *,
    now: dt.datetime | None = None,
    tolerance: dt.timedelta = FUTURE_TOLERANCE,
) -> None:
    """Raise ``InvalidRecordError`` (or ``UnknownIndicatorError``) naming the bad field."""
    check_lengths(record)
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_time(record, "observed_at")
    check_time(record, "reported_at")
    birth = record["date_of_birth"]
    if birth is not None and not EARLIEST_BIRTH <= birth <= record["observed_at"].date():
        raise InvalidRecordError(
            f"date_of_birth: {birth.isoformat()} is before {EARLIEST_BIRTH.year} or after "
            "observed_at",
            field="date_of_birth",
        )
    check_child_ref(record["child_ref"])
    if record["indicator"] not in catalogue:
        raise UnknownIndicatorError(
            f"indicator: {record['indicator'][:80]!r} is not a code in the indicator catalogue",
            field="indicator",
            value=record["indicator"],
        )
    check_not_future(record, "observed_at", now=now, tolerance=tolerance)
    if record["indicator"] == AGE_ASSESSED:
        if record["agency"]["type"] not in AGE_ASSESSORS:
            raise InvalidRecordError(
                "agency: an age assessment is made by social care or the local authority",
                field="agency",
            )
        if birth is None:
            raise InvalidRecordError(
                "date_of_birth: an age assessment gives the assessed date of birth",
                field="date_of_birth",
            )


def check_retraction(record: Mapping[str, Any]) -> None:
    """Raise ``InvalidRecordError`` naming the bad field of a retraction."""
    check_lengths(record)
    for name in ("event_id", "retracts"):
        if not record[name].strip():
            raise InvalidRecordError(f"{name}: '' is empty", field=name, value="")
    check_child_ref(record["child_ref"])
    check_time(record, "retracted_at")


def reference_digest(child_ref: str) -> str:
    """What is kept of an erased reference (``erased_references``): its SHA-256, enough to
    recognise a record of it read again; it holds nothing about the child."""
    return hashlib.sha256(f"erased:{child_ref}".encode()).hexdigest()


def check_erasure(record: Mapping[str, Any]) -> None:
    """Raise ``InvalidRecordError`` naming the bad field of an erasure."""
    check_lengths(record)
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_child_ref(record["child_ref"])
    check_time(record, "erased_at")


def check_link(
    record: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    tolerance: dt.timedelta = FUTURE_TOLERANCE,
) -> None:
    """Raise ``InvalidRecordError`` naming the bad field of an identity link."""
    check_lengths(record)
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_child_ref(record["ref_a"], field="ref_a")
    check_child_ref(record["ref_b"], field="ref_b")
    if record["ref_a"] == record["ref_b"]:
        raise InvalidRecordError(
            "ref_b: the same reference as ref_a; a link joins two references", field="ref_b"
        )
    check_time(record, "stated_at")
    if now is not None and record["stated_at"] > now + tolerance:
        raise FutureEventError(
            f"stated_at: {record['stated_at'].isoformat()} is in the future, more than "
            f"{tolerance.total_seconds() / 3600:.0f} h after now",
            field="stated_at",
        )


def check_encoding(record: Mapping[str, Any]) -> None:
    """Raise ``InvalidRecordError`` naming the bad field of a child encoding."""
    check_lengths(record)
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_child_ref(record["child_ref"])
    check_time(record, "encoded_at")
    if not record["blocks"] or len(record["blocks"]) > 16:
        raise InvalidRecordError("blocks: between 1 and 16 blocking keys", field="blocks")
    if not all(BLOCK_KEY.match(b) for b in record["blocks"]):
        raise InvalidRecordError("blocks: each is 16 lowercase hex digits", field="blocks")
