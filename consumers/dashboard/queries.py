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
    "changed_alerts",
    "finished_alerts",
    "may_decide",
    "may_see",
    "open_page",
    "pending_proposals",
]

#: How the open list may be sorted: most urgent first, longest open first, newest first.
SORTS = {
    "urgent": "status = 'reopened' DESC, array_position($5::text[], level), last_evidence_at DESC",
    "oldest": "first_evidence_at, array_position($5::text[], level)",
    "newest": "last_evidence_at DESC, array_position($5::text[], level)",
}

_ROW = """alert_id, child_ref, kind, level, local_authority, local_authorities, agencies,
          first_evidence_at, last_evidence_at, version, status, episode_status, status_reason,
          reopened_after_closure, closed_by, closure_outcome, closed_reason, assignee,
          updated_at"""


#: The alerts user $1 may see: every one for an administrator (NULL), else those of their
#: authority or naming it among those involved (``may_see``, in SQL).
_VISIBLE = "($1::text IS NULL OR local_authority = $1 OR $1 = ANY(local_authorities))"


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dict(record).items()
    }


async def changed_alerts(
    conn: asyncpg.Connection, user: User, since: dt.datetime
) -> list[dict[str, Any]]:
    """Every alert the user may see that changed since ``since``, whatever its status, so a
    live list can add new ones and drop those that ended, were withdrawn or closed; reopened
    ones first, then most urgent."""
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM alerts WHERE {_VISIBLE} AND updated_at > $2"  # noqa: S608 - fixed text
        " ORDER BY status = 'reopened' DESC, array_position($3::text[], level),"
        " last_evidence_at DESC LIMIT 500",
        None if user.is_admin else user.local_authority,
        since,
        list(LEVELS),
    )
    return [_row(r) for r in rows]


async def open_page(
    conn: asyncpg.Connection,
    user: User,
    *,
    level: str | None,
    kind: str | None,
    sort: str,
    page: int,
    per_page: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the open alerts the user may see, in ``sort`` order, and how many there are."""
    where = (
        f" WHERE {_VISIBLE}"
        " AND ($2::text IS NULL OR level = $2) AND ($3::text IS NULL OR kind = $3)"
        " AND status <> 'closed' AND episode_status = 'open'"
    )
    args = (None if user.is_admin else user.local_authority, level, kind)
    total = await conn.fetchval("SELECT count(*) FROM alerts" + where, *args)  # noqa: S608
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM alerts{where}"  # noqa: S608 - fixed text
        f" ORDER BY {SORTS[sort]}, alert_id LIMIT $6 OFFSET $4",
        *args,
        (page - 1) * per_page,
        list(LEVELS),
        per_page,
    )
    return [_row(r) for r in rows], int(total)


async def child_alerts(conn: asyncpg.Connection, alert_id: str) -> list[asyncpg.Record]:
    """Every alert of the child of ``alert_id``: of its reference, of the references linked into
    it, and of any child whose links include it; oldest first."""
    return list(
        await conn.fetch(
            "WITH seed AS (SELECT child_ref, linked_refs FROM alerts WHERE alert_id = $1),"
            " refs AS (SELECT child_ref AS ref FROM seed"
            "   UNION SELECT unnest(linked_refs) FROM seed"
            "   UNION SELECT a.child_ref FROM alerts a, seed"
            "     WHERE a.linked_refs @> ARRAY[seed.child_ref])"
            " SELECT * FROM alerts WHERE child_ref IN (SELECT ref FROM refs)"
            " ORDER BY first_evidence_at, alert_id",
            alert_id,
        )
    )


async def child_history(
    conn: asyncpg.Connection, alert_ids: list[str]
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Every version of these alerts, and every action practitioners took on them."""
    versions = await conn.fetch(
        "SELECT alert_id, version, level, rule_id, raised_at, evidence, reasons, status,"
        " status_reason, received_at, reason_codes, status_reason_code FROM alert_versions"
        " WHERE alert_id = ANY($1)"
        " ORDER BY raised_at, alert_id, version",
        alert_ids,
    )
    actions = await conn.fetch(
        "SELECT at, username, action, alert_id, detail FROM audit"
        " WHERE alert_id = ANY($1) AND action IN ('acknowledge', 'assign', 'close')"
        " ORDER BY at, id",
        alert_ids,
    )
    return list(versions), list(actions)


async def finished_alerts(conn: asyncpg.Connection, user: User) -> list[dict[str, Any]]:
    """Alerts the user may see that ended or were withdrawn in the last 30 days, newest first."""
    rows = await conn.fetch(
        f"SELECT {_ROW} FROM alerts WHERE {_VISIBLE}"  # noqa: S608 - fixed text
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
