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

import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from hdrh.histogram import HdrHistogram
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from rich.console import Console
from rich.table import Table

from bench.profile import summarise
from safeguard.infra.kafka import KafkaBroker
from safeguard.kernel.clients import producer_options
from safeguard.kernel.settings import load_settings
from schemas.codec import EventCodec

RESULTS = Path(__file__).resolve().parent / "results"
console = Console(stderr=True)


@dataclass(frozen=True)
class Scale:
    events: int
    children: int
    rate: int
    seconds: int
    recovery_children: int
    partitions: int = 8


SCALES = {
    "smoke": Scale(events=2_000, children=500, rate=200, seconds=3, recovery_children=500),
    "quick": Scale(
        events=200_000, children=50_000, rate=1_000, seconds=60, recovery_children=100_000
    ),
    "full": Scale(
        events=2_000_000, children=1_000_000, rate=1_000, seconds=60, recovery_children=100_000
    ),
}
ORDINARY = [
    "say_behave.no_peer_friends",
    "physical.unkempt_same_clothes",
    "health.somatic_complaints",
    "movement.frequent_address_changes",
    "control.long_working_hours",
    "docs.none",
]
AGENCIES = [("school", "6612345"), ("health", "hb-cardiff"), ("police", "south-wales")]
T0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
CODEC = EventCodec("observation")


def child(n: int) -> str:
    return hashlib.sha256(f"bench-{n}".encode()).hexdigest()


def observation(
    n: int, i: int, indicator: str, agency: tuple[str, str], *, urgent: bool = False
) -> tuple[bytes, bytes]:
    when = T0 + dt.timedelta(minutes=i)
    ref = child(n)
    return ref.encode(), CODEC.encode(
        {
            "event_id": f"bench-{n}-{i}-{uuid.uuid4().hex[:8]}",
            "child_ref": ref,
            "indicator": indicator,
            "agency": {"id": agency[1], "type": agency[0]},
            "observed_at": when,
            "reported_at": when,
            "local_authority": "W06000015",
            "date_of_birth": None,
            "age_disputed": False,
            "immediate_risk": urgent,
            "source_ref": None,
        }
    )


class Run:
    """One benchmark run: its own topics, app ids and data folders."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.settings = load_settings()
        self.servers = self.settings.kafka_servers
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.tmp = Path(tempfile.mkdtemp(prefix="safeguard-bench-"))
        self.admin = KafkaAdminClient(bootstrap_servers=self.servers)

    def topics(self, name: str) -> dict[str, str]:
        """Worker settings for a phase: its own topics and app id."""
        base = f"{self.prefix}-{name}"
        env = {
            "SAFEGUARD_APP_ID": base,
            "SAFEGUARD_DATA_DIR": str(self.tmp / name),
            "SAFEGUARD_TOPIC_PARTITIONS": str(self.scale.partitions),
            "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
            "SAFEGUARD_KAFKA_BOOTSTRAP": self.servers,
        }
        for topic in (
            "observations",
            "school_registrations",
            "schools",
            "alerts_concern",
            "alerts_education",
            "deadletter",
            "alert_actions",
            "education_signals",
            "family_departures",
        ):
            env[f"SAFEGUARD_TOPIC_{topic.upper()}"] = f"{base}.{topic}"
        self.admin.create_topics(
            [
                NewTopic(v, num_partitions=self.scale.partitions, replication_factor=1)
                for k, v in env.items()
                if k.startswith("SAFEGUARD_TOPIC_") and k != "SAFEGUARD_TOPIC_PARTITIONS"
            ]
        )
        return env

    def produce(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        producer = KafkaProducer(
            **producer_options(self.servers, linger_ms=20, batch_size=256 * 1024)
        )
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush()
        producer.close()

    def worker(
        self, env: dict[str, str], log: str, profile: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a worker; with ``profile``, under ``py-spy record`` writing raw stacks there."""
        out = (self.tmp / f"{log}.log").open("ab")
        command = [sys.executable, "-m", "safeguard", "worker", "-l", "warning"]
        if profile is not None:
            spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
            command = [spy, "record", "-r", "100", "-f", "raw", "-o", str(profile), "--", *command]
        return subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def lag(self, group: str, topic: str) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.servers)
        try:
            partitions = [TopicPartition(topic, p) for p in range(self.scale.partitions)]
            ends = consumer.end_offsets(partitions)
            try:
                committed = self.admin.list_group_offsets({group: None}).get(group, {})
            except KafkaError as exc:
                if not exc.retriable:  # e.g. the coordinator is still loading
                    raise
                return sys.maxsize
            return sum(
                end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
            )
        finally:
            consumer.close()


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match[1]) / 1024 if match else float("nan")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def throughput(run: Run, profile: Path | None = None) -> dict[str, Any]:
    s = run.scale
    env = run.topics("throughput")
    topic = env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    records = [
        observation(i % s.children, i, ORDINARY[i % len(ORDINARY)], AGENCIES[(i // s.children) % 3])
        for i in range(s.events)
    ]
    console.log(f"preloading {s.events} events for {s.children} children")
    run.produce(topic, records)
    del records

    console.log("baseline: aiokafka consume + decode")
    decode_rate = asyncio.run(_aiokafka_decode(run.servers, topic, s.events))
    console.log("baseline: Kafka ConsumerPerformance")
    broker_rate = _consumer_perf(run, topic, s.events)

    out = f"{topic}.ceiling-out"
    run.admin.create_topics([NewTopic(out, num_partitions=s.partitions, replication_factor=1)])
    faust_rates = {}
    for mode in ("noop", "same_io"):
        console.log(f"baseline: Faust agent ({mode}), start to {s.events} events")
        faust_rates[mode] = _faust_ceiling(run, env, mode, topic, out)

    console.log("worker: start to zero lag")
    started = time.monotonic()
    proc = run.worker(env, "throughput", profile)
    while run.lag(env["SAFEGUARD_APP_ID"], topic) > 0:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited; see {run.tmp / 'throughput.log'}")
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    if profile is None:
        rss = peak_rss_mb(proc.pid)
        stop(proc)
    else:  # the worker is py-spy's child; Ctrl-C makes py-spy write its stacks and end it
        rss = peak_rss_mb(int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()))
        stop(proc, signal.SIGINT)
    worker_rate = s.events / elapsed
    return {
        "profiled": profile is not None,
        "events": s.events,
        "children": s.children,
        "worker_events_per_s": round(worker_rate),
        "aiokafka_decode_events_per_s": round(decode_rate),
        "kafka_consumer_perf_events_per_s": round(broker_rate),
        "faust_noop_events_per_s": round(faust_rates["noop"]),
        "faust_same_io_events_per_s": round(faust_rates["same_io"]),
        "worker_vs_aiokafka": round(worker_rate / decode_rate, 3),
        "worker_vs_kafka": round(worker_rate / broker_rate, 3),
        "worker_vs_faust_same_io": round(worker_rate / faust_rates["same_io"], 3),
        "faust_noop_vs_aiokafka": round(faust_rates["noop"] / decode_rate, 3),
        "worker_seconds": round(elapsed, 1),
        "peak_rss_mb": round(rss, 1),
    }


def _faust_ceiling(run: Run, env: dict[str, str], mode: str, topic: str, out: str) -> float:
    """Events per second of a Faust agent doing less than the worker (``bench.faust_ceiling``)."""
    events = run.scale.events
    started = time.monotonic()
    with (run.tmp / f"faust-{mode}.log").open("ab") as log:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.faust_ceiling",
                mode,
                topic,
                out,
                str(events),
                str(run.tmp / f"faust-{mode}"),
            ],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=3600,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"the Faust {mode} baseline failed; see {run.tmp / f'faust-{mode}.log'}")
    return events / (time.monotonic() - started)


