"""The benchmark's harness: its scales, generated observations, and a run's broker and worker."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from rich.console import Console

from safeguard.kernel.clients import (
    connection_options,
    consumer_options,
    kafka_env,
    producer_options,
)
from safeguard.kernel.settings import ENV_PREFIX, Settings, load_settings
from safeguard.kernel.topics import ensure_topics, own_topics
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
    # Within the day after T0, so never after the worker's clock (T0 + 1 day): an event dated
    # after "now" is refused, and a benchmark of refusals would measure nothing.
    when = T0 + dt.timedelta(seconds=i % 86_400)
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
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}"
        self.tmp = Path(tempfile.mkdtemp(prefix="safeguard-bench-"))
        self.admin = KafkaAdminClient(**connection_options(self.settings, "admin"))

    def topics(self, name: str) -> dict[str, str]:
        """Worker settings for a phase: its own topics and app id."""
        base = f"{self.prefix}-{name}"
        env = {
            "SAFEGUARD_APP_ID": base,
            "SAFEGUARD_WORKER_OPS_PORT": "0",  # workers side by side: any free port each
            "SAFEGUARD_DATA_DIR": str(self.tmp / name),
            "SAFEGUARD_TOPIC_PARTITIONS": str(self.scale.partitions),
            "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
            **kafka_env(self.settings),
            # The generated events happen from T0 on: the worker's clock is then too, so an
            # immediate-risk report is current and nothing has left the look-back.
            "SAFEGUARD_CLOCK": (T0 + dt.timedelta(days=1)).isoformat(),
        }
        env |= own_topics(base)
        # As the admin: the phase's topics, Faust's changelogs included, and the worker's ACLs.
        ensure_topics(settings_of(env))
        return env

    def produce(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        producer = KafkaProducer(
            **producer_options(self.settings, "admin", linger_ms=20, batch_size=256 * 1024)
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

    def records(self, topic: str) -> int:
        """How many records ``topic`` holds (its partitions' end offsets)."""
        consumer = KafkaConsumer(**consumer_options(self.settings, "admin", None))
        try:
            partitions = [TopicPartition(topic, p) for p in range(self.scale.partitions)]
            return int(sum(consumer.end_offsets(partitions).values()))
        finally:
            consumer.close()

    def refused_none(self, env: dict[str, str], what: str) -> None:
        """Stop the benchmark if the worker dead-lettered any of a phase's events."""
        dead = self.records(env["SAFEGUARD_TOPIC_DEADLETTER"])
        if dead:
            raise SystemExit(
                f"the worker dead-lettered {dead} records in {what}: the figures would measure "
                "refusals, not processing"
            )

    def lag(self, group: str, topic: str) -> int:
        consumer = KafkaConsumer(**consumer_options(self.settings, "admin", None))
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


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a process started with ``env`` (``SAFEGUARD_*`` variables) would read."""
    fields = {
        name.removeprefix(ENV_PREFIX).lower(): value
        for name, value in env.items()
        if name.startswith(ENV_PREFIX)
    }
    return Settings.model_validate(fields)


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
