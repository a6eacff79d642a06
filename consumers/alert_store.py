"""The alert store: both alert topics into PostgreSQL, idempotent and restart-safe.

Run with ``safeguard alert-store``. A consumer group reads ``safeguarding.alerts.concern.v1`` and
``safeguarding.alerts.education.v1`` in batches. Each batch is written in one transaction: every
version into ``alert_versions`` (``ON CONFLICT (alert_id, version) DO NOTHING``) and the newest into
``alerts``; offsets are committed only after the transaction commits, so a crash replays the batch
and the replay changes nothing. A record that cannot be decoded or stored goes to the dead-letter
topic with the reason and its original bytes, and the store carries on. A fault that is not about
a record (PostgreSQL or the broker away) is retried with backoff, reconnecting, for
``consumer_retry_seconds``; then the store exits 70 without committing the batch in hand.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from safeguard.kernel.clients import consumer_options, producer_options
from safeguard.kernel.db import connect_pool
from safeguard.kernel.errors import EXIT_FAULT, CodecError, InvalidRecordError, SafeguardError
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec
from schemas.dead_letter import dead_letter

log = logging.getLogger(__name__)
CODEC = EventCodec("alert")
GROUP_SUFFIX = "alert-store"


class StoreError(SafeguardError):
    """PostgreSQL refused a record (for example a value it cannot hold)."""


#: Errors of the database connection itself, not of a record: retried with a new connection.
CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


_VERSION = """
INSERT INTO alert_versions (alert_id, version, level, rule_id, rule_version, raised_at, evidence,
                            reasons, actions, payload, source)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11)
ON CONFLICT (alert_id, version) DO NOTHING
"""
_CURRENT = """
INSERT INTO alerts (alert_id, child_ref, kind, version, level, rule_id, rule_version,
                    local_authority, agencies, family_move, first_evidence_at, last_evidence_at,
                    raised_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (alert_id) DO UPDATE SET
    version = EXCLUDED.version, level = EXCLUDED.level, rule_id = EXCLUDED.rule_id,
    rule_version = EXCLUDED.rule_version, local_authority = EXCLUDED.local_authority,
    agencies = EXCLUDED.agencies, family_move = EXCLUDED.family_move,
    first_evidence_at = EXCLUDED.first_evidence_at, last_evidence_at = EXCLUDED.last_evidence_at,
    raised_at = EXCLUDED.raised_at, updated_at = now()
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
    )
    return version, current


async def store_alert(conn: asyncpg.Connection, payload: bytes, source: str) -> None:
    """Store one encoded alert (what the store does for each record, without Kafka)."""
    version, current = rows(CODEC.decode(payload), payload, source)
    async with conn.transaction():
        await conn.execute(_VERSION, *version)
        await conn.execute(_CURRENT, *current)


async def serve(settings: Settings) -> None:
    """Run the store until SIGTERM or SIGINT, finishing the batch in hand."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await AlertStore(settings).run(stop=stop)


class AlertStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = (settings.topic_alerts_concern, settings.topic_alerts_education)
        self.counters: Counter[str] = Counter()

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        consumer = AIOKafkaConsumer(
            *self.topics,
            **consumer_options(
                self.settings.kafka_servers, f"{self.settings.app_id}-{GROUP_SUFFIX}"
            ),
        )
        producer = AIOKafkaProducer(**producer_options(self.settings.kafka_servers))
        pool = await self.retry(lambda: connect_pool(self.settings.dsn, self.settings.dsn_redacted))
        await consumer.start()
        await producer.start()
        log.info("alert store reading %s", ", ".join(self.topics))
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, records in batches.items():
                    await self.retry(lambda records=records: self.store(pool, producer, records))
                    await self.retry(
                        lambda tp=tp, records=records: consumer.commit({tp: records[-1].offset + 1})
                    )
        finally:
            await consumer.stop()
            await producer.stop()
            await pool.close()

    async def retry(self, action: Any) -> Any:
        """Run ``action`` until it succeeds; a connection fault is retried with backoff.

        When it keeps failing for ``consumer_retry_seconds`` the store exits with code 70: the
        batch in hand is not committed, so the next start stores it.
        """
        deadline = asyncio.get_running_loop().time() + self.settings.consumer_retry_seconds
        delay = 0.5
        while True:
            try:
                return await action()
            except (*CONNECTION_ERRORS, KafkaError, SafeguardError) as exc:
                if isinstance(exc, SafeguardError) and not exc.retriable:
                    raise
                if isinstance(exc, KafkaError) and not exc.retriable:
                    raise
                if asyncio.get_running_loop().time() + delay > deadline:
                    log.critical(
                        "alert store stopping: %s for %.0fs",
                        type(exc).__name__,
                        self.settings.consumer_retry_seconds,
                    )
                    raise SystemExit(EXIT_FAULT) from exc
                log.warning("alert store: %s; retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def store(
        self, pool: asyncpg.Pool, producer: AIOKafkaProducer, records: list[ConsumerRecord]
    ) -> None:
        """Write one partition's batch; dead-letter what cannot be decoded or stored."""
        decoded: list[tuple[ConsumerRecord, tuple[Any, ...], tuple[Any, ...]]] = []
        for record in records:
            try:
                if record.value is None:
                    raise InvalidRecordError("value: null (no record at all)", field="value")
                decoded.append(
                    (record, *rows(CODEC.decode(record.value), record.value, record.topic))
                )
            except CodecError as exc:
                await self.dead_letter(producer, record, exc)
            except Exception as exc:  # any other fault of this one record: keep the others
                error = StoreError(f"{type(exc).__name__} while reading the alert")
                await self.dead_letter(producer, record, error)
        async with pool.acquire() as conn:
            try:
                await self._write(conn, decoded)
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
                for one in decoded:  # find the record PostgreSQL refuses; keep the others
                    try:
                        await self._write(conn, [one])
                    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                        await self.dead_letter(producer, one[0], StoreError(str(exc)))

    async def _write(
        self,
        conn: asyncpg.Connection,
        decoded: list[tuple[ConsumerRecord, tuple[Any, ...], tuple[Any, ...]]],
    ) -> None:
        if not decoded:
            return
        async with conn.transaction():
            await conn.executemany(_VERSION, [v for _, v, _ in decoded])
            await conn.executemany(_CURRENT, [c for _, _, c in decoded])
        self.counters["stored"] += len(decoded)

    async def dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord, error: SafeguardError
    ) -> None:
        self.counters["dead_letter"] += 1
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            type(error).__name__,
        )
        await producer.send_and_wait(
            self.settings.topic_deadletter,
            key=record.key,
            value=dead_letter(record, error, "alert-store"),
        )
