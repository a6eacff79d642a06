"""School days: weekdays that are neither bank holidays in Wales nor school holidays in the
pupil's local authority.

Weekends and bank holidays for Wales (from the ``holidays`` package) are never school days. The
school holidays are the Welsh pattern shipped in ``wales_school_holidays.csv`` (2025/26 to
2028/29), or, when ``SAFEGUARD_SCHOOL_CALENDAR_FILE`` is set, that file's instead: one range a
row, for one local authority or for all (``*``)::

    local_authority,first_day,last_day
    W06000015,2026-12-21,2027-01-01      # Cardiff, Christmas
    *,2026-10-26,2026-11-06              # every local authority, half term

A malformed row is a ``ConfigError`` naming the file, the line and the value.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import holidays

from safeguard.kernel.errors import ConfigError

ALL = "*"


SHIPPED = Path(__file__).with_name("wales_school_holidays.csv")


@dataclass(frozen=True)
class SchoolCalendar:
    """Holiday ranges per local authority (``*`` for all), and days off everywhere."""

    holidays: dict[str, tuple[tuple[dt.date, dt.date], ...]] = field(default_factory=dict)
    bank_holidays: frozenset[dt.date] = frozenset()

    def is_school_day(self, day: dt.date, local_authority: str) -> bool:
        if day.weekday() >= 5 or day in self.bank_holidays:
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
    """The holidays of ``path`` (the shipped Welsh pattern if ``None``) and Wales's bank
    holidays for every year they cover."""
    holidays = read_holidays(path or SHIPPED)
    years = {d.year for spans in holidays.holidays.values() for span in spans for d in span}
    return SchoolCalendar(holidays.holidays, wales_bank_holidays(years))


def wales_bank_holidays(years: Iterable[int]) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("GB", subdiv="WLS", years=sorted(years)))


def read_holidays(path: Path) -> SchoolCalendar:
    """Read a holiday file (no bank holidays)."""
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
    """Numbered rows, comments (from ``#`` to the end of the line) and the header left out."""
    for number, line in enumerate(lines, start=1):
        row = next(csv.reader([line.split("#", 1)[0]]), [])
        if not any(c.strip() for c in row) or row[0].strip() == "local_authority":
            continue
        yield number, row