async def _aiokafka_decode(servers: str, topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        started = time.monotonic()
        while seen < expected:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for record in records:
                    CODEC.decode(record.value)
                seen += len(records)
        return expected / (time.monotonic() - started)
    finally:
        await consumer.stop()


def _consumer_perf(run: Run, topic: str, expected: int) -> float:
    broker = KafkaBroker(run.settings)
    result = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            f"{broker.libs}/*",
            "org.apache.kafka.tools.ConsumerPerformance",
            "--bootstrap-server",
            run.servers,
            "--topic",
            topic,
            "--messages",
            str(expected),
            "--timeout",
            "120000",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    header, values = [line for line in result.stdout.splitlines() if line.strip()][-2:]
    row = dict(
        zip(
            [h.strip() for h in header.split(",")],
            [v.strip() for v in values.split(",")],
            strict=False,
        )
    )
    return float(row["nMsg.sec"])


def latency(run: Run) -> dict[str, Any]:
    s = run.scale
    env = run.topics("latency")
    proc = run.worker(env, "latency")
    alerts = KafkaConsumer(
        env["SAFEGUARD_TOPIC_ALERTS_CONCERN"],
        bootstrap_servers=run.servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    producer = KafkaProducer(**producer_options(run.servers, linger_ms=0))
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
    consumer: KafkaConsumer, count: int, timeout: float, want: set[str] | None = None
) -> dict[str, int]:
    found: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                ref = record.key.decode()
                if want is None or ref in want:
                    found.setdefault(ref, record.timestamp)
    return found


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
        bootstrap_servers=run.servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    restarted = time.monotonic()
    proc = run.worker(env, "recovery-2")
    run.produce(
        topic,
        [observation(10**9, 1, "control.seen_in_inappropriate_places", AGENCIES[2], urgent=True)],
    )
    found = _wait_alerts(alerts, 1, 300)
    seconds = time.monotonic() - restarted
    stop(proc)
    alerts.close()
    return {
        "children": s.recovery_children,
        "restart_to_first_alert_s": round(seconds, 1) if found else None,
        "peak_rss_mb_before_kill": round(rss, 1),
    }


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
