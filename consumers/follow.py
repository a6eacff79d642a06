"""One way to consume the alert topics: decode, handle, commit after, dead-letter, retry.

An ``AlertConsumer`` reads both alert topics in a consumer group of its own, in batches per
partition. Each record is decoded and checked (``prepare``); one that cannot be goes to the
dead-letter topic with the consumer's name and the error class, and the others go on. The batch
is then handed to ``handle``, and the partition's offset is committed only after ``handle``
returns, so a crash replays the batch (handlers are idempotent). A fault that is not about a
record (the database or the broker away) is retried with backoff for ``consumer_retry_seconds``;
then the process exits 70 without committing the batch in hand.

A new consumer of alerts is a subclass::

    class Pager(AlertConsumer):
        name = "pager"

        async def handle(self, batch: list[tuple[ConsumerRecord, Any]]) -> None:
            for record, alert in batch:
                if alert["level"] == "critical":
                    await page(alert["alert_id"])
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from safeguard.kernel import metrics
from safeguard.kernel.clients import consumer_options, producer_options
from safeguard.kernel.db import connect_pool
from safeguard.kernel.errors import EXIT_FAULT, CodecError, InvalidRecordError, SafeguardError
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec
from schemas.dead_letter import dead_letter

log = logging.getLogger(__name__)
CODEC = EventCodec("alert")
T = TypeVar("T")

#: Errors of a connection itself, not of a record: retried (with a new connection).
CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


class RecordError(SafeguardError):
    """A record raised an error no bad input is expected to cause (its class is named)."""


class AlertConsumer:
    """Subclass, set ``name``, and write ``handle`` (and ``prepare``, ``open``, ``close``).
    ``codec`` and ``subscribe`` make it a consumer of another event's topics."""

    name = "alerts"
    codec = CODEC

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = self.subscribe(settings)
        self.counters: Counter[str] = Counter()
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.group = f"{settings.app_id}-{self.name}"
        self._lag_shown_at = 0.0

    def subscribe(self, settings: Settings) -> tuple[str, ...]:
        """The topics read: both alert topics."""
        return (settings.topic_alerts_concern, settings.topic_alerts_education)

    def prepare(self, record: ConsumerRecord, alert: dict[str, Any]) -> Any:
        """What ``handle`` gets for one decoded alert; raise ``SafeguardError`` to reject it."""
        return alert

    async def handle(self, batch: list[tuple[ConsumerRecord, Any]]) -> None:
        """Act on one partition's batch; ``reject`` a record that cannot be handled."""
        raise NotImplementedError

    async def open(self) -> None:
        """Connect what ``handle`` needs (called through ``retry``)."""

    async def close(self) -> None:
        """Release what ``open`` connected."""

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        consumer = AIOKafkaConsumer(
            *self.topics, **consumer_options(self.settings, "alert-store", self.group)
        )
        self.producer = AIOKafkaProducer(**producer_options(self.settings, "alert-store"))
        await self.retry(self.open)
        await consumer.start()
        await self.producer.start()
        self.consumer = consumer
        log.info("%s reading %s", self.name, ", ".join(self.topics))
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, records in batches.items():
                    batch = [item for r in records if (item := await self._decode(r)) is not None]
                    started = time.perf_counter()
                    await self.retry(functools.partial(self.handle, batch))
                    metrics.store_write_latency.labels(tp.topic).observe(
                        time.perf_counter() - started
                    )
                    await self.retry(
                        functools.partial(consumer.commit, {tp: records[-1].offset + 1})
                    )
                    rejected = {id(r) for r in records} - {id(r) for r, _ in batch}
                    for record in records:
                        outcome = "dead_letter" if id(record) in rejected else "done"
                        metrics.record_done(
                            self.group, record.topic, record.timestamp / 1000, outcome
                        )
                await self._show_lag(consumer)
        finally:
            self.consumer = None
            await consumer.stop()
            await self.producer.stop()
            await self.close()

    async def _show_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Every few seconds: ``safeguard_consumer_lag_records`` of each partition read."""
        now = time.monotonic()
        if now - self._lag_shown_at < 5.0:
            return
        self._lag_shown_at = now
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue  # nothing fetched from it yet: the first fetch tells
            position = await consumer.position(tp)
            metrics.consumer_lag.labels(self.group, tp.topic, str(tp.partition)).set(
                max(end - position, 0)
            )

    async def _decode(self, record: ConsumerRecord) -> tuple[ConsumerRecord, Any] | None:
        try:
            if record.value is None:
                raise InvalidRecordError("value: null (no record at all)", field="value")
            return record, self.prepare(record, self.codec.decode(record.value))
        except CodecError as exc:
            await self.reject(record, exc)
        except Exception as exc:  # any other fault of this one record: keep the others
            await self.reject(record, RecordError(f"{type(exc).__name__} while reading the alert"))
        return None

    async def retry(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run ``action`` until it succeeds; a connection fault is retried with backoff.

        When it keeps failing for ``consumer_retry_seconds`` the process exits with code 70:
        the batch in hand is not committed, so the next start handles it.
        """
        deadline = asyncio.get_running_loop().time() + self.settings.consumer_retry_seconds
        delay = 0.5
        while True:
            try:
                return await action()
            except (*CONNECTION_ERRORS, KafkaError, SafeguardError) as exc:
                if isinstance(exc, SafeguardError | KafkaError) and not exc.retriable:
                    raise
                if asyncio.get_running_loop().time() + delay > deadline:
                    log.critical(
                        "%s stopping: %s for %.0fs",
                        self.name,
                        type(exc).__name__,
                        self.settings.consumer_retry_seconds,
                    )
                    raise SystemExit(EXIT_FAULT) from exc
                log.warning("%s: %s; retrying in %.1fs", self.name, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def reject(self, record: ConsumerRecord, error: SafeguardError) -> None:
        """Send ``record`` to the dead-letter topic with the reason (no value echoed)."""
        assert self.producer is not None, "reject is called only while running"
        self.counters["dead_letter"] += 1
        metrics.dead_letters.labels(type(error).__name__).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            type(error).__name__,
        )
        await self.producer.send_and_wait(
            self.settings.topic_deadletter,
            key=record.key,
            value=dead_letter(record, error, self.name),
        )


class StoreError(SafeguardError):
    """PostgreSQL refused a record (for example a value it cannot hold)."""


#: What PostgreSQL says of a record it cannot take (not of a connection that failed).
REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)
Batch = list[tuple[ConsumerRecord, Any]]


class StoringConsumer(AlertConsumer):
    """A consumer that writes to PostgreSQL: ``handle`` has ``self.pool``, connected through
    ``retry`` before the first record and closed at the end, and ``write_or_reject``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await connect_pool(self.settings.dsn, self.settings.dsn_redacted)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def write_or_reject(
        self,
        conn: asyncpg.Connection,
        batch: Batch,
        write: Callable[[asyncpg.Connection, Batch], Awaitable[None]],
    ) -> None:
        """``write`` the batch (in one transaction); if PostgreSQL refuses it, write each
        record alone, dead-letter those it refuses, and keep the others."""
        try:
            await write(conn, batch)
        except REFUSED:
            for one in batch:
                try:
                    await write(conn, [one])
                except REFUSED as exc:
                    await self.reject(one[0], StoreError(str(exc)))
