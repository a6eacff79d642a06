"""Retention and erasure in the database: how long each kind of row is kept, and one child's
data removed everywhere the database holds it.

Retention (``purge``; ``safeguard purge``, once or every few hours):

- an alert whose episode is over (ended or withdrawn) goes with every version of it
  ``alert_retention_days`` after its last change; an open alert is never purged, however old;
- the audit trail: ``audit_retention_days`` (six years by default);
- the intake's accepted-event records and identity proposals: ``source_retention_days`` after
  they were received (the events themselves have left their topics by then);
- sessions: a day after they ended or expired;
- what the purge and erasures leave so that nothing removed comes back (``forgotten_alerts``,
  ``erased_references``): ``source_retention_days``, when no record they stand against can be
  read again from a topic.

Erasure (``erase_in_database``, after the worker has been sent the erasures): every alert of the
references (current rows and versions), the intake's records of their events, the identity
proposals naming them; their alerts' ids are kept in ``forgotten_alerts`` and the references
only as digests in ``erased_references``. Audit rows about their alerts keep who did what and
when (the audit is the partnership's record of access) but lose their free text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import asyncpg

from safeguard.kernel.settings import Settings
from schemas.validation import reference_digest

ERASED_DETAIL = "(erased)"


@dataclass
class Purged:
    """How many rows of each kind a purge removed (or would remove, on a dry run)."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


#: name -> (the rows' condition with $1 the cutoff, the setting that gives the cutoff's days)
_PURGES: dict[str, tuple[str, str, str]] = {
    "alert versions": (
        "alert_versions",
        "alert_id IN (SELECT alert_id FROM alerts WHERE episode_status IN ('ended', 'withdrawn')"
        " AND updated_at < $1)",
        "alert_retention_days",
    ),
    "alerts": (
        "alerts",
        "episode_status IN ('ended', 'withdrawn') AND updated_at < $1",
        "alert_retention_days",
    ),
    "audit rows": ("audit", "at < $1", "audit_retention_days"),
    "intake records": ("intake_events", "received_at < $1", "source_retention_days"),
    "identity proposals": ("link_proposals", "received_at < $1", "source_retention_days"),
    "forgotten alert ids": ("forgotten_alerts", "forgotten_at < $1", "source_retention_days"),
    "erased references": ("erased_references", "erased_at < $1", "source_retention_days"),
    "sessions": (
        "sessions",
        "COALESCE(ended_at, expires_at) < $1",
        "",
    ),
}


async def purge(
    conn: asyncpg.Connection, settings: Settings, *, now: dt.datetime, dry_run: bool = False
) -> Purged:
    """Remove (or, with ``dry_run``, count) every row past its retention, in one transaction."""
    result = Purged()
    async with conn.transaction():
        if not dry_run:  # the purged alerts' ids stay known, so a replay does not restore them
            cutoff = now - dt.timedelta(days=settings.alert_retention_days)
            await conn.execute(
                "INSERT INTO forgotten_alerts (alert_id, through_version, why)"
                " SELECT alert_id, version, 'retention' FROM alerts"
                " WHERE episode_status IN ('ended', 'withdrawn') AND updated_at < $1"
                " ON CONFLICT (alert_id) DO UPDATE SET through_version ="
                " GREATEST(forgotten_alerts.through_version, EXCLUDED.through_version)",
                cutoff,
            )
        for name, (table, condition, days_setting) in _PURGES.items():
            days = getattr(settings, days_setting) if days_setting else 1
            cutoff = now - dt.timedelta(days=days)
            # Table and condition are this module's constants; only the cutoff is a parameter.
            if dry_run:
                query = f"SELECT count(*) FROM {table} WHERE {condition}"  # noqa: S608
                count = await conn.fetchval(query, cutoff)
            else:
                query = f"DELETE FROM {table} WHERE {condition}"  # noqa: S608
                status = await conn.execute(query, cutoff)
                count = int(status.split()[-1])
            result.counts[name] = count
    return result


async def erased_at(conn: asyncpg.Connection, refs: set[str]) -> dict[str, int]:
    """Of ``refs``, those erased, with the time of their erasure (ms): a record of one sent
    before it is a copy of what was removed."""
    digests = {reference_digest(ref): ref for ref in refs}
    rows = await conn.fetch(
        "SELECT ref_digest, erased_at FROM erased_references WHERE ref_digest = ANY($1)",
        sorted(digests),
    )
    return {digests[r["ref_digest"]]: int(r["erased_at"].timestamp() * 1000) for r in rows}


