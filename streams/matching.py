"""Proposing links from agencies' encodings: what the two matching agents do with one record.

``handle_encoding`` reads an agency's encoding of a child (keyed by ``child_ref``) and sends it
on once per blocking key, keyed by that key, so every encoding sharing a key meets on one
partition. ``handle_block`` keeps each block's newest entries, compares the new one with the
others (``streams.domain.matching``) and publishes a proposal for each pair alike enough. A
proposal is only a proposal: a practitioner confirms or rejects it on the dashboard.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from safeguard.kernel.errors import InvalidRecordError
from schemas.codec import EventCodec
from schemas.linkage import SCHEME
from schemas.validation import check_encoding
from streams.app import settings
from streams.domain.matching import Entry, compare, proposal
from streams.guard import Effects
from streams.tables import block_to_entries
from streams.topics import encoding_blocks, identity_proposals

log = logging.getLogger(__name__)
ENCODING_CODEC = EventCodec("child_encoding")
PROPOSAL_CODEC = EventCodec("link_proposal")


def handle_encoding(message: Any, effects: Effects) -> None:
    """An agency's encoding of a child: sent on to each of its blocks."""
    record = ENCODING_CODEC.decode(_present(message.value))
    check_encoding(record)
    if message.key != record["child_ref"].encode():
        raise InvalidRecordError(
            "key: missing or not the record's child_ref; events are keyed by child_ref",
            field="key",
        )
    if record["scheme"] != SCHEME:
        raise InvalidRecordError(f"scheme: only {SCHEME} encodings are compared", field="scheme")
    entry = Entry(
        record["child_ref"], record["agency"]["type"], record["agency"]["id"], record["clk"]
    )
    value = json.dumps(
        {
            "entry": entry.to_json(),
            "local_authority": record["local_authority"],
            "at": record["encoded_at"].isoformat(),
        }
    ).encode()
    for block in record["blocks"]:
        effects.send(encoding_blocks, block.encode(), value)


def handle_block(message: Any, effects: Effects) -> None:
    """A new entry of one block: compared with the block's other references."""
    arrived = _block_entry(message.value)
    entry = Entry.from_json(arrived["entry"])
    rows = effects.read(block_to_entries, message.key) or []
    block = [Entry.from_json(row[0]) for row in rows]
    areas = {Entry.from_json(row[0]).child_ref: row[1] for row in rows}
    matches, kept, _ = compare(entry, block, settings.linkage_threshold)
    at = dt.datetime.fromisoformat(arrived["at"])
    for other, similarity in matches:
        found = proposal(entry, other, similarity)
        pair = f"{found['ref_a']}|{found['ref_b']}"
        effects.send(
            identity_proposals,
            found["ref_a"].encode(),
            PROPOSAL_CODEC.encode(
                {
                    **found,
                    "proposal_id": hashlib.sha256(pair.encode()).hexdigest()[:32],
                    "local_authorities": sorted(
                        {arrived["local_authority"], areas[other.child_ref]}
                    ),
                    "threshold": settings.linkage_threshold,
                    "scheme": SCHEME,
                    "proposed_at": at,
                }
            ),
        )
    areas[entry.child_ref] = arrived["local_authority"]
    effects.write(block_to_entries, message.key, [[e.to_json(), areas[e.child_ref]] for e in kept])
    if matches:
        log.info("block %s: %d links proposed", message.key.decode()[:8], len(matches))


def _present(value: bytes | None) -> bytes:
    if value is None:
        raise InvalidRecordError("value: null (no record at all)", field="value")
    return value


def _block_entry(value: bytes | None) -> dict[str, Any]:
    try:
        arrived = json.loads(value or b"")
        Entry.from_json(arrived["entry"])
        dt.datetime.fromisoformat(arrived["at"])
        str(arrived["local_authority"])
    except (ValueError, KeyError, TypeError, IndexError):
        raise InvalidRecordError("value: not an encoding entry", field="value") from None
    return dict(arrived)
