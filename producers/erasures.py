"""Erasures onto their topic: one per reference of the child, as the Kafka ``admin``.

The worker reads them (``streams.domain.erasure``) and keeps, per reference, only the time of the
erasure until the source retention has passed. ``safeguard erase`` sends them before it removes
the database rows (``consumers.retention``), so an alert the worker sends while the erasure is
on its way is recognised by the alert store as sent before the erasure and not stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from kafka import KafkaProducer
from kafka.errors import KafkaError

from producers.publisher import PublishError, derived_event_id, encode_erasure
from safeguard.kernel.clients import producer_options
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import check_topics

BASES = ("erasure_request", "not_in_scope", "recorded_in_error")


def publish_erasures(
    settings: Settings,
    refs: Iterable[str],
    *,
    erasure_id: str,
    basis: str,
    erased_at: dt.datetime,
    timeout: float = 60.0,
) -> int:
    """Send one erasure per reference and wait until the broker has every one."""
    check_topics(settings, "admin", [settings.topic_erasures], timeout=timeout)
    producer = KafkaProducer(**producer_options(settings, "admin"))
    try:
        futures = [
            producer.send(
                settings.topic_erasures,
                key=ref.encode(),
                value=encode_erasure(
                    {
                        "event_id": derived_event_id(erasure_id, ref),
                        "child_ref": ref,
                        "basis": basis,
                        "erased_at": erased_at,
                    }
                ),
            )
            for ref in sorted(refs)
        ]
        producer.flush(timeout=timeout)
        for future in futures:
            try:
                future.get(timeout=timeout)
            except KafkaError as exc:
                raise PublishError(
                    f"the broker did not acknowledge an erasure: {type(exc).__name__}"
                ) from exc
        return len(futures)
    finally:
        producer.close()
