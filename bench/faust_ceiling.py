"""The framework's ceiling: Faust agents that do less than the worker, over the same topic.

    python -m bench.faust_ceiling MODE TOPIC OUT_TOPIC EVENTS DATA_DIR

Run by ``python -m bench`` as a separate process, timed from start to exit like the worker. It
exits once it has handled EVENTS events. Modes:

* ``noop``: iterate the stream and nothing else: what Faust's consumer, stream and acking cost;
* ``same_io``: the worker's Kafka and state work without its rules: Avro-decode each event,
  read and write one small table value (a changelog record and a RocksDB write) and send one
  record: the I/O of one observation that raises an alert.

Both use the worker's own Faust tuning (``streams.app.TUNING``), the RocksDB store and no
terminal spinner, so the only difference from the worker is the work per event.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import faust

from schemas.codec import EventCodec
from streams.app import TUNING, settings
from streams.auth import broker_credentials


def main(mode: str, topic_name: str, out_name: str, events: int, data_dir: str) -> None:
    app = faust.App(
        f"ceiling-{os.getpid()}-{mode}",
        broker=f"kafka://{settings.kafka_servers}",
        broker_credentials=broker_credentials(settings, "admin"),
        store="rocksdb://",
        datadir=data_dir,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        topic_partitions=int(os.environ.get("SAFEGUARD_TOPIC_PARTITIONS", "8")),
        **TUNING,
    )
    source = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    out = app.topic(out_name, key_serializer="raw", value_serializer="raw")
    table = app.Table("ceiling_state", default=None, key_type=bytes)
    codec = EventCodec("observation")
    seen = 0

    async def finish() -> None:
        await app.producer.flush()
        os._exit(0)  # the parent times start to exit; a clean Faust shutdown takes seconds

    @app.agent(source)
    async def handle(stream: Any) -> None:
        nonlocal seen
        async for event in stream.events():
            message = event.message
            if mode == "same_io":
                codec.decode(message.value)
                state = table.get(message.key) or {"n": 0}
                state["n"] += 1
                table[message.key] = state
                await out.send(key=message.key, value=message.value)
            seen += 1
            if seen >= events:
                await finish()

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] not in ("noop", "same_io"):
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
