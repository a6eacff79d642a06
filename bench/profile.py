"""Where the worker's time goes: a summary of py-spy's collapsed stacks.

``BENCH_PROFILE=1 make bench`` runs the throughput phase's worker under ``py-spy record`` and
keeps the raw stacks (``bench/results/<timestamp>-worker.stacks``, flamegraph.pl input). Each
sample is charged to the code its innermost Python frame belongs to; native code (fastavro,
RocksDB, orjson) is charged to the Python frame that called it.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any

#: Innermost frame's top-level folder -> what it is.
CATEGORIES = {
    "streams": "worker code (streams/, schemas/)",
    "schemas": "worker code (streams/, schemas/)",
    "safeguard": "worker code (streams/, schemas/)",
    "faust": "Faust and mode",
    "mode": "Faust and mode",
    "aiokafka": "Kafka client (aiokafka)",
    "kafka": "Kafka client (aiokafka)",
    "asyncio": "asyncio event loop",
}
IDLE = "waiting for I/O (epoll)"
OTHER = "other (logging, json, stdlib)"
#: The agents' per-record functions: everything the worker does for one record.
PER_RECORD = ("process_observation (streams/agents.py", "process_registration (streams/")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^():]+):\d+\)$")


def category(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return OTHER
    path = match["path"]
    if path.endswith("selectors.py"):
        return IDLE
    return CATEGORIES.get(path.split("/", 1)[0], OTHER)


def summarise(stacks: Path, top: int = 8) -> dict[str, Any]:
    """Shares of samples (percent) by category, under the per-record functions, and top leaves."""
    by_category: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    per_record = 0
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        by_category[category(frames[-1])] += n
        leaves[frames[-1]] += n
        if any(frame.startswith(PER_RECORD) for frame in frames):
            per_record += n
    if not total:
        raise ValueError(f"{stacks}: no samples")

    def pct(n: int) -> float:
        return round(100 * n / total, 1)

    return {
        "samples": total,
        "by_category_pct": {name: pct(n) for name, n in by_category.most_common()},
        "in_per_record_functions_pct": pct(per_record),
        "top_leaf_frames_pct": {frame: pct(n) for frame, n in leaves.most_common(top)},
    }
