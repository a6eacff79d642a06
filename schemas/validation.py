"""Checks beyond the Avro schema that every consumer of an event applies the same way.

The codec guarantees types; these guarantee meaning: a pseudonym that looks like one, an indicator
the catalogue knows, event times that are in order. Each failure names the field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from safeguard.errors import InvalidRecordError, UnknownIndicatorError
from schemas.catalogue import Catalogue

CHILD_REF = re.compile(r"^[0-9a-f]{64}$")


def check_child_ref(value: str, field: str = "child_ref") -> None:
    if not CHILD_REF.match(value):
        # The value is not echoed: a malformed pseudonym may be a raw identifier.
        raise InvalidRecordError(
            f"{field}: not a pseudonym (64 lowercase hex digits of HMAC-SHA256); "
            f"got {len(value)} characters",
            field=field,
            value=None,
        )


def check_observation(record: Mapping[str, Any], catalogue: Catalogue) -> None:
    """Raise ``InvalidRecordError`` (or ``UnknownIndicatorError``) naming the bad field."""
    if not record["event_id"].strip():
        raise InvalidRecordError("event_id: '' is empty", field="event_id", value="")
    check_child_ref(record["child_ref"])
    if record["indicator"] not in catalogue:
        raise UnknownIndicatorError(
            f"indicator: {record['indicator'][:80]!r} is not a code in the indicator catalogue",
            field="indicator",
            value=record["indicator"],
        )
    if record["reported_at"] < record["observed_at"]:
        raise InvalidRecordError(
            f"reported_at: {record['reported_at'].isoformat()} is before observed_at "
            f"{record['observed_at'].isoformat()}",
            field="reported_at",
            value=record["reported_at"],
        )
