"""Kafka client configuration: one set of producer and consumer options for every part.

Both client libraries the project uses (kafka-python for the command line and imports, aiokafka
for the services) take these keyword arguments under the same names.
"""

from __future__ import annotations

from typing import Any

#: Every producer waits for all in-sync replicas and is idempotent, so a retry inside the
#: client never writes a record twice or out of order.
DURABLE = {"acks": "all", "enable_idempotence": True}


def producer_options(servers: str, **tuning: Any) -> dict[str, Any]:
    """Options for a durable producer; ``tuning`` adds batching settings (``linger_ms``, ...)."""
    return {"bootstrap_servers": servers, **DURABLE, **tuning}


def consumer_options(servers: str, group_id: str | None, **extra: Any) -> dict[str, Any]:
    """Options for a consumer that commits only what it has handled, from the earliest record."""
    return {
        "bootstrap_servers": servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **extra,
    }
