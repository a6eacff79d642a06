"""Observations and stories the integration tests publish, and how they read alerts back."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from schemas.codec import EventCodec

from .helpers import TopicReader

OBSERVATIONS = EventCodec("observation")
ALERTS = EventCodec("alert")
DEAD_LETTERS = EventCodec("dead_letter")
T0 = dt.datetime(2026, 10, 5, 8, 45, tzinfo=dt.UTC)


def child(n: int) -> str:
    return hashlib.sha256(f"test-child-{n}".encode()).hexdigest()


def observation(
    n: int, event_id: str, indicator: str, agency: str, day: int, **extra: Any
) -> tuple[bytes, bytes]:
    agency_type, agency_id = agency.split(":")
    when = T0 + dt.timedelta(days=day)
    record = {
        "event_id": event_id,
        "child_ref": child(n),
        "indicator": indicator,
        "agency": {"id": agency_id, "type": agency_type},
        "observed_at": when,
        "reported_at": when + dt.timedelta(hours=1),
        "local_authority": "W06000011",
        "date_of_birth": None,
        "age_disputed": False,
        "immediate_risk": False,
        "source_ref": None,
        **extra,
    }
    return child(n).encode(), OBSERVATIONS.encode(record)


def story(n: int) -> list[tuple[bytes, bytes]]:
    """A school sees a short stay, health an adult who speaks for the child, police long hours."""
    return [
        observation(
            n,
            f"c{n}-school",
            "movement.short_school_registration_then_removed",
            "school:6812345",
            0,
        ),
        observation(n, f"c{n}-health", "health.controlling_companion", "health:hb-swansea-bay", 9),
        observation(n, f"c{n}-police", "control.long_working_hours", "police:south-wales", 20),
    ]


def alerts_by_child(reader: TopicReader) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in reader.poll():
        alert = ALERTS.decode(record.value)
        assert record.key == alert["child_ref"].encode()
        found.setdefault(alert["child_ref"], []).append(alert)
    return found
