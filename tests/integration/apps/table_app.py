"""A minimal Faust app with a RocksDB-backed Table, for the crash-recovery smoke test.

Configured by environment variables the test sets (the broker by the project's settings, as the
admin); serves the table as JSON on ``/counts/``.
"""

from __future__ import annotations

import os
from typing import Any

import faust

from safeguard.kernel.settings import load_settings
from streams.auth import broker_credentials

settings = load_settings()
app = faust.App(
    os.environ["SMOKE_APP_ID"],
    broker=f"kafka://{settings.kafka_servers}",
    broker_credentials=broker_credentials(settings, "admin"),
    store="rocksdb://",
    datadir=os.environ["SMOKE_DATADIR"],
    topic_partitions=2,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.5,
    # A killed member holds its partitions until its session expires; keep that short here.
    broker_session_timeout=6,
    broker_heartbeat_interval=1,
    web_host="127.0.0.1",
    web_port=int(os.environ["SMOKE_WEB_PORT"]),
)
events = app.topic(os.environ["SMOKE_TOPIC"], key_type=str, value_type=str, partitions=2)
key_to_count = app.Table("key_to_count", default=int, partitions=2)


@app.agent(events)
async def count_events(stream: Any) -> None:
    async for key, _ in stream.items():
        key_to_count[key] += 1


@app.page("/counts/")
async def counts(web: Any, request: Any) -> Any:
    return web.json(dict(key_to_count.items()))
