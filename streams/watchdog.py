"""The worker's progress watchdog: a partition that has records waiting and does not move stops it.

Faust can leave an assigned partition unread after a rebalance, with the worker up and no error
(faust-streaming issues #175 and #629); seen here after a worker was killed and restarted. Lag
would grow and nobody would know. Every ``WATCH_INTERVAL`` seconds the watchdog reads, outside
Faust, the group's committed offset and the end offset of each partition this worker owns. A
partition that has records after its committed offset and whose committed offset has not moved
for ``worker_stall_seconds`` stops the worker with exit code 70 (``streams.guard.fatal``); the
restarted worker (a supervisor's job: compose restarts it) reads it again from the committed
offset, so nothing is skipped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from safeguard.kernel import metrics
from streams.guard import fatal

log = logging.getLogger(__name__)

WATCH_INTERVAL = 5.0


@dataclass
class Progress:
    """Per partition: the committed offset last seen, and since when it has not moved."""

    stall_seconds: float
    seen: dict[TopicPartition, tuple[int, float]] = field(default_factory=dict)

    def check(
        self, committed: dict[TopicPartition, int], ends: dict[TopicPartition, int], now: float
    ) -> list[str]:
        """The stalled partitions, described; forgets partitions no longer given."""
        stalled = []
        for tp in list(self.seen):
            if tp not in committed:
                del self.seen[tp]
        for tp, done in committed.items():
            behind = ends.get(tp, 0) - max(done, 0)
            last = self.seen.get(tp)
            if behind <= 0 or last is None or last[0] != done:
                self.seen[tp] = (done, now)
            elif now - last[1] > self.stall_seconds:
                stalled.append(
                    f"{tp.topic}[{tp.partition}] is {behind} records behind and its committed "
                    f"offset {done} has not moved for {now - last[1]:.0f}s"
                )
        return stalled


async def watch(
    app: object, group: str, connection: dict[str, Any], topics: set[str], stall: float
) -> None:
    """Run for ever: check the worker's own partitions of ``topics`` every few seconds."""
    import asyncio

    consumer = AIOKafkaConsumer(**connection, group_id=None)
    admin = AIOKafkaAdminClient(**connection)
    progress = Progress(stall)
    exported: set[TopicPartition] = set()
    await consumer.start()
    await admin.start()
    try:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            owned = [
                TopicPartition(tp.topic, tp.partition)
                for tp in app.consumer.assignment()  # type: ignore[attr-defined]
                if tp.topic in topics
            ]
            if not owned or not app.flow_control.is_active():  # type: ignore[attr-defined]
                progress.seen.clear()  # recovering or rebalancing: judge from the next look
                continue
            try:
                offsets = await admin.list_consumer_group_offsets(group, partitions=owned)
                ends = await consumer.end_offsets(owned)
            except Exception as exc:  # the broker is away: the agents' own retries judge that
                log.warning("progress watchdog could not read offsets: %s", type(exc).__name__)
                progress.seen.clear()
                continue
            committed = {tp: (offsets[tp].offset if tp in offsets else -1) for tp in owned}
            exported = export_lag(group, committed, ends, exported)
            stalled = progress.check(committed, ends, time.monotonic())
            if stalled:
                fatal(f"no progress: {'; '.join(stalled)}")
    finally:
        await consumer.stop()
        await admin.close()


def export_lag(
    group: str,
    committed: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    exported: set[TopicPartition],
) -> set[TopicPartition]:
    """Set ``safeguard_consumer_lag_records`` for the partitions owned now, and remove it for
    those given away (another worker reports them); returns the partitions exported."""
    for tp in exported - set(committed):
        metrics.consumer_lag.remove(group, tp.topic, str(tp.partition))
    for tp, done in committed.items():
        metrics.consumer_lag.labels(group, tp.topic, str(tp.partition)).set(
            max(ends.get(tp, 0) - max(done, 0), 0)
        )
    return set(committed)
