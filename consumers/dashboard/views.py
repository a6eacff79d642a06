"""How the dashboard shows things: names for codes, dates without invented times, and the words
of each alert's row, in the reader's language (Babel formats dates; times are UK time)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from babel.dates import format_date, format_datetime

from consumers.dashboard.i18n import N_, current, translate
from schemas.areas import area_name

UK = ZoneInfo("Europe/London")
LOCALES = {"en": "en_GB", "cy": "cy_GB"}
GROUP_NAMES = {
    "say_behave": N_("says or does"),
    "physical": N_("physical"),
    "movement": N_("movement"),
    "control": N_("control"),
    "docs": N_("documents"),
    "risk": N_("further risk"),
    "health": N_("health"),
}
KIND_NAMES = {
    "combined_concern": N_("Combined concern"),
    "missing_from_education": N_("Missing education"),
}
AGENCY_TYPE_NAMES = {
    "school": N_("school"),
    "health": N_("health service"),
    "police": N_("police"),
    "social_care": N_("social services"),
    "border_force": N_("Border Force"),
    "youth_justice": N_("youth justice service"),
    "voluntary": N_("voluntary organisation"),
    "local_authority": N_("local authority"),
}


def moment(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def date_only(value: dt.datetime) -> bool:
    """A date-only event (a school registration, a date reported without a time) is stored at
    midnight UTC: it is shown as a day, never as a made-up "00:00"."""
    utc = value.astimezone(dt.UTC)
    return (utc.hour, utc.minute, utc.second, utc.microsecond) == (0, 0, 0, 0)


def when(value: dt.datetime | str | None, language: str | None = None) -> str:
    """``7 December 2026`` for a date-only event, else ``7 December 2026, 14:05`` (UK time);
    in the reader's language unless ``language`` is given."""
    at = moment(value)
    if at is None:
        return ""
    if date_only(at):
        return long_date(at.astimezone(dt.UTC).date(), language)
    locale = LOCALES.get(language or current.get(), "en_GB")
    return format_datetime(at, "d MMMM y, HH:mm", tzinfo=UK, locale=locale)


def long_date(value: dt.date, language: str | None = None) -> str:
    """``7 December 2026`` (``7 Rhagfyr 2026``), in the reader's language unless given."""
    return format_date(value, "d MMMM y", locale=LOCALES.get(language or current.get(), "en_GB"))


def day(value: dt.datetime | str | None, language: str | None = None) -> str:
    """The day only (``7 Dec 2026``), in UK time unless the event is date-only."""
    at = moment(value)
    if at is None:
        return ""
    d = at.astimezone(dt.UTC).date() if date_only(at) else at.astimezone(UK).date()
    return format_date(d, "d MMM y", locale=LOCALES.get(language or current.get(), "en_GB"))


@dataclass(frozen=True)
class Names:
    """Names of the agencies (the register) and schools (the reference data) the pages show."""

    agencies: dict[str, dict[str, str | None]] = field(default_factory=dict)
    schools: dict[str, str] = field(default_factory=dict)

    def agency(self, agency_type: str, agency_id: str) -> str:
        if agency_type == "school" and agency_id in self.schools:
            return self.schools[agency_id]
        entry = self.agencies.get(agency_id)
        if entry and entry.get("name"):
            return str(entry["name"])
        return f"{translate(AGENCY_TYPE_NAMES.get(agency_type, agency_type))} {agency_id}"

    def by_id(self, agency_id: str) -> str:
        """The agency's name from the register, or its id when it is not registered."""
        entry = self.agencies.get(agency_id)
        return str(entry["name"]) if entry and entry.get("name") else agency_id

    def contact(self, agency_id: str) -> str | None:
        entry = self.agencies.get(agency_id)
        return entry.get("contact") if entry else None

    def school(self, school_id: str) -> str:
        return self.schools.get(school_id, f"{translate('school')} {school_id}")


async def names_of(conn: asyncpg.Connection, evidence: Iterable[Mapping[str, Any]]) -> Names:
    """The names of the agencies and schools of these alert ``Evidence`` items."""
    items = list(evidence)
    return await load_names(
        conn,
        {e["agency_id"] for e in items},
        {e["agency_id"] for e in items if e["agency_type"] == "school"},
    )


async def load_names(
    conn: asyncpg.Connection, agency_ids: set[str] | None = None, school_ids: set[str] | None = None
) -> Names:
    """The names of these agencies and schools (every one, when not given)."""
    agencies = await conn.fetch(
        "SELECT agency_id, name, contact FROM agencies WHERE $1::text[] IS NULL"
        " OR agency_id = ANY($1)",
        sorted(agency_ids) if agency_ids is not None else None,
    )
    schools = await conn.fetch(
        "SELECT school_id, name FROM schools WHERE $1::text[] IS NULL OR school_id = ANY($1)",
        sorted(school_ids) if school_ids is not None else None,
    )
    return Names(
        {r["agency_id"]: {"name": r["name"], "contact": r["contact"]} for r in agencies},
        {r["school_id"]: r["name"] for r in schools},
    )


def area(code: str, language: str | None = None) -> str:
    return area_name(code, language or current.get())


def row_view(alert: dict[str, Any]) -> dict[str, Any]:
    """The words of one alert's row in the list, in the reader's language (the page and its
    live feed show the same)."""
    kind = translate(KIND_NAMES.get(alert["kind"], alert["kind"]))
    home = area(alert["local_authority"])
    status = alert["status"]
    return {
        "kind": kind,
        "area": home,
        "also": [area(c) for c in alert["local_authorities"]],
        "first": day(alert["first_evidence_at"]),
        "last": day(alert["last_evidence_at"]),
        "level": translate(alert["level"]),
        "status": translate("escalated after closure")
        if status == "reopened"
        else translate(status),
        "episode": translate(alert.get("episode_status") or "open"),
        "link": translate(LINKS[alert["kind"]][alert["level"]]) % {"area": home}
        if alert["kind"] in LINKS and alert["level"] in LINKS[alert["kind"]]
        else f"{kind}, {home}",
    }


#: Each row's link says which alert it opens (whole phrases, so each language can word them).
LINKS = {
    "combined_concern": {
        "critical": N_("Critical combined concern, %(area)s"),
        "high": N_("High combined concern, %(area)s"),
        "medium": N_("Medium combined concern, %(area)s"),
        "low": N_("Low combined concern, %(area)s"),
    },
    "missing_from_education": {
        "critical": N_("Critical missing education, %(area)s"),
        "high": N_("High missing education, %(area)s"),
        "medium": N_("Medium missing education, %(area)s"),
        "low": N_("Low missing education, %(area)s"),
    },
}


def plain(
    text: str, evidence: list[dict[str, Any]], names: Names, descriptions: dict[str, str]
) -> str:
    """A stored reason in plain words: the agencies and schools of its evidence by name, and
    indicator codes by what they mean (older alerts carry only the English sentence)."""
    for e in evidence:
        agency = names.agency(e["agency_type"], e["agency_id"])
        text = text.replace(f"{e['agency_type']} {e['agency_id']}", agency)
        if e["agency_type"] == "school":
            text = re.sub(rf"\bSchool {re.escape(e['agency_id'])}\b", agency, text)
    codes = sorted(descriptions, key=len, reverse=True)
    if codes:
        pattern = re.compile(r"\b(" + "|".join(re.escape(c) for c in codes) + r")\b")
        text = pattern.sub(lambda m: "“" + descriptions[m.group(1)].rstrip(".") + "”", text)
    return text
