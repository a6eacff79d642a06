"""``make bench`` still runs: the benchmark at its smoke scale, against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from safeguard.kernel.clients import kafka_env
from safeguard.kernel.settings import Settings

from .helpers import REPO


def test_the_benchmark_runs_and_writes_its_figures(kafka: Settings, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=REPO,
        env={
            **os.environ,
            "BENCH_SCALE": "smoke",
            "BENCH_RESULTS": str(tmp_path),
            **kafka_env(kafka),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = tmp_path.glob("*.json")
    figures = json.loads(path.read_text())
    assert figures["scale"] == "smoke"
    assert figures["throughput"]["events"] == 2000
    assert figures["throughput"]["worker_events_per_s"] > 0
    assert figures["throughput"]["worker_vs_aiokafka"] > 0
    assert figures["throughput"]["faust_noop_events_per_s"] > 0
    assert figures["throughput"]["faust_same_io_events_per_s"] > 0
    assert figures["throughput"]["worker_vs_faust_same_io"] > 0
    assert figures["throughput"]["worker_without_faust_metrics_events_per_s"] > 0
    assert figures["throughput"]["worker_vs_without_faust_metrics"] > 0
    assert figures["latency"]["alerts"] == figures["latency"]["events"] >= 500
    assert figures["latency"]["p99_ms"] >= figures["latency"]["p50_ms"] > 0
    assert figures["recovery"]["restart_to_first_alert_s"] is not None
    assert "safeguard-stream benchmark (smoke)" in result.stdout
