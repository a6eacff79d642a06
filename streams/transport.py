"""Faust's Kafka producer and consumer, made to keep the worker's one promise: nothing is
committed that was not done.

Each class here closes one way in which Faust 0.15 could commit an input offset whose record no
agent had finished, each found by ``make chaos`` (the worker killed again and again and its
results compared with a run without faults):

- ``DurableProducer``: the state written for a record might not be on the broker when the
  record's offset was committed;
- ``HonestConsumer``: a record skipped during a rebalance was acknowledged as if handled, and a
  record fetched before a seek could make Faust believe the offsets between it and the seek's
  position did not exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from faust.transport.consumer import ensure_TP
from faust.transport.drivers.aiokafka import Consumer, Producer

from streams.guard import fatal

log = logging.getLogger(__name__)


class DurableProducer(Producer):
    """Faust's producer, with a flush that returns only when every buffered record is sent.

    Faust flushes the producer before it commits input offsets, but its buffer flush gives up
    after 0.1 s without progress and can miss a record in hand, and a changelog write that
    fails is only logged. Either way an offset could be committed while a state write was not
    on the broker, and a crash then lost that state. Here every record put in the buffer is
    tracked until the broker has it; one that fails stops the worker before anything more is
    committed (the guard's rule for a fault that is not about a record).
    """

    def send_soon(self, fut: Any) -> None:
        unsettled = self.__dict__.setdefault("_unsettled", set())
        unsettled.add(fut)
        fut.add_done_callback(_settled(unsettled))
        super().send_soon(fut)

    async def flush(self) -> None:
        # Only what is in hand now: the offsets being committed were acknowledged before this
        # flush began, so their records are all here; records of later events keep coming.
        in_hand = list(self.__dict__.get("_unsettled", ()))
        await super().flush()
        if in_hand:
            await asyncio.wait(in_hand)


def _settled(unsettled: set[Any]) -> Any:
    def settled(fut: Any) -> None:
        unsettled.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            fatal(f"a state or output record was not sent: {type(fut.exception()).__name__}")

    return settled


@dataclass
class SeekFence:
    """Keeps records fetched before a seek from passing for records read after it.

    Faust's fetch loop remembers, per partition, the offset of the last record it passed on,
    and treats a jump in offsets as a gap of records that do not exist (deleted, or
    transaction markers), which it then commits as done. A seek (the recovery after every
    rebalance moves each partition back to its committed offset) resets that memory, but the
    loop may still be passing on the rest of a batch fetched before the seek: the first such
    record looked like a jump from the committed offset, so every record in between was
    committed unhandled, and the records the seek asked for again were dropped as already
    read. Seen in ``make chaos``: a travelling family's departure never reached its agent.

    So a seek leaves, for each partition it moved, the offset it moved it to. Until that
    partition's next record is passed on, a record of a batch fetched before the seek ended is
    passed on only if it is that very offset (the same record); any other is dropped, since the
    seek moved the fetch position back and it comes again. The first record passed on after a
    seek starts the loop's memory afresh, so it is never taken for a jump. Partitions the seek
    did not move are never touched.
    """

    seeks: int = 0
    expected: dict[Any, tuple[int, int]] = field(default_factory=dict)
    """Per partition a seek moved: the offset it moved it to, and the count when it ended."""

    def begin(self) -> None:
        self.seeks += 1

    def end(self, offsets: Mapping[Any, int]) -> None:
        """The seek is done and moved these partitions to these offsets."""
        self.seeks += 1
        for tp, offset in offsets.items():
            self.expected[tp] = (offset, self.seeks)

    async def batch(
        self, records: AsyncIterator[tuple[Any, Any]], read_offsets: MutableMapping[Any, Any]
    ) -> AsyncIterator[tuple[Any, Any]]:
        """``records`` without those a seek made stale."""
        fetched_at = self.seeks
        dropped = 0
        async for tp, message in records:
            expected = self.expected.get(tp)
            if expected is not None:
                offset, ended_at = expected
                if fetched_at < ended_at and message.offset != offset:
                    dropped += 1  # fetched before the seek moved its partition: it comes again
                    continue
                del self.expected[tp]
                read_offsets[tp] = None  # the first record since the seek: no jump to see
            yield tp, message
        if dropped:
            log.info("dropped %d records fetched before a seek; they are read again", dropped)


class HonestConsumer(Consumer):
    """Faust's consumer, acknowledging only records an agent handled in the current generation.

    During a rebalance Faust skips the records it had fetched before (an older generation, or
    flow control suspended) and acknowledges them unprocessed, so the next commit could pass
    records that no agent saw: lost for good. Seen here: alert versions, signals and state
    missing after a worker was killed and restarted. Such an acknowledgement is dropped instead;
    the record stays uncommitted and is read again from the committed offset, where Faust seeks
    after every rebalance. A record an agent finished while a rebalance began is read again too:
    handling is idempotent. Batches fetched before a seek are cut off (``SeekFence``).
    """

    def ack(self, message: Any) -> bool:
        app = self.app
        if message.generation_id != app.consumer_generation_id or not app.flow_control.is_active():
            message.acked = True  # done with in this generation; never counted as handled
            self._unacked_messages.discard(message)
            return False
        return bool(super().ack(message))

    @property
    def fence(self) -> SeekFence:
        return self.__dict__.setdefault("_fence", SeekFence())  # type: ignore[no-any-return]

    async def perform_seek(self) -> None:
        """Faust's own (every partition back to its committed offset), telling the fence."""
        self.fence.begin()
        raw = await self.seek_to_committed()
        # aiokafka moves only partitions with a committed offset above 0. The others are moved
        # to their first record here: otherwise a record an agent skipped before this seek
        # (acknowledged during a rebalance, so never counted) would not be read again, and
        # Faust, which knows no committed offset to hold to, would commit past it.
        unmoved = [tp for tp, o in raw.items() if not (o is not None and o > 0)]
        firsts = await self.seek_to_first(unmoved) if unmoved else {}
        committed = {ensure_TP(tp): o for tp, o in raw.items()}
        self._read_offset.update(
            {tp: o if o is not None and o >= 0 else None for tp, o in committed.items()}
        )
        self._committed_offset.update(
            {tp: o or None for tp, o in committed.items() if o is not None}
        )
        moved = {tp: o for tp, o in committed.items() if o is not None and o > 0}
        self.fence.end(moved | firsts)

    async def seek_to_first(self, partitions: list[Any]) -> dict[Any, int]:
        """Move ``partitions`` to their first record; return its offset for each.

        An exact offset, not "the beginning": a batch fetched across the seek is then told
        apart from the records the seek asks for again by that offset alone."""
        earliest = await self.earliest_offsets(*partitions)
        firsts = {ensure_TP(tp): offset for tp, offset in earliest.items()}
        for tp, offset in firsts.items():
            await self._seek(tp, offset)
        return firsts

    async def seek(self, partition: Any, offset: int) -> None:
        self.fence.begin()
        await super().seek(partition, offset)
        self.fence.end({ensure_TP(partition): offset})

    async def getmany(
        self,
        timeout: float,  # noqa: ASYNC109  # Faust's signature
    ) -> AsyncIterator[tuple[Any, Any]]:
        async for tp, message in self.fence.batch(super().getmany(timeout), self._read_offset):
            yield tp, message

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        # A real gap (records deleted by retention) is rare on these topics: say so.
        log.warning(
            "%s[%s]: offsets %d-%d absent, treated as done",
            tp.topic,
            tp.partition,
            offset_from,
            offset_to,
        )
        await super()._add_gap(tp, offset_from, offset_to)
