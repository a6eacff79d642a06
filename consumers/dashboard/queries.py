"""The dashboard's reads and its audit trail in PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from consumers.users import User
from schemas.catalogue import KINDS, OUTCOMES
from schemas.catalogue import LEVELS as RISING

LEVELS = tuple(reversed(RISING))
"""Most urgent first, as the list shows them."""
__all__ = [
    "KINDS",
    "LEVELS",
    "OUTCOMES",
    "audit",
    "finished_alerts",
    "may_decide",
    "may_see",
    "open_alerts",
    "pending_proposals",
]

_ROW = """alert_id, child_ref, kind, level, local_authority, local_authorities, agencies,
          first_evidence_at, last_evidence_at, version, status, episode_status, status_reason,
          reopened_after_closure, closed_by, closure_outcome, closed_reason, assignee,
          updated_at"""


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
    """Open alerts the user may see (their authority's, or naming it among those involved),
    reopened ones first, then most urgent; with ``since``, every alert changed since then,
    whatever its status, so a live list can drop those that ended, were withdrawn or closed."""
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM alerts"  # noqa: S608 - fixed column list
        " WHERE ($1::text IS NULL OR local_authority = $1 OR $1 = ANY(local_authorities))"
        " AND ($2::text IS NULL OR level = $2) AND ($3::text IS NULL OR kind = $3)"
        " AND CASE WHEN $4::timestamptz IS NULL"
        "   THEN status <> 'closed' AND episode_status = 'open' ELSE updated_at > $4 END"
        " ORDER BY status = 'reopened' DESC, array_position($5::text[], level),"
        " last_evidence_at DESC LIMIT 500",
        None if user.is_admin else user.local_authority,
        level,
        kind,
        since,
        list(LEVELS),
    )
    return [_row(r) for r in rows]


async def finished_alerts(conn: asyncpg.Connection, user: User) -> list[dict[str, Any]]:
    """Alerts the user may see that ended or were withdrawn in the last 30 days, newest first."""
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM alerts"  # noqa: S608 - fixed column list
        " WHERE ($1::text IS NULL OR local_authority = $1 OR $1 = ANY(local_authorities))"
        " AND episode_status <> 'open' AND updated_at > now() - interval '30 days'"
        " ORDER BY updated_at DESC LIMIT 50",
        None if user.is_admin else user.local_authority,
    )
    return [_row(r) for r in rows]


def may_see(user: User, alert: asyncpg.Record) -> bool:
    """An administrator sees every alert; a practitioner those of their authority or naming it."""
    return user.is_admin or user.local_authority in (
        alert["local_authority"],
        *alert["local_authorities"],
    )


async def pending_proposals(conn: asyncpg.Connection, user: User) -> list[asyncpg.Record]:
    """Proposed links waiting for a decision, in the user's area (all, for an administrator),
    most alike first."""
    return list(
        await conn.fetch(
            "SELECT * FROM link_proposals WHERE status = 'pending'"
            " AND ($1::text IS NULL OR $1 = ANY(local_authorities))"
            " ORDER BY similarity DESC, proposed_at LIMIT 200",
            None if user.is_admin else user.local_authority,
        )
    )


def may_decide(user: User, proposal: asyncpg.Record) -> bool:
    """An administrator decides any proposal; a practitioner those from their area."""
    return user.is_admin or user.local_authority in proposal["local_authorities"]


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


async def audit_entries(
    conn: asyncpg.Connection,
    *,
    user: str | None,
    alert: str | None,
    action: str | None,
    limit: int,
) -> tuple[list[asyncpg.Record], int]:
    """The newest ``limit`` audit entries that match, and how many match in all."""
    where = (
        " WHERE ($1::text IS NULL OR username = $1) AND ($2::text IS NULL OR alert_id = $2)"
        " AND ($3::text IS NULL OR action = $3)"
    )
    rows = await conn.fetch(
        "SELECT at, username, action, alert_id, detail FROM audit"  # noqa: S608 - fixed text
        + where
        + " ORDER BY id DESC LIMIT $4",
        user,
        alert,
        action,
        limit,
    )
    total = await conn.fetchval("SELECT count(*) FROM audit" + where, user, alert, action)  # noqa: S608
    return list(rows), int(total)


async def audit_actions(conn: asyncpg.Connection) -> list[str]:
    """Every kind of entry the audit holds, for the filter."""
    return [r["action"] for r in await conn.fetch("SELECT DISTINCT action FROM audit ORDER BY 1")]
