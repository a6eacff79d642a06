"""Proposed links into PostgreSQL, for a practitioner to confirm or reject on the dashboard.

Runs inside ``safeguard alert-store`` beside the alert store. A proposal of a pair already
proposed keeps the higher similarity while it waits; one already decided is left as decided; one
naming an erased reference, sent before the erasure, is not stored again.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from consumers.follow import Batch, StoringConsumer
from consumers.retention import erased_at
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec
from schemas.validation import check_child_ref

_PROPOSAL = """
INSERT INTO link_proposals (proposal_id, ref_a, ref_b, agency_a, agency_b, local_authorities,
                            similarity, threshold, scheme, proposed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (ref_a, ref_b) DO UPDATE SET
    similarity = GREATEST(link_proposals.similarity, EXCLUDED.similarity),
    local_authorities = ARRAY(
        SELECT DISTINCT unnest(link_proposals.local_authorities || EXCLUDED.local_authorities)
        ORDER BY 1)
WHERE link_proposals.status = 'pending'
"""


class ProposalStore(StoringConsumer):
    name = "proposal-store"
    codec = EventCodec("link_proposal")

    def subscribe(self, settings: Settings) -> tuple[str, ...]:
        return (settings.topic_identity_proposals,)

    def prepare(self, record: ConsumerRecord, proposal: dict[str, Any]) -> tuple[Any, ...]:
        check_child_ref(proposal["ref_a"], field="ref_a")
        check_child_ref(proposal["ref_b"], field="ref_b")
        return (
            proposal["proposal_id"],
            proposal["ref_a"],
            proposal["ref_b"],
            proposal["agency_a"],
            proposal["agency_b"],
            proposal["local_authorities"],
            proposal["similarity"],
            proposal["threshold"],
            proposal["scheme"],
            proposal["proposed_at"],
        )

    async def handle(self, batch: list[tuple[ConsumerRecord, Any]]) -> None:
        assert self.pool is not None, "handle is called only after open"
        if not batch:
            return
        async with self.pool.acquire() as conn:
            erased = await erased_at(conn, {ref for _, row in batch for ref in row[1:3]})
            kept = [
                (record, row)
                for record, row in batch
                if not any(record.timestamp <= erased.get(ref, -1) for ref in row[1:3])
            ]
            self.counters["forgotten"] += len(batch) - len(kept)
            await self.write_or_reject(conn, kept, self._write)

    async def _write(self, conn: asyncpg.Connection, batch: Batch) -> None:
        async with conn.transaction():
            await conn.executemany(_PROPOSAL, [row for _, row in batch])
        self.counters["proposals"] += len(batch)
