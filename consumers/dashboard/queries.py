"""The dashboard's reads and its audit trail in PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from consumers.users import User
from schemas.catalogue import KINDS
from schemas.catalogue import LEVELS as RISING

LEVELS = tuple(reversed(RISING))
"""Most urgent first, as the list shows them."""
__all__ = ["KINDS", "LEVELS", "audit", "open_alerts"]

_ROW = """alert_id, child_ref, kind, level, local_authority, agencies, first_evidence_at,
          last_evidence_at, version, status, assignee, updated_at"""


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dict(record).items()
    }


async def open_alerts(
    conn: asyncpg.Connection,
    user: User,
    level: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Open alerts the user may see, most urgent first; with ``since``, only those changed."""
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM alerts WHERE status <> 'closed'"  # noqa: S608 - fixed column list
        " AND ($1::text IS NULL OR local_authority = $1)"
        " AND ($2::text IS NULL OR level = $2) AND ($3::text IS NULL OR kind = $3)"
        " AND ($4::timestamptz IS NULL OR updated_at > $4)"
        " ORDER BY array_position($5::text[], level), last_evidence_at DESC LIMIT 500",
        None if user.is_admin else user.local_authority,
        level,
        kind,
        since,
        list(LEVELS),
    )
    return [_row(r) for r in rows]


async def audit(
    conn: asyncpg.Connection,
    user: User,
    action: str,
    alert_id: str | None,
    detail: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit (username, action, alert_id, detail) VALUES ($1, $2, $3, $4)",
        user.username,
        action,
        alert_id,
        detail,
    )