async def linked_references(conn: asyncpg.Connection, refs: set[str]) -> set[str]:
    """``refs`` and every reference the database knows to be the same child: joined on an
    alert (``linked_refs``, ``merged_into``) or by a confirmed proposal, followed to the end."""
    found, frontier = set(refs), set(refs)
    while frontier:
        seen = sorted(frontier)
        rows = await conn.fetch(
            "SELECT child_ref, linked_refs, merged_into FROM alerts"
            " WHERE child_ref = ANY($1) OR linked_refs && $1 OR merged_into = ANY($1)",
            seen,
        )
        more: set[str] = set()
        for row in rows:
            more |= {row["child_ref"], *row["linked_refs"]}
            if row["merged_into"]:
                more.add(row["merged_into"])
        for row in await conn.fetch(
            "SELECT ref_a, ref_b FROM link_proposals WHERE status = 'confirmed'"
            " AND (ref_a = ANY($1) OR ref_b = ANY($1))",
            seen,
        ):
            more |= {row["ref_a"], row["ref_b"]}
        frontier = more - found
        found |= more
    return found


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed from the database."""

    references: int
    alerts: int
    versions: int
    intake_records: int
    proposals: int
    audit_rows_redacted: int

    @classmethod
    def of(cls, references: int, alerts: int | str, *statuses: str) -> ErasureReport:
        """From the counts, and PostgreSQL's status of each DELETE or UPDATE (``DELETE 3``):
        versions, intake records, proposals, audit rows redacted."""
        versions, intake, proposals, redacted = (_count(s) for s in statuses)
        alerts = alerts if isinstance(alerts, int) else _count(alerts)
        return cls(references, alerts, versions, intake, proposals, redacted)


async def erase_in_database(
    conn: asyncpg.Connection,
    refs: set[str],
    *,
    erasure_id: str,
    erased_at: dt.datetime,
    username: str,
) -> ErasureReport:
    """Remove the references' data in one transaction, audited under ``username``."""
    refs_list = sorted(refs)
    async with conn.transaction():
        alerts = await conn.fetch(
            "SELECT alert_id, version FROM alerts WHERE child_ref = ANY($1)", refs_list
        )
        ids = [row["alert_id"] for row in alerts]
        await conn.executemany(
            "INSERT INTO forgotten_alerts (alert_id, through_version, why)"
            " VALUES ($1, $2, 'erasure') ON CONFLICT (alert_id) DO UPDATE SET why = 'erasure',"
            " through_version = GREATEST(forgotten_alerts.through_version, $2),"
            " forgotten_at = now()",
            [(row["alert_id"], row["version"]) for row in alerts],
        )
        versions = await conn.execute("DELETE FROM alert_versions WHERE alert_id = ANY($1)", ids)
        await conn.execute("DELETE FROM alerts WHERE alert_id = ANY($1)", ids)
        intake = await conn.execute(
            "DELETE FROM intake_events WHERE child_ref = ANY($1)", refs_list
        )
        proposals = await conn.execute(
            "DELETE FROM link_proposals WHERE ref_a = ANY($1) OR ref_b = ANY($1)", refs_list
        )
        redacted = await conn.execute(
            "UPDATE audit SET detail = $2 WHERE alert_id = ANY($1) AND detail IS NOT NULL"
            " AND detail <> $2",
            ids,
            ERASED_DETAIL,
        )
        await conn.executemany(
            "INSERT INTO erased_references (ref_digest, erasure_id, erased_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (ref_digest) DO UPDATE SET erasure_id = $2,"
            " erased_at = GREATEST(erased_references.erased_at, $3)",
            [(reference_digest(ref), erasure_id, erased_at) for ref in refs_list],
        )
        result = ErasureReport.of(len(refs_list), len(ids), versions, intake, proposals, redacted)
        await conn.execute(
            "INSERT INTO audit (username, action, detail) VALUES ($1, 'erase', $2)",
            username,
            f"erasure {erasure_id}: {result.references} references, {result.alerts} alerts, "
            f"{result.versions} versions, {result.intake_records} intake records, "
            f"{result.proposals} proposals removed",
        )
    return result


