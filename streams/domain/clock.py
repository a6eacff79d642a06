"""The worker's clock: real time, or the fixed ``SAFEGUARD_CLOCK`` (tests and demos).

Only the missing-from-education deadlines use it (the absence of an event is noticed in wall-clock
time); everything else runs on event time. Unit tests replace it with ``set_clock``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def set_clock(clock: Callable[[], dt.datetime]) -> None:
    global _clock  # one process-wide clock, replaced only by tests and settings
    _clock = clock


def fixed(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def now() -> dt.datetime:
    return _clock()


def today() -> dt.date:
    return _clock().date()
