"""The Faust app, and nothing else: topics, tables and agents live in their own modules.

Run a worker with ``safeguard worker`` (which also creates the project's topics), or with Faust's
own command once the topics exist: ``faust -A streams.app worker -l info``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.drivers.aiokafka import Consumer, Producer

from safeguard.kernel.settings import load_settings
from streams.guard import fatal

#: Faust tuning, shared with the benchmark's framework baselines (``bench.faust_ceiling``) so
#: both run alike. Two knobs that made the worker faster are deliberately left at Faust's
#: defaults, because the SIGKILL test caught each of them losing data:
#: ``producer_linger=0.005`` (+19 % throughput) let a killed worker's alert version sit unsent
#: while its state was already on disk, so the replay re-sent only the next version; and
#: ``broker_max_poll_records=2000`` (+18 %) made a restarted worker skip records of a partition.
TUNING: dict[str, Any] = {}

settings = load_settings()
# Faust does not create its data folder; `faust -A streams.app worker` needs it too.
settings.worker_dir.mkdir(parents=True, exist_ok=True)


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


class HonestConsumer(Consumer):
    """Faust's consumer, acknowledging only records an agent handled in the current generation.

    During a rebalance Faust skips the records it had fetched before (an older generation, or
    flow control suspended) and acknowledges them unprocessed, so the next commit could pass
    records that no agent saw: lost for good. Seen here: alert versions, signals and state
    missing after a worker was killed and restarted. Such an acknowledgement is dropped instead;
    the record stays uncommitted and is read again from the committed offset, where Faust seeks
    after every rebalance. A record an agent finished while a rebalance began is read again too:
    handling is idempotent.
    """

    def ack(self, message: Any) -> bool:
        app = self.app
        if message.generation_id != app.consumer_generation_id or not app.flow_control.is_active():
            message.acked = True  # done with in this generation; never counted as handled
            self._unacked_messages.discard(message)
            return False
        return bool(super().ack(message))


class App(faust.App):
    """The Faust app with the durable producer and the honest consumer."""

    def _new_producer(self) -> Any:
        return DurableProducer(self.transport, loop=self.loop, beacon=self.beacon)

    def _new_consumer(self) -> Any:
        return HonestConsumer(
            self.transport,
            callback=self.topics.on_message,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon,
            loop=self.loop,
        )


app = App(
    settings.app_id,
    broker=";".join(f"kafka://{server}" for server in settings.kafka_servers.split(",")),
    store=settings.worker_store,
    datadir=str(settings.worker_dir),
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication_factor,
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.worker_session_timeout,
    broker_heartbeat_interval=max(1.0, settings.worker_session_timeout / 5),
    producer_acks=-1,
    web_enabled=settings.worker_web_port is not None,
    web_port=settings.worker_web_port or 6066,
    web_host="127.0.0.1",
    autodiscover=["streams.agents"],
    origin="streams",
    **TUNING,
)
