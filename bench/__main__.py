"""The benchmark: throughput, alert latency, recovery and memory, side by side in one run.

    make bench                      # quick: a few minutes
    BENCH_SCALE=full make bench     # 2 million events over 1 million children
    BENCH_SCALE=smoke make bench    # seconds: proves the harness still runs
    BENCH_PROFILE=1 make bench      # also profile the throughput worker with py-spy

Runs against the local broker (``safeguard infra up``). Writes ``bench/results/<timestamp>.json``
and prints a table. Every figure that matters is a ratio measured in the same run, because these
machines are small and noisy:

* throughput: the worker's rate from start to zero lag over a preloaded topic, against a plain
  aiokafka consumer decoding every event with the project's codec (the Python ceiling), Kafka's
  own ConsumerPerformance tool from the broker's jars (the broker's ceiling), and two Faust agents
  that do less than the worker (``bench.faust_ceiling``: nothing at all, and the worker's I/O
  without its rules), which show what the framework itself allows;
* alert latency: observations that each raise an alert, published at a fixed rate; the time from
  each observation's publish to its alert's publish (Kafka record timestamps), as an HDR histogram;
* recovery: SIGKILL a worker holding state for many children, restart it, and time until it
  raises an alert for a new event;
* memory: the worker's peak RSS (VmHWM) with the RocksDB store;
* profile (``BENCH_PROFILE=1``): where the throughput worker's time goes (``bench.profile``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.harness import RESULTS, SCALES, Run, console
from bench.latency import latency, recovery
from bench.profile import summarise
from bench.throughput import throughput


def main() -> None:
    name = os.environ.get("BENCH_SCALE", "quick")
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE={name!r}: choose one of {', '.join(SCALES)}")
    run = Run(SCALES[name])
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    folder = Path(os.environ.get("BENCH_RESULTS", RESULTS))
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / when.replace(":", "")
    profile = (
        stem.with_name(f"{stem.name}-worker.stacks") if os.environ.get("BENCH_PROFILE") else None
    )
    results: dict[str, Any] = {
        "scale": name,
        "when": when,
        "cores": os.cpu_count(),
        "throughput": throughput(run, profile),
        "latency": latency(run),
        "recovery": recovery(run),
    }
    if profile is not None:
        results["profile"] = {"stacks": str(profile), **summarise(profile)}
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(results, indent=2))
    table = Table("measure", "value", title=f"safeguard-stream benchmark ({name})")
    for section in ("throughput", "latency", "recovery", "profile"):
        for key, value in results.get(section, {}).items():
            if isinstance(value, dict):
                for inner, figure in value.items():
                    table.add_row(f"{section}.{key}: {inner}", str(figure))
            else:
                table.add_row(f"{section}.{key}", str(value))
    Console(width=max(Console().width, 120)).print(table)
    console.log(f"written {path}")


if __name__ == "__main__":
    main()
