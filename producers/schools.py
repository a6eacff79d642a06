"""School reference data from a CSV file onto the compacted schools topic.

Columns (a header row is required)::

    school_id,name,local_authority,near_port_of_entry
    6612001,Ysgol Uwchradd Caergybi,W06000001,yes

``near_port_of_entry`` takes yes/no, true/false or 1/0. Each row is validated; rejected rows are
reported with their line number and reason, and never stop the accepted rows from being published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from producers.imports import Row, rows
from safeguard.kernel.errors import CodecError, InvalidRecordError
from schemas.codec import EventCodec

COLUMNS = ("school_id", "name", "local_authority", "near_port_of_entry")
_TRUE = {"yes", "y", "true", "1"}
_FALSE = {"no", "n", "false", "0", ""}


@dataclass
class SchoolFile:
    """What a schools CSV holds: encoded records by school id, and rejected lines with why."""

    records: list[tuple[bytes, bytes]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


def read_schools(path: Path) -> SchoolFile:
    codec = EventCodec("school")
    result = SchoolFile()
    for line, row in rows(path, COLUMNS):
        try:
            school = _school(row)
            result.records.append((school["school_id"].encode(), codec.encode(school)))
        except CodecError as exc:
            result.rejected.append((line, str(exc)))
    return result


def _school(row: Row) -> dict[str, Any]:
    flag = row["near_port_of_entry"].lower()
    if flag not in _TRUE | _FALSE:
        raise InvalidRecordError(
            f"near_port_of_entry: {flag!r} is not yes or no", field="near_port_of_entry", value=flag
        )
    school = {
        "school_id": row["school_id"],
        "name": row["name"],
        "local_authority": row["local_authority"],
        "near_port_of_entry": flag in _TRUE,
    }
    for column in ("school_id", "name", "local_authority"):
        if not school[column]:
            raise InvalidRecordError(f"{column}: is empty", field=column, value="")
    return school
