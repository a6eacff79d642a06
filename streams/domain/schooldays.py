"""School days: weekdays that are not school holidays in the pupil's local authority.

Weekends are never school days. An optional CSV file (``SAFEGUARD_SCHOOL_CALENDAR_FILE``) adds
holidays, one range a row::

    local_authority,first_day,last_day
    W06000015,2026-12-21,2027-01-01      # Cardiff, Christmas
    *,2026-10-26,2026-10-30              # every local authority, half term

A malformed row is a ``ConfigError`` naming the file, the line and the value.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from safeguard.kernel.errors import ConfigError

ALL = "*"


@dataclass(frozen=True)
class SchoolCalendar:
    """Holiday ranges per local authority (``*`` for all)."""

    holidays: dict[str, tuple[tuple[dt.date, dt.date], ...]] = field(default_factory=dict)

    def is_school_day(self, day: dt.date, local_authority: str) -> bool:
        if day.weekday() >= 5:
            return False
        ranges = self.holidays.get(local_authority, ()) + self.holidays.get(ALL, ())
        return not any(first <= day <= last for first, last in ranges)

    def add_school_days(self, start: dt.date, days: int, local_authority: str) -> dt.date:
        """The date ``days`` school days after ``start`` (``start`` itself not counted)."""
        day = start
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.is_school_day(day, local_authority):
                counted += 1
        return day

    def school_days_between(self, start: dt.date, end: dt.date, local_authority: str) -> int:
        """School days after ``start`` up to and including ``end`` (0 if ``end`` <= ``start``)."""
        return sum(
            self.is_school_day(start + dt.timedelta(days=n), local_authority)
            for n in range(1, (end - start).days + 1)
        )


def load_calendar(path: Path | None) -> SchoolCalendar:
    """Read a holiday file; no file means weekends only."""
    if path is None:
        return SchoolCalendar()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"SAFEGUARD_SCHOOL_CALENDAR_FILE={path}: {exc.strerror}") from exc
    holidays: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for number, row in _rows(lines):
        try:
            la, first, last = (cell.strip() for cell in row[:3])
            span = (dt.date.fromisoformat(first), dt.date.fromisoformat(last))
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: {','.join(row)!r}: {exc}") from None
        if span[1] < span[0]:
            raise ConfigError(f"{path}:{number}: last_day {span[1]} is before first_day {span[0]}")
        holidays.setdefault(la, []).append(span)
    return SchoolCalendar({la: tuple(spans) for la, spans in holidays.items()})


def _rows(lines: Iterable[str]) -> Iterable[tuple[int, list[str]]]:
    for number, row in enumerate(csv.reader(lines), start=1):
        cleaned = [c.split("#", 1)[0] for c in row]
        if not any(c.strip() for c in cleaned) or cleaned[0].strip() == "local_authority":
            continue
        yield number, cleaned
