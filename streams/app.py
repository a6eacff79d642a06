"""The Faust app, and nothing else: topics, tables and agents live in their own modules.

Run a worker with ``safeguard worker``: it checks the project's topics, and logs in to Kafka as
the worker principal (``streams.auth``; set at start, so that importing the app, as the unit
tests do, needs no broker credentials).
"""

from __future__ import annotations

from typing import Any

import faust

from safeguard.kernel.settings import load_settings
from streams.transport import DurableProducer, HonestConsumer

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
