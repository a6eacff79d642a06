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
from collections.abc import AsyncIterator, MutableMapping
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
    record looks like a jump from the committed offset, so every record in between was
    committed unhandled, and the records the seek asked for again were dropped as already
    read. Seen in ``make chaos``: a travelling family's departure never reached its agent.

    ``seeks`` counts the seeks begun and ended; a batch during which the count changed is cut
    off at its next record, and the read offsets the seeks set are put back (the loop writes
    the offset of the record it was passing on after the seek had reset it).
    """

    seeks: int = 0
    sought: dict[Any, int | None] = field(default_factory=dict)

    def begin(self) -> None:
        self.seeks += 1

    def end(self, read_offsets: dict[Any, int | None]) -> None:
        """The seek is done and has set these read offsets."""
        self.sought.update(read_offsets)
        self.seeks += 1

    async def batch(
        self, records: AsyncIterator[tuple[Any, Any]], read_offsets: MutableMapping[Any, Any]
    ) -> AsyncIterator[tuple[Any, Any]]:
        """``records`` until a seek begins or ends; then the read offsets as the seeks set them.

        Checked before each record and once more after the last, since the loop writes the
        offset of the record it was passing on once that record is done.
        """
        seeks = self.seeks
        self.sought.clear()
        async for tp, message in records:
            if self.seeks != seeks:
                break
            yield tp, message
        if self.seeks != seeks:
            read_offsets.update(self.sought)
            log.info("a seek came during a fetched batch: reading again from where it put it")


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
        self.fence.begin()
        await super().perform_seek()
        self.fence.end(dict(self._read_offset))

    async def seek(self, partition: Any, offset: int) -> None:
        self.fence.begin()
        await super().seek(partition, offset)
        tp = ensure_TP(partition)
        self.fence.end({tp: self._read_offset.get(tp)})

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
