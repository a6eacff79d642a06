"""The alert store: both alert topics into PostgreSQL, idempotent and restart-safe.

Run with ``safeguard alert-store``. An ``AlertConsumer`` (``consumers.follow``: decode, commit
after, dead-letter, retry) reads ``safeguarding.alerts.concern.v1`` and
``safeguarding.alerts.education.v1``. Each partition's batch is written in one transaction: every
version into ``alert_versions`` (``ON CONFLICT (alert_id, version) DO NOTHING``) and the newest
into ``alerts``; a record PostgreSQL refuses goes to the dead-letter topic and the others are
stored. A version more than one above the newest stored of its alert (or a first version other
than 1) is not the worker's: it goes to the dead-letter topic too, so a forged alert with a huge
version can never hide the genuine versions that follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from consumers.follow import CODEC, AlertConsumer, StoringConsumer
from consumers.retention import erased_at
from safeguard.kernel import ops
from safeguard.kernel.errors import InvalidRecordError, SafeguardError
from safeguard.kernel.settings import Settings
from schemas.catalogue import LEVELS

GROUP_SUFFIX = "alert-store"


class VersionJumpError(SafeguardError):
    """An alert version more than one above the newest the store holds of that alert."""


_VERSION = """
INSERT INTO alert_versions (alert_id, version, level, rule_id, rule_version, raised_at, evidence,
                            reasons, actions, payload, source, status, status_reason,
                            reason_codes, status_reason_code)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12, $13, $14::jsonb,
        $15::jsonb)
ON CONFLICT (alert_id, version) DO NOTHING
"""
#: The newest version wins. A practitioner's closure never hides what came after it: a newer
#: version that the worker marks as reopened, or with a higher level or newer evidence than
#: the closed one (a closure the worker had not yet read), makes the alert ``reopened``.
_CURRENT = """
INSERT INTO alerts (alert_id, child_ref, kind, version, level, rule_id, rule_version,
                    local_authority, agencies, family_move, first_evidence_at, last_evidence_at,
                    raised_at, episode_status, status_reason, reopened_after_closure,
                    local_authorities, linked_refs, merged_into, status_reason_code)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $19, $20,
        $21::jsonb)
ON CONFLICT (alert_id) DO UPDATE SET
    status = CASE
        WHEN alerts.status = 'closed' AND EXCLUDED.episode_status = 'open' AND (
            EXCLUDED.reopened_after_closure
            OR array_position($18::text[], EXCLUDED.level)
               > array_position($18::text[], alerts.level)
            OR EXCLUDED.last_evidence_at > alerts.last_evidence_at)
        THEN 'reopened'
        ELSE alerts.status END,
    version = EXCLUDED.version, level = EXCLUDED.level, rule_id = EXCLUDED.rule_id,
    rule_version = EXCLUDED.rule_version, local_authority = EXCLUDED.local_authority,
    agencies = EXCLUDED.agencies, family_move = EXCLUDED.family_move,
    first_evidence_at = EXCLUDED.first_evidence_at, last_evidence_at = EXCLUDED.last_evidence_at,
    raised_at = EXCLUDED.raised_at, episode_status = EXCLUDED.episode_status,
    status_reason = EXCLUDED.status_reason, status_reason_code = EXCLUDED.status_reason_code,
    reopened_after_closure = EXCLUDED.reopened_after_closure,
    local_authorities = EXCLUDED.local_authorities, linked_refs = EXCLUDED.linked_refs,
    merged_into = EXCLUDED.merged_into, updated_at = now()
WHERE alerts.version < EXCLUDED.version
"""


def rows(
    alert: dict[str, Any], payload: bytes, source: str
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The ``alert_versions`` and ``alerts`` rows for one decoded alert."""
    evidence = alert["evidence"]
    if not evidence:
        raise InvalidRecordError(
            "evidence: empty; an alert holds at least one piece of evidence", field="evidence"
        )
    times = [e["observed_at"] for e in evidence]
    code = alert["status_reason_code"]
    status_code = json.dumps(code) if code is not None else None
    as_json = [{**e, "observed_at": e["observed_at"].isoformat()} for e in evidence]
    version = (
        alert["alert_id"],
        alert["version"],
        alert["level"],
        alert["rule_id"],
        alert["rule_version"],
        alert["raised_at"],
        json.dumps(as_json),
        json.dumps(alert["reasons"]),
        json.dumps(alert["actions"]),
        payload,
        source,
        alert["status"],
        alert["status_reason"],
        json.dumps(alert["reason_codes"]),
        status_code,
    )
    current = (
        alert["alert_id"],
        alert["child_ref"],
        alert["kind"],
        alert["version"],
        alert["level"],
        alert["rule_id"],
        alert["rule_version"],
        alert["local_authority"],
        len({(e["agency_type"], e["agency_id"]) for e in evidence}),
        alert["family_move"],
        min(times),
        max(times),
        alert["raised_at"],
        alert["status"],
        alert["status_reason"],
        alert["reopened_after_closure"],
        alert["local_authorities"],
        list(LEVELS),
        list(alert["linked_refs"]),
        alert["merged_into"],
        status_code,
    )
    return version, current


