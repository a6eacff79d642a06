"""School reference data, held in memory by every worker and kept up to date.

The compacted topic ``safeguarding.reference.schools.v1`` (keyed by ``school_id``, filled by
``safeguard import schools FILE.csv``) is read from the beginning by each worker, with no consumer
group, so every worker knows every school (Wales has about 1,500). ``ready`` is set once the
topic has been read to its end. An unknown school id is treated as not near a port, and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from safeguard.kernel.errors import CodecError
from schemas.codec import EventCodec

log = logging.getLogger(__name__)

LOAD_TIMEOUT = 30


class SchoolDirectory:
    """School records by id."""

    def __init__(self) -> None:
        self.schools: dict[str, dict[str, Any]] = {}
        self.unknown_lookups = 0
        self.ready = asyncio.Event()

    def near_port(self, school_id: str) -> bool:
        school = self.schools.get(school_id)
        if school is None:
            self.unknown_lookups += 1
            return False
        return bool(school["near_port_of_entry"])

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:  # a tombstone removes the school
            self.schools.pop(key.decode(), None)
            return
        try:
            school = EventCodec("school").decode(value)
        except CodecError as exc:
            log.warning("skipped school record %r: %s", key, exc)
            return
        self.schools[school["school_id"]] = school

    async def follow(self, connection: dict[str, Any], topic: str) -> None:
        """Read ``topic`` from the beginning, set ``ready`` at its end, then keep following.

        With no consumer group, aiokafka assigns every partition of the topic to this reader.
        If the end is not reached within ``LOAD_TIMEOUT`` seconds (no topic yet, a broker
        problem), ``ready`` is set anyway with a warning: unknown schools are not near a port.
        """
        consumer = AIOKafkaConsumer(
            topic,
            **connection,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        deadline = time.monotonic() + LOAD_TIMEOUT
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        self.apply(record.key, record.value)
                if not self.ready.is_set() and await _at_end(consumer):
                    log.info("school directory loaded: %d schools", len(self.schools))
                    self.ready.set()
                elif not self.ready.is_set() and time.monotonic() > deadline:
                    log.warning("%s not read to its end in %ds; going on", topic, LOAD_TIMEOUT)
                    self.ready.set()
        finally:
            await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer) -> bool:
    assigned = list(consumer.assignment())
    if not assigned:
        return False
    ends = await consumer.end_offsets(assigned)
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


directory = SchoolDirectory()
