"""Event times as the state keeps them: exact milliseconds since the epoch (UTC)."""

from __future__ import annotations

import datetime as dt

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def to_millis(value: dt.datetime) -> int:
    """Exact milliseconds since the epoch (no float rounding)."""
    return (value - EPOCH) // _MS


def to_datetime(millis: int) -> dt.datetime:
    return EPOCH + millis * _MS
