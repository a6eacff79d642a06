"""Linkage quality: precision and recall of the proposed links, and the comparisons made.

Synthetic children (``producers.identities``), each recorded by two agencies with realistic
differences, twins among them, are encoded as CLKs (``schemas.linkage``) and fed one by one
through the worker's own matching (``streams.domain.matching``) in a random order. A proposal
is right when both records are of the same child. Run with ``python -m bench.linkage``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict

from producers.identities import children
from schemas.linkage import LinkageKeys
from streams.domain.matching import Entry, compare

KEY = b"linkage-key-for-the-benchmark-0123456789"


def run(count: int, thresholds: list[float], seed: int) -> dict[str, object]:
    keys = LinkageKeys(KEY)
    records = list(children(count, seed))
    random.Random(seed).shuffle(records)  # noqa: S311 - synthetic data, not security
    started = time.perf_counter()
    encoded = [(r, keys.encode(r.identity)) for r in records]
    encode_seconds = time.perf_counter() - started
    lowest = min(thresholds)
    blocks: dict[str, list[Entry]] = defaultdict(list)
    child_of = {r.record_id: r.child for r in records}
    found: dict[tuple[str, str], float] = {}
    comparisons = 0
    started = time.perf_counter()
    for record, encoding in encoded:
        entry = Entry(record.record_id, record.agency, "a1", encoding.clk)
        for block in encoding.blocks:
            matches, blocks[block], made = compare(entry, blocks[block], lowest)
            comparisons += made
            for other, similarity in matches:
                low, high = sorted((entry.child_ref, other.child_ref))
                found[low, high] = max(found.get((low, high), 0.0), similarity)
    compare_seconds = time.perf_counter() - started
    truth = defaultdict(list)
    for r in records:
        truth[r.child].append(r.record_id)
    true_pairs = {tuple(sorted(ids)) for ids in truth.values() if len(ids) == 2}
    rows = []
    for threshold in thresholds:
        proposed = {pair for pair, s in found.items() if s >= threshold}
        right = sum(1 for a, b in proposed if child_of[a] == child_of[b])
        rows.append(
            {
                "threshold": threshold,
                "proposed": len(proposed),
                "precision": round(right / len(proposed), 4) if proposed else 1.0,
                "recall": round(right / len(true_pairs), 4),
            }
        )
    n = len(records)
    return {
        "children": len(truth),
        "records": n,
        "all_pairs": n * (n - 1) // 2,
        "comparisons": comparisons,
        "comparisons_per_record": round(comparisons / n, 1),
        "encode_seconds": round(encode_seconds, 1),
        "compare_seconds": round(compare_seconds, 1),
        "thresholds": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--thresholds", default="0.8,0.82,0.84,0.86,0.88", help="comma-separated")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    sys.stdout.write(json.dumps(run(args.children, thresholds, args.seed), indent=2) + "\n")


if __name__ == "__main__":
    main()
