"""Consumer groups as Kafka sees them: are their members there, and how far behind are they.

Read from the broker's own records (the group coordinator and each partition's end offset), not
from the consumers, so a stopped or stuck consumer is seen as such. Used by ``safeguard status``
and by the dashboard's pipeline banner. The principal needs DESCRIBE on the groups and topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True)
class GroupLag:
    """One consumer group: its state, its members, and records waiting per partition."""

    group: str
    state: str  # Stable, Empty (no member), Dead (never seen), PreparingRebalance, ...
    members: int
    lag: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.lag.values())

    def by_topic(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (topic, _), waiting in sorted(self.lag.items()):
            out[topic] = out.get(topic, 0) + waiting
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "state": self.state,
            "members": self.members,
            "lag": self.total,
            "lag_by_topic": self.by_topic(),
            "lag_by_partition": [
                {"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(self.lag.items())
            ],
        }


async def group_lags(
    connection: Mapping[str, Any], groups: Mapping[str, list[str]], wait: float = 10.0
) -> list[GroupLag]:
    """Each group of ``groups`` (group id: the topics it reads), described; raises the
    client's error (or ``TimeoutError``) when the broker does not answer within ``wait``."""
    admin = AIOKafkaAdminClient(**connection, request_timeout_ms=int(wait * 1000))
    consumer = AIOKafkaConsumer(**connection, group_id=None, request_timeout_ms=int(wait * 1000))
    try:
        await asyncio.wait_for(admin.start(), wait)
        await asyncio.wait_for(consumer.start(), wait)
        return await asyncio.wait_for(_describe(admin, consumer, groups), wait)
    finally:
        await consumer.stop()
        await admin.close()


async def _describe(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, groups: Mapping[str, list[str]]
) -> list[GroupLag]:
    topics = sorted({t for names in groups.values() for t in names})
    described = await admin.describe_topics(topics)
    partitions = {
        d["topic"]: sorted(p["partition"] for p in d["partitions"])
        for d in described
        if not d["error_code"]
    }
    every = [TopicPartition(t, p) for t in topics for p in partitions.get(t, [])]
    ends = await consumer.end_offsets(every) if every else {}
    starts = await consumer.beginning_offsets(every) if every else {}
    states: dict[str, tuple[str, int]] = {}
    # One group a request: aiokafka 0.14 fails to decode an answer about several at once.
    responses = [r for group in groups for r in await admin.describe_consumer_groups([group])]
    for response in responses:
        for g in response.groups:
            error_code, group_id, state, members = g[0], g[1], g[2], g[5]
            states[group_id] = ("Unknown" if error_code else state, len(members))
    out = []
    for group, names in groups.items():
        owned = [tp for tp in every if tp.topic in names]
        committed = await admin.list_consumer_group_offsets(group, partitions=owned)
        lag = {}
        for tp in owned:
            done = committed[tp].offset if tp in committed else -1
            # Never committed: everything still on the topic is waiting.
            done = starts.get(tp, 0) if done < 0 else done
            lag[tp.topic, tp.partition] = max(ends.get(tp, 0) - done, 0)
        state, members = states.get(group, ("Dead", 0))
        out.append(GroupLag(group, state, members, lag))
    return out


@dataclass(frozen=True)
class Rewind:
    """One partition of a replay: where the group is, and where it will start again."""

    topic: str
    partition: int
    committed: int  # -1: never committed
    target: int
    end: int

    @property
    def again(self) -> int:
        """Records already processed that will be processed again."""
        return max(self.committed - self.target, 0) if self.committed >= 0 else 0


async def plan_replay(
    connection: Mapping[str, Any],
    group: str,
    topics: list[str],
    *,
    from_time_ms: int | None = None,
    from_offset: int | None = None,
) -> tuple[GroupLag, list[Rewind]]:
    """Where ``group`` would start again on each partition of ``topics``: the first record at or
    after ``from_time_ms``, or ``from_offset`` (kept within what the partition still holds), or
    the earliest record still held when neither is given."""
    admin = AIOKafkaAdminClient(**connection)
    consumer = AIOKafkaConsumer(**connection, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        (lag,) = await _describe(admin, consumer, {group: topics})
        every = [TopicPartition(t, p) for t, p in sorted(lag.lag)]
        ends = await consumer.end_offsets(every)
        starts = await consumer.beginning_offsets(every)
        committed = await admin.list_consumer_group_offsets(group, partitions=every)
        found = (
            await consumer.offsets_for_times({tp: from_time_ms for tp in every})
            if from_time_ms is not None
            else {}
        )
        plan = []
        for tp in every:
            if from_time_ms is not None:
                hit = found.get(tp)
                target = hit.offset if hit is not None else ends[tp]
            elif from_offset is not None:
                target = min(max(from_offset, starts[tp]), ends[tp])
            else:
                target = starts[tp]
            done = committed[tp].offset if tp in committed else -1
            plan.append(Rewind(tp.topic, tp.partition, done, target, ends[tp]))
        return lag, plan
    finally:
        await consumer.stop()
        await admin.close()


async def rewind(connection: Mapping[str, Any], group: str, plan: list[Rewind]) -> None:
    """Commit each partition's target offset for ``group`` (which must have no member now)."""
    consumer = AIOKafkaConsumer(**connection, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = {TopicPartition(r.topic, r.partition): r.target for r in plan}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def newest_processed(
    connection: Mapping[str, Any], group: str, lag: GroupLag, wait: float = 10.0
) -> dict[str, float]:
    """The Kafka time (Unix seconds) of the newest record ``group`` has processed, per topic:
    the record before its committed offset on each partition. Needs READ on the topics."""
    admin = AIOKafkaAdminClient(**connection)
    consumer = AIOKafkaConsumer(**connection, group_id=None, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        every = [TopicPartition(t, p) for t, p in sorted(lag.lag)]
        committed = await admin.list_consumer_group_offsets(group, partitions=every)
        wanted = {tp: c.offset - 1 for tp, c in committed.items() if c.offset > 0}
        if not wanted:
            return {}
        consumer.assign(list(wanted))
        for tp, offset in wanted.items():
            consumer.seek(tp, offset)
        newest: dict[str, float] = {}
        seen: set[TopicPartition] = set()
        deadline = asyncio.get_running_loop().time() + wait
        while len(seen) < len(wanted) and asyncio.get_running_loop().time() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                if tp in seen or not records:
                    continue
                seen.add(tp)
                consumer.pause(tp)
                moment = records[0].timestamp / 1000
                newest[tp.topic] = max(newest.get(tp.topic, 0.0), moment)
        return newest
    finally:
        await consumer.stop()
        await admin.close()