async def store_alert(conn: asyncpg.Connection, payload: bytes, source: str) -> None:
    """Store one encoded alert (what the store does for each record, without Kafka)."""
    version, current = rows(CODEC.decode(payload), payload, source)
    async with conn.transaction():
        await conn.execute(_VERSION, *version)
        await conn.execute(_CURRENT, *current)


async def serve(settings: Settings, endpoints: socket.socket | None = None) -> None:
    """Run the store until SIGTERM or SIGINT, finishing the batch in hand; its health and
    metrics are served on ``endpoints`` (bound by the caller: ``safeguard.kernel.ops.bind``)."""
    import signal

    from consumers.proposals import ProposalStore
    from consumers.schools import SchoolStore

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    alerts, proposals, schools = (
        AlertStore(settings),
        ProposalStore(settings),
        SchoolStore(settings),
    )
    ops_task = None
    if endpoints is not None:
        checks: dict[str, ops.Check] = {
            "broker": ops.BrokerCheck(settings, "alert-store"),
            "database": ops.database_check(lambda: alerts.pool),
            "consumers": consuming(alerts, proposals, schools),
        }
        ops_task = asyncio.create_task(ops.serve(ops.ops_app("alert-store", checks), endpoints))
    try:
        # Proposed links and the schools' names are stored beside the alerts; any one of them
        # failing stops the process.
        await asyncio.gather(
            alerts.run(stop=stop), proposals.run(stop=stop), schools.run(stop=stop)
        )
    finally:
        if ops_task is not None:
            ops_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ops_task


def consuming(*parts: AlertConsumer) -> ops.Check:
    """Readiness: each consumer runs and has its partitions."""

    async def check() -> None:
        waiting = [p.name for p in parts if p.consumer is None or not p.consumer.assignment()]
        if waiting:
            raise ops.NotReady(f"not yet reading (no partitions assigned): {', '.join(waiting)}")

    return check


class AlertStore(StoringConsumer):
    name = GROUP_SUFFIX

    def prepare(
        self, record: ConsumerRecord, alert: dict[str, Any]
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return rows(alert, record.value, record.topic)

    async def handle(self, batch: list[tuple[ConsumerRecord, Any]]) -> None:
        """Write one partition's batch; dead-letter a record PostgreSQL refuses, and one whose
        version jumps."""
        assert self.pool is not None, "handle is called only after open"
        async with self.pool.acquire() as conn:
            batch = await self._in_sequence(conn, batch)
            await self.write_or_reject(conn, batch, self._write)

    async def _in_sequence(
        self, conn: asyncpg.Connection, batch: list[tuple[ConsumerRecord, Any]]
    ) -> list[tuple[ConsumerRecord, Any]]:
        """The batch without versions that jump and without what was removed.

        The worker publishes every version of an alert in order on one partition, so version
        n + 2 after n (or a first version above 1) is not the worker's, and stored it would
        hide the genuine versions that follow. A version of an alert the purge or an erasure
        removed (``forgotten_alerts``), and an alert of an erased reference sent before its
        erasure (``erased_references``), are read again only by a replay or while in flight:
        they are skipped, never stored again.
        """
        ids = sorted({version[0] for _, (version, _) in batch})
        held = {
            row["alert_id"]: row["version"]
            for row in await conn.fetch(
                "SELECT alert_id, max(version) AS version FROM alert_versions"
                " WHERE alert_id = ANY($1) GROUP BY alert_id",
                ids,
            )
        }
        forgotten = {
            row["alert_id"]: row["through_version"]
            for row in await conn.fetch(
                "SELECT alert_id, through_version FROM forgotten_alerts WHERE alert_id = ANY($1)",
                ids,
            )
        }
        erased = await erased_at(conn, {current[1] for _, (_, current) in batch})
        kept = []
        for record, rows in batch:
            alert_id, version = rows[0][0], rows[0][1]
            if version <= forgotten.get(alert_id, 0) or record.timestamp <= erased.get(
                rows[1][1], -1
            ):
                self.counters["forgotten"] += 1
                continue
            newest = max(held.get(alert_id, 0), forgotten.get(alert_id, 0))
            if version > newest + 1:
                await self.reject(
                    record,
                    VersionJumpError(
                        f"version: {version} of an alert whose newest stored version is "
                        f"{newest}; versions go up by one"
                    ),
                )
                continue
            held[alert_id] = max(newest, version)
            kept.append((record, rows))
        return kept

    async def _write(
        self, conn: asyncpg.Connection, batch: list[tuple[ConsumerRecord, Any]]
    ) -> None:
        if not batch:
            return
        async with conn.transaction():
            await conn.executemany(_VERSION, [version for _, (version, _) in batch])
            await conn.executemany(_CURRENT, [current for _, (_, current) in batch])
        self.counters["stored"] += len(batch)
