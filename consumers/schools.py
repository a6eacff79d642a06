"""The schools' reference data into PostgreSQL, so that the dashboard names each school.

Runs inside ``safeguard alert-store`` beside the alert store. The schools topic is compacted and
keyed by school id: the newest record of a school wins. Public information only (a school's
number, name, authority and whether it is near a port of entry).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from consumers.follow import Batch, StoringConsumer
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

_SCHOOL = """
INSERT INTO schools (school_id, name, local_authority, near_port_of_entry)
VALUES ($1, $2, $3, $4)
ON CONFLICT (school_id) DO UPDATE SET
    name = EXCLUDED.name, local_authority = EXCLUDED.local_authority,
    near_port_of_entry = EXCLUDED.near_port_of_entry, updated_at = now()
"""


class SchoolStore(StoringConsumer):
    name = "school-store"
    codec = EventCodec("school")

    def subscribe(self, settings: Settings) -> tuple[str, ...]:
        return (settings.topic_schools,)

    def prepare(self, record: ConsumerRecord, school: dict[str, Any]) -> tuple[Any, ...]:
        return (
            school["school_id"],
            school["name"],
            school["local_authority"],
            school["near_port_of_entry"],
        )

    async def handle(self, batch: list[tuple[ConsumerRecord, Any]]) -> None:
        assert self.pool is not None, "handle is called only after open"
        if not batch:
            return
        # Within a batch, too, the newest record of a school wins; one PostgreSQL refuses is
        # dead-lettered and the others are stored.
        newest = list({row[0]: (record, row) for record, row in batch}.values())
        async with self.pool.acquire() as conn:
            await self.write_or_reject(conn, newest, self._write)

    async def _write(self, conn: asyncpg.Connection, batch: Batch) -> None:
        async with conn.transaction():
            await conn.executemany(_SCHOOL, [row for _, row in batch])
        self.counters["schools"] += len(batch)
