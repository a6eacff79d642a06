"""Throughput: the worker beside plain aiokafka, Kafka's own tool and two Faust agents."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from kafka.admin import NewTopic

from bench.harness import AGENCIES, CODEC, ORDINARY, Run, console, observation, peak_rss_mb, stop
from safeguard.infra.kafka import KafkaBroker
from safeguard.kernel.clients import connection_options, consumer_options


def throughput(run: Run, profile: Path | None = None) -> dict[str, Any]:
    s = run.scale
    env = run.topics("throughput")
    topic = env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    records = _records(run)
    console.log(f"preloading {s.events} events for {s.children} children")
    run.produce(topic, records)
    del records

    console.log("baseline: aiokafka consume + decode")
    decode_rate = asyncio.run(_aiokafka_decode(run, topic, s.events))
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
    run.refused_none(env, "the throughput phase")
    if profile is None:
        rss = peak_rss_mb(proc.pid)
        stop(proc)
    else:  # the worker is py-spy's child; Ctrl-C makes py-spy write its stacks and end it
        rss = peak_rss_mb(int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()))
        stop(proc, signal.SIGINT)
    worker_rate = s.events / elapsed
    # The same worker without Faust's Prometheus sensors, over the same records (a group and
    # state of its own): what those sensors cost per message.
    bare = _worker_without_faust_metrics(run) if profile is None else None
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
        "worker_without_faust_metrics_events_per_s": round(bare) if bare else None,
        "worker_vs_without_faust_metrics": round(worker_rate / bare, 3) if bare else None,
        "peak_rss_mb": round(rss, 1),
    }


def _worker_without_faust_metrics(run: Run) -> float:
    """The worker with ``SAFEGUARD_WORKER_FAUST_METRICS=false``, over the same records on topics
    of its own: what Faust's Prometheus sensors cost."""
    env = {**run.topics("throughput-bare"), "SAFEGUARD_WORKER_FAUST_METRICS": "false"}
    topic = env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    run.produce(topic, _records(run))
    console.log("worker without Faust's Prometheus sensors: start to zero lag")
    started = time.monotonic()
    proc = run.worker(env, "throughput-bare")
    while run.lag(env["SAFEGUARD_APP_ID"], topic) > 0:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited; see {run.tmp / 'throughput-bare.log'}")
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    stop(proc)
    run.refused_none(env, "the throughput phase without Faust's sensors")
    return run.scale.events / elapsed


def _records(run: Run) -> list[tuple[bytes, bytes]]:
    s = run.scale
    return [
        observation(i % s.children, i, ORDINARY[i % len(ORDINARY)], AGENCIES[(i // s.children) % 3])
        for i in range(s.events)
    ]


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


async def _aiokafka_decode(run: Run, topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        **consumer_options(run.settings, "admin", None),
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


def _java_client_config(run: Run) -> Path:
    """Kafka's own tools log in as the admin too: the same options in Java's form (0600)."""
    options = connection_options(run.settings, "admin")
    lines = [f"security.protocol={options['security_protocol']}"]
    if run.settings.kafka_ca_path is not None:
        lines += [
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={run.settings.kafka_ca_path}",
        ]
    if "sasl_mechanism" in options:
        module = (
            "plain.PlainLoginModule"
            if options["sasl_mechanism"] == "PLAIN"
            else "scram.ScramLoginModule"
        )
        lines += [
            f"sasl.mechanism={options['sasl_mechanism']}",
            f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
            f'username="{options["sasl_plain_username"]}" password="{options["sasl_plain_password"]}";',
        ]
    path = run.tmp / "java-client.properties"
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


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
            run.settings.kafka_servers,
            "--command-config",
            str(_java_client_config(run)),
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
