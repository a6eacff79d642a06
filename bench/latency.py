"""Alert latency at a fixed publish rate, and recovery after SIGKILL."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from hdrh.histogram import HdrHistogram
from kafka import KafkaConsumer, KafkaProducer

from bench.harness import AGENCIES, ORDINARY, Run, console, observation, peak_rss_mb, stop
from safeguard.kernel.clients import consumer_options, producer_options
from safeguard.kernel.errors import EXIT_FAULT


def latency(run: Run) -> dict[str, Any]:
    s = run.scale
    env = run.topics("latency")
    proc = run.worker(env, "latency")
    alerts = KafkaConsumer(
        env["SAFEGUARD_TOPIC_ALERTS_CONCERN"],
        **consumer_options(run.settings, "admin", None),
        consumer_timeout_ms=1000,
    )
    producer = KafkaProducer(**producer_options(run.settings, "admin", linger_ms=0))
    # Warm up: the first alert proves the worker is ready.
    key, value = observation(
        -1, 0, "control.seen_in_inappropriate_places", AGENCIES[2], urgent=True
    )
    producer.send(env["SAFEGUARD_TOPIC_OBSERVATIONS"], key=key, value=value)
    producer.flush()
    _wait_alerts(alerts, 1, 120)
    console.log(f"latency: {s.rate} events/s for {s.seconds} s")
    sent: dict[str, int] = {}
    futures = []
    tick = 0.01
    per_tick = max(1, round(s.rate * tick))
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < s.seconds:
        for _ in range(per_tick):
            key, value = observation(
                n, 1, "control.seen_in_inappropriate_places", AGENCIES[2], urgent=True
            )
            futures.append(
                (
                    key.decode(),
                    producer.send(env["SAFEGUARD_TOPIC_OBSERVATIONS"], key=key, value=value),
                )
            )
            n += 1
        start_next = start + tick * (n // per_tick)
        time.sleep(max(0.0, start_next - time.monotonic()))
    producer.flush()
    for ref, future in futures:
        sent[ref] = future.get(timeout=30).timestamp
    received = _wait_alerts(alerts, n, 120, want=set(sent))
    histogram = HdrHistogram(1, 600_000, 3)
    for ref, alert_ts in received.items():
        histogram.record_value(max(1, alert_ts - sent[ref]))
    stop(proc)
    producer.close()
    alerts.close()
    return {
        "rate_per_s": s.rate,
        "seconds": s.seconds,
        "events": n,
        "alerts": len(received),
        "p50_ms": histogram.get_value_at_percentile(50),
        "p95_ms": histogram.get_value_at_percentile(95),
        "p99_ms": histogram.get_value_at_percentile(99),
        "max_ms": histogram.get_max_value(),
    }


def _wait_alerts(
    consumer: KafkaConsumer,
    count: int,
    timeout: float,
    want: set[str] | None = None,
    supervise: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    found: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        supervise()
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                ref = record.key.decode()
                if want is None or ref in want:
                    found.setdefault(ref, record.timestamp)
    return found


class Supervised:
    """A worker started again when it stops itself for a fault (exit 70), as compose does: the
    time to the first alert then includes the restart, and the exits are reported."""

    def __init__(self, run: Run, env: dict[str, str], log: str) -> None:
        self.run, self.env, self.log = run, env, log
        self.proc = run.worker(env, log)
        self.fault_exits = 0

    def check(self) -> None:
        if self.proc.poll() == EXIT_FAULT:
            self.fault_exits += 1
            self.proc = self.run.worker(self.env, f"{self.log}-{self.fault_exits}")
        elif self.proc.poll() is not None:
            raise SystemExit(f"the restarted worker exited with {self.proc.returncode}")


def recovery(run: Run) -> dict[str, Any]:
    s = run.scale
    env = run.topics("recovery")
    topic = env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    console.log(f"recovery: state for {s.recovery_children} children")
    run.produce(
        topic,
        [
            observation(n, 0, ORDINARY[n % len(ORDINARY)], AGENCIES[0])
            for n in range(s.recovery_children)
        ],
    )
    proc = run.worker(env, "recovery")
    while run.lag(env["SAFEGUARD_APP_ID"], topic) > 0:
        time.sleep(0.5)
    rss = peak_rss_mb(proc.pid)
    stop(proc, signal.SIGKILL)
    alerts = KafkaConsumer(
        env["SAFEGUARD_TOPIC_ALERTS_CONCERN"],
        **consumer_options(run.settings, "admin", None),
        consumer_timeout_ms=1000,
    )
    restarted = time.monotonic()
    worker = Supervised(run, env, "recovery-2")
    run.produce(
        topic,
        [observation(10**9, 1, "control.seen_in_inappropriate_places", AGENCIES[2], urgent=True)],
    )
    found = _wait_alerts(alerts, 1, 300, supervise=worker.check)
    seconds = time.monotonic() - restarted
    stop(worker.proc)
    alerts.close()
    return {
        "children": s.recovery_children,
        "restart_to_first_alert_s": round(seconds, 1) if found else None,
        "fault_exits_after_restart": worker.fault_exits,
        "peak_rss_mb_before_kill": round(rss, 1),
    }