def _count(status: str) -> int:
    return int(status.split()[-1])


@dataclass(frozen=True)
class Forgetting:
    """What the database had removed (``forgotten_alerts`` and ``erased_references``), read
    before a restore so that restoring an older backup brings none of it back."""

    forgotten: list[tuple[str, int, str]]
    erased: list[tuple[str, str, dt.datetime]]


async def what_was_forgotten(conn: asyncpg.Connection) -> Forgetting:
    """Every purged or erased alert and every erased reference; nothing on an empty schema."""
    present = await conn.fetchval("SELECT to_regclass('erased_references') IS NOT NULL")
    if not present:
        return Forgetting([], [])
    forgotten = await conn.fetch("SELECT alert_id, through_version, why FROM forgotten_alerts")
    erased = await conn.fetch("SELECT ref_digest, erasure_id, erased_at FROM erased_references")
    return Forgetting([tuple(r) for r in forgotten], [tuple(r) for r in erased])


async def keep_forgotten(conn: asyncpg.Connection, before: Forgetting) -> ErasureReport:
    """After a restore: remove again what ``before`` says was purged or erased, in one
    transaction, and keep the lists (the alert store goes on skipping it on a replay)."""
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO forgotten_alerts (alert_id, through_version, why) VALUES ($1, $2, $3)"
            " ON CONFLICT (alert_id) DO UPDATE SET"
            " through_version = GREATEST(forgotten_alerts.through_version, $2)",
            before.forgotten,
        )
        await conn.executemany(
            "INSERT INTO erased_references (ref_digest, erasure_id, erased_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (ref_digest) DO UPDATE SET"
            " erased_at = GREATEST(erased_references.erased_at, $3)",
            before.erased,
        )
        digests = [row[0] for row in before.erased]
        # Alerts of an erased reference stored before its erasure join the forgotten ones, as
        # the erasure made them; one first stored since is of new information, and stays (its
        # raised_at is event time, which may be earlier: received_at is when it was stored).
        # PostgreSQL's sha256 of 'erased:' || the reference is ``reference_digest``.
        await conn.execute(
            "INSERT INTO forgotten_alerts (alert_id, through_version, why)"
            " SELECT a.alert_id, a.version, 'erasure' FROM alerts a JOIN erased_references e"
            " ON encode(sha256(convert_to('erased:' || a.child_ref, 'UTF8')), 'hex') = e.ref_digest"
            " WHERE e.ref_digest = ANY($1) AND EXISTS (SELECT 1 FROM alert_versions v"
            " WHERE v.alert_id = a.alert_id AND v.received_at <= e.erased_at)"
            " ON CONFLICT (alert_id) DO UPDATE SET through_version ="
            " GREATEST(forgotten_alerts.through_version, EXCLUDED.through_version)",
            digests,
        )
        versions = await conn.execute(
            "DELETE FROM alert_versions v USING forgotten_alerts f"
            " WHERE v.alert_id = f.alert_id AND v.version <= f.through_version"
        )
        alerts = await conn.execute(
            "DELETE FROM alerts a USING forgotten_alerts f"
            " WHERE a.alert_id = f.alert_id AND a.version <= f.through_version"
        )
        intake = await conn.execute(
            "DELETE FROM intake_events i USING erased_references e"
            " WHERE encode(sha256(convert_to('erased:' || i.child_ref, 'UTF8')), 'hex')"
            " = e.ref_digest AND e.ref_digest = ANY($1) AND i.received_at <= e.erased_at",
            digests,
        )
        proposals = await conn.execute(
            "DELETE FROM link_proposals p USING erased_references e"
            " WHERE e.ref_digest = ANY($1) AND p.proposed_at <= e.erased_at AND e.ref_digest IN"
            " (encode(sha256(convert_to('erased:' || p.ref_a, 'UTF8')), 'hex'),"
            " encode(sha256(convert_to('erased:' || p.ref_b, 'UTF8')), 'hex'))",
            digests,
        )
        redacted = await conn.execute(
            "UPDATE audit a SET detail = $1 FROM forgotten_alerts f WHERE a.alert_id = f.alert_id"
            " AND f.why = 'erasure' AND a.detail IS NOT NULL AND a.detail <> $1",
            ERASED_DETAIL,
        )
    return ErasureReport.of(len(digests), alerts, versions, intake, proposals, redacted)
