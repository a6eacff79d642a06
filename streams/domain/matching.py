"""Proposing links between references from their CLKs (``schemas.linkage``), framework-free.

Each blocking key holds the most recent entries that carried it; a new entry is compared with
each entry of another reference in the same block, and a pair whose Dice coefficient reaches
the threshold is proposed. A proposal is never a link: a practitioner confirms or rejects it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from schemas.linkage import segments, similarity

#: Entries kept per blocking key: a block larger than this compares only with the newest.
BLOCK_LIMIT = 500


@dataclass(frozen=True)
class Entry:
    child_ref: str
    agency_type: str
    agency_id: str
    clk: bytes
    parsed: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed", segments(self.clk))

    def to_json(self) -> list[str]:
        clk = base64.b64encode(self.clk).decode()
        return [self.child_ref, self.agency_type, self.agency_id, clk]

    @classmethod
    def from_json(cls, row: list[str]) -> Entry:
        return cls(row[0], row[1], row[2], base64.b64decode(row[3]))


def compare(
    entry: Entry, block: list[Entry], threshold: float
) -> tuple[list[tuple[Entry, float]], list[Entry], int]:
    """Compare ``entry`` with the block's entries of other references: the matches at or above
    ``threshold``, the block with ``entry`` in it (an entry of the same reference and agency is
    replaced), and how many comparisons were made."""
    matches, kept, comparisons = [], [], 0
    for other in block:
        if (other.child_ref, other.agency_type, other.agency_id) == (
            entry.child_ref,
            entry.agency_type,
            entry.agency_id,
        ):
            continue  # the same record encoded again: the newer encoding replaces it
        kept.append(other)
        if other.child_ref == entry.child_ref:
            continue
        comparisons += 1
        score = similarity(entry.parsed, other.parsed)
        if score >= threshold:
            matches.append((other, score))
    kept.append(entry)
    return matches, kept[-BLOCK_LIMIT:], comparisons


def proposal(a: Entry, b: Entry, similarity: float) -> dict[str, Any]:
    """The proposal of a link between two references (the smaller first)."""
    first, second = sorted((a, b), key=lambda e: e.child_ref)
    return {
        "ref_a": first.child_ref,
        "ref_b": second.child_ref,
        "agency_a": f"{first.agency_type}:{first.agency_id}",
        "agency_b": f"{second.agency_type}:{second.agency_id}",
        "similarity": round(similarity, 4),
    }
