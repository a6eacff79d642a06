"""Agency files into events: CSV observations and a school information system's CSV export.

Each row is pseudonymised (the raw identifier goes no further than this module), validated and
published on its own: a bad row is rejected with its line number and reason and never stops the
good ones. Rejections are written to ``<file>.rejects.csv`` as ``line,reason`` (no personal data:
the agency finds the row in its own file).

Observations CSV (header row required; optional columns may be left out)::

    identifier_namespace,identifier,indicator,agency_type,agency_id,observed_at,local_authority,
    [event_id,date_of_birth,age_disputed,immediate_risk,source_ref]

Registrations CSV (a school MIS export)::

    identifier_namespace,identifier,school_id,local_authority,kind,effective_date,
    [event_id,deletion_ground,destination_school_id,absence_school_days,family_identifier,
     family_travelling,returned_on]

Links CSV (an agency's statements that two of its references are the same child)::

    a_namespace,a_identifier,b_namespace,b_identifier,basis,agency_type,agency_id,
    [event_id,stated_at,withdrawn,source_ref]

``basis`` is ``shared_record`` (one of the agency's records holds both identifiers),
``practitioner_confirmed`` or ``confirmed_match``; ``withdrawn`` (yes/no) takes back the agency's
own earlier statement of the same pair; ``stated_at`` defaults to now.

Encodings CSV (what an agency knows of a child without a shared identifier: encoded here with
the partnership's linkage key into a CLK, ``schemas.linkage``; the values go no further)::

    identifier_namespace,identifier,first_names,surname,agency_type,agency_id,local_authority,
    [date_of_birth,sex,postcode_district,event_id]

``sex`` is F, M or empty; ``postcode_district`` the outward code only (``CF24``).

``identifier_namespace`` is ``nhs``, ``upn`` or an opaque namespace (``police``...); times are ISO
8601 with a zone (``2026-11-03T21:40:00+00:00``), dates ISO (``2026-11-03``); flags are yes/no.
Without an ``event_id``, one is derived from the row's content, so importing a file twice
publishes each row once.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from producers.pseudonym import Pseudonymiser, rotation_link
from producers.publisher import Publisher, derived_event_id
from producers.retractions import RETRACTION_COLUMNS, retraction_record
from safeguard.kernel.errors import InvalidRecordError, SafeguardError
from schemas.linkage import SCHEME, Identity, LinkageKeys, normalise

OBSERVATION_COLUMNS = (
    "identifier_namespace",
    "identifier",
    "indicator",
    "agency_type",
    "agency_id",
    "observed_at",
    "local_authority",
)
LINK_COLUMNS = (
    "a_namespace",
    "a_identifier",
    "b_namespace",
    "b_identifier",
    "basis",
    "agency_type",
    "agency_id",
)
REGISTRATION_COLUMNS = (
    "identifier_namespace",
    "identifier",
    "school_id",
    "local_authority",
    "kind",
    "effective_date",
)
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}

Row = Mapping[str, str]


@dataclass
class ImportSummary:
    published: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejects: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, line: int, error: SafeguardError) -> None:
        self.rejected[type(error).__name__] += 1
        self.rejects.append((line, str(error)))


def rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, Row]]:
    """(line number, row) for each data row; a missing column is an error naming it."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidRecordError(f"{path.name}: missing columns: {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


def observation_from_row(
    row: Row, pseudonyms: Pseudonymiser, reported_at: dt.datetime
) -> dict[str, Any]:
    """One CSV row (text) as an observation record."""
    values = {
        **row,
        "observed_at": _time(row, "observed_at"),
        "date_of_birth": _date(row, "date_of_birth", optional=True),
        "age_disputed": _flag(row, "age_disputed"),
        "immediate_risk": _flag(row, "immediate_risk"),
    }
    return observation_record(values, pseudonyms, reported_at)


def observation_record(
    values: Mapping[str, Any], pseudonyms: Pseudonymiser, reported_at: dt.datetime
) -> dict[str, Any]:
    """An observation record from typed values (as a parsed row or the intake's model holds
    them): the identifier pseudonymised, the event id derived when none is given."""
    child_ref = pseudonyms.child_ref(values["identifier_namespace"], values["identifier"])
    observed_at = values["observed_at"].astimezone(dt.UTC)
    record = {
        "child_ref": child_ref,
        "indicator": values["indicator"],
        "agency": {"id": values["agency_id"], "type": values["agency_type"]},
        "observed_at": observed_at,
        "reported_at": reported_at,
        "local_authority": values["local_authority"],
        "date_of_birth": values.get("date_of_birth"),
        "age_disputed": bool(values.get("age_disputed")),
        "immediate_risk": bool(values.get("immediate_risk")),
        "source_ref": values.get("source_ref") or None,
    }
    record["event_id"] = values.get("event_id") or derived_event_id(
        child_ref,
        values["indicator"],
        values["agency_type"],
        values["agency_id"],
        observed_at.isoformat(),
    )
    return record


def registration_from_row(
    row: Row, pseudonyms: Pseudonymiser, reported_at: dt.datetime
) -> dict[str, Any]:
    """One CSV row (text) as a school registration record."""
    values = {
        **row,
        "effective_date": _date(row, "effective_date"),
        "absence_school_days": _int(row, "absence_school_days"),
        "family_travelling": _flag(row, "family_travelling"),
        "returned_on": _date(row, "returned_on", optional=True),
    }
    return registration_record(values, pseudonyms, reported_at)


def registration_record(
    values: Mapping[str, Any], pseudonyms: Pseudonymiser, reported_at: dt.datetime
) -> dict[str, Any]:
    """A school registration record from typed values; the family reference pseudonymised too."""
    child_ref = pseudonyms.child_ref(values["identifier_namespace"], values["identifier"])
    family = values.get("family_identifier")
    effective_date = values["effective_date"]
    record = {
        "child_ref": child_ref,
        "school_id": values["school_id"],
        "local_authority": values["local_authority"],
        "kind": values["kind"],
        "effective_date": effective_date,
        "reported_at": reported_at,
        "deletion_ground": values.get("deletion_ground") or None,
        "destination_school_id": values.get("destination_school_id") or None,
        "absence_school_days": values.get("absence_school_days"),
        "family_group_ref": pseudonyms.family_ref(family) if family else None,
        "family_travelling": bool(values.get("family_travelling")),
        "returned_on": values.get("returned_on"),
    }
    returned = values.get("returned_on")
    record["event_id"] = values.get("event_id") or derived_event_id(
        child_ref,
        values["school_id"],
        values["kind"],
        effective_date.isoformat(),
        *([f"returned {returned.isoformat()}"] if returned else []),
    )
    return record


Read = Callable[[Path], Iterator[tuple[int, Any]]]
"""(line or position, item) for each item of a file; raises for a file it cannot read at all."""
Convert = Callable[[Any, Pseudonymiser, dt.datetime], dict[str, Any]]
"""One item into one event record, pseudonymised; raises ``SafeguardError`` for a bad item."""


@dataclass(frozen=True)
class Importer:
    """One kind of agency file: how to read its items and how one item becomes one event."""

    kind: Literal["observation", "registration", "retraction", "link", "encoding"]
    read: Read
    convert: Convert


def csv_rows(columns: tuple[str, ...]) -> Read:
    return lambda path: rows(path, columns)


OBSERVATIONS = Importer("observation", csv_rows(OBSERVATION_COLUMNS), observation_from_row)
REGISTRATIONS = Importer("registration", csv_rows(REGISTRATION_COLUMNS), registration_from_row)
RETRACTIONS = Importer("retraction", csv_rows(RETRACTION_COLUMNS), retraction_record)


def link_from_row(row: Row, pseudonyms: Pseudonymiser, now: dt.datetime) -> dict[str, Any]:
    """The ``identity_link`` record of one CSV row."""
    values = {
        **row,
        "withdrawn": _flag(row, "withdrawn"),
        "stated_at": _time(row, "stated_at") if row.get("stated_at") else None,
    }
    return link_record(values, pseudonyms, now)


def link_record(
    values: Mapping[str, Any], pseudonyms: Pseudonymiser, now: dt.datetime
) -> dict[str, Any]:
    """The ``identity_link`` record of typed values (both identifiers pseudonymised here)."""
    a = pseudonyms.child_ref(values["a_namespace"], values["a_identifier"])
    b = pseudonyms.child_ref(values["b_namespace"], values["b_identifier"])
    statement = "withdrawn" if values["withdrawn"] else "stated"
    agency_type, agency_id = values["agency_type"], values["agency_id"]
    return {
        "event_id": values.get("event_id")
        or derived_event_id("link", agency_type, agency_id, *sorted((a, b)), statement),
        "ref_a": a,
        "ref_b": b,
        "basis": values["basis"],
        "agency": {"id": agency_id, "type": agency_type},
        "stated_at": values.get("stated_at") or now,
        "withdrawn": values["withdrawn"],
        "source_ref": values.get("source_ref") or None,
    }


LINKS = Importer("link", csv_rows(LINK_COLUMNS), link_from_row)
ENCODING_COLUMNS = (
    "identifier_namespace",
    "identifier",
    "first_names",
    "surname",
    "agency_type",
    "agency_id",
    "local_authority",
)


def encodings(keys: LinkageKeys) -> Importer:
    """The importer of encodings CSV files, encoding with ``keys``."""

    def convert(row: Row, pseudonyms: Pseudonymiser, now: dt.datetime) -> dict[str, Any]:
        sex = row.get("sex", "").strip().upper() or None
        if sex not in (None, "F", "M"):
            raise InvalidRecordError("sex: not F, M or empty", field="sex")
        identity = Identity(
            first_names=row["first_names"],
            surname=row["surname"],
            date_of_birth=_date(row, "date_of_birth", optional=True),
            sex=sex,
            postcode_district=row.get("postcode_district") or None,
        )
        if not (normalise(identity.first_names) or normalise(identity.surname)):
            raise InvalidRecordError("first_names: no name to encode", field="first_names")
        encoded = keys.encode(identity)
        child_ref = pseudonyms.child_ref(row["identifier_namespace"], row["identifier"])
        return {
            "event_id": row.get("event_id")
            or derived_event_id("encoding", row["agency_id"], child_ref, encoded.clk.hex()),
            "child_ref": child_ref,
            "agency": {"id": row["agency_id"], "type": row["agency_type"]},
            "local_authority": row["local_authority"],
            "scheme": SCHEME,
            "clk": encoded.clk,
            "blocks": list(encoded.blocks),
            "encoded_at": now,
        }

    return Importer("encoding", csv_rows(ENCODING_COLUMNS), convert)


def count(importer: Importer, path: Path) -> int:
    """How many items the file holds; reading them also checks its columns before any publishing."""
    return sum(1 for _ in importer.read(path))


def import_file(
    importer: Importer,
    path: Path,
    publisher: Publisher,
    pseudonyms: Pseudonymiser,
    progress: Callable[[], None] = lambda: None,
    now: dt.datetime | None = None,
) -> ImportSummary:
    """Convert, validate and publish each item of ``path``; bad items are rejected, not fatal.

    ``now`` is when the items are reported (default: the real time)."""
    now = now or dt.datetime.now(dt.UTC)

    def convert(item: Row) -> dict[str, Any]:
        pseudonyms.take_rotations()  # a row refused half-way links nothing
        return importer.convert(item, pseudonyms, now)

    return import_rows(
        importer.read(path),
        convert,
        lambda record: publish_linking_rotations(publisher, importer.kind, record, pseudonyms, now),
        progress,
    )


def publish_linking_rotations(
    publisher: Publisher,
    kind: str,
    record: dict[str, Any],
    pseudonyms: Pseudonymiser,
    now: dt.datetime,
) -> str:
    """Publish one record; while the partnership key is rotated, then link each child's
    reference under a retiring key to its reference under the current one (README, "Rotating
    the partnership key")."""
    event_id = publisher.publish(kind, record)
    rotations = pseudonyms.take_rotations()
    for rotation in rotations:
        publisher.link(rotation_link(rotation, now))
    pseudonyms.linked(rotations)
    return event_id


def import_rows(
    source: Iterator[tuple[int, Row]],
    convert: Callable[[Row], dict[str, Any]],
    publish: Callable[[dict[str, Any]], str],
    progress: Callable[[], None] = lambda: None,
) -> ImportSummary:
    summary = ImportSummary()
    for line, row in source:
        try:
            publish(convert(row))
            summary.published += 1
        except SafeguardError as exc:
            summary.reject(line, exc)
        progress()
    return summary


def write_rejects(path: Path, summary: ImportSummary) -> Path | None:
    """Write ``line,reason`` rows next to ``path``; None if nothing was rejected."""
    if not summary.rejects:
        return None
    target = path.with_name(f"{path.name}.rejects.csv")
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason"])
        writer.writerows(summary.rejects)
    return target


def _time(row: Row, column: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(row[column])
    except ValueError:
        raise InvalidRecordError(
            f"{column}: {row[column]!r} is not an ISO 8601 time", field=column, value=row[column]
        ) from None
    if value.tzinfo is None:
        raise InvalidRecordError(
            f"{column}: {row[column]!r} has no time zone (add +00:00)", field=column
        )
    return value.astimezone(dt.UTC)


def _date(row: Row, column: str, *, optional: bool = False) -> dt.date | None:
    text = row.get(column, "")
    if not text and optional:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidRecordError(
            f"{column}: {text!r} is not an ISO date (YYYY-MM-DD)", field=column, value=text
        ) from None


def _flag(row: Row, column: str) -> bool:
    text = row.get(column, "").lower()
    if text not in _YES | _NO:
        raise InvalidRecordError(f"{column}: {text!r} is not yes or no", field=column, value=text)
    return text in _YES


def _int(row: Row, column: str) -> int | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidRecordError(
            f"{column}: {text!r} is not a whole number", field=column, value=text
        ) from None
