"""Shadow runs of the rules: the retained history through a worker with other settings, into
topics of its own, and the difference between two such runs.

A shadow run named ``NAME`` copies the source topics (observations, school registrations, school
reference data, practitioners' actions) as they are now into ``shadow.NAME.<topic>``, runs a
worker over them under the app id ``<app id>-shadow-NAME`` with every topic its own (internal
signals and movement observations included, so nothing reaches a live topic) and the settings
given, waits until every input is consumed and stays so, and stops it. Running a name again
starts it afresh. ``diff`` compares what two runs leave open: per rule, the alerts one would
add, remove or re-level against the other.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import GroupIdNotFoundError, KafkaError

from safeguard.cli.common import stop
from safeguard.kernel.clients import connection_options, consumer_options, producer_options
from safeguard.kernel.errors import SafeguardError, ServiceUnavailableError
from safeguard.kernel.settings import Settings, env_name, load_settings, service_environment
from safeguard.kernel.topics import ensure_topics, topic_fields, topic_specs
from schemas.codec import EventCodec

log = logging.getLogger(__name__)

#: What a shadow run copies: the inputs agencies and practitioners send.
SOURCES = (
    "topic_observations",
    "topic_school_registrations",
    "topic_schools",
    "topic_alert_actions",
    "topic_identity_links",
)
#: What the worker consumes: the run is over when each is consumed and stays so.
CONSUMED = (
    "topic_observations",
    "topic_school_registrations",
    "topic_alert_actions",
    "topic_education_signals",
    "topic_concern_signals",
    "topic_family_departures",
    "topic_identity_links",
)
TOPICS = topic_fields()
OPEN = ("open", "acknowledged")


class ShadowError(SafeguardError):
    """A shadow run could not be made or read."""


@dataclass
class Shadow:
    """One named shadow run: its settings as the worker will see them."""

    name: str
    live: Settings
    overrides: dict[str, str] = field(default_factory=dict)
    """Environment settings the run changes (``SAFEGUARD_...=value``)."""

    @property
    def env(self) -> dict[str, str]:
        """The environment of the shadow worker: its own topics, app id and state folder."""
        prefix = f"shadow.{self.name}."
        return {
            **{env_name(t): prefix + getattr(self.live, t) for t in TOPICS},
            env_name("app_id"): f"{self.live.app_id}-shadow-{self.name}",
            env_name("worker_id"): f"shadow-{self.name}",
            env_name("education_sweep_seconds"): "1",
            **self.overrides,
        }

    @property
    def settings(self) -> Settings:
        return Settings(**{_field(k): v for k, v in self.env.items()})  # type: ignore[arg-type]


def _field(env: str) -> str:
    return env.lower().removeprefix("safeguard_")


def shadow_settings(name: str) -> Settings:
    """The topic names and app id of the shadow run ``name``, whatever it changed."""
    return Shadow(name, load_settings()).settings


def run(
    name: str,
    overrides: Mapping[str, str],
    *,
    timeout: float,
    progress: Callable[[str], None],
) -> dict[str, int]:
    """Make the shadow run ``name`` afresh; return how many records it copied per topic."""
    live = load_settings()
    unknown = [k for k in overrides if _field(k) not in Settings.model_fields]
    if unknown:
        raise ShadowError(f"not a setting: {', '.join(sorted(unknown))}")
    shadow = Shadow(name, live, dict(overrides))
    mine = shadow.settings
    progress(f"clearing shadow run {name!r}")
    forget(mine)
    ensure_topics(mine)
    copied = {}
    for topic in SOURCES:
        source, target = getattr(live, topic), getattr(mine, topic)
        copied[source] = _copy(live, source, target)
        progress(f"copied {copied[source]} records of {source}")
    progress("running the worker over the copy")
    folder = mine.worker_dir
    folder.mkdir(parents=True, exist_ok=True)
    logfile = folder / "shadow-worker.log"
    with logfile.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeguard", "worker", "-l", "info"],
            # Beside the live worker: its health endpoints on any free port, not the live one's.
            env=service_environment(
                "worker", {**os.environ, **shadow.env, "SAFEGUARD_WORKER_OPS_PORT": "0"}
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_settled(mine, proc, timeout, logfile)
    finally:
        stop(proc, grace=60)
    return copied


def forget(s: Settings) -> None:
    """Delete a shadow run's topics, consumer group and state, if any."""
    admin = _admin(s)
    try:
        mine = set(topic_specs(s))
        existing = [t for t in admin.list_topics() if t in mine]
        if existing:
            admin.delete_topics(existing)
            _wait(lambda: not set(admin.list_topics()) & set(existing), 60, "topics deleted")
        with contextlib.suppress(GroupIdNotFoundError, KafkaError):  # never run before
            admin.delete_groups([s.app_id])
    finally:
        admin.close()
    shutil.rmtree(s.worker_dir, ignore_errors=True)


def _copy(s: Settings, source: str, target: str) -> int:
    """Every record of ``source`` as it is now into the same partition of ``target``."""
    consumer = KafkaConsumer(**consumer_options(s, "admin", None))
    producer = KafkaProducer(**producer_options(s, "admin", linger_ms=20))
    count = 0
    try:
        parts = [TopicPartition(source, p) for p in consumer.partitions_for_topic(source) or ()]
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        left = {tp for tp, end in ends.items() if end > consumer.position(tp)}
        while left:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for r in records:
                    if r.offset < ends[tp]:
                        producer.send(
                            target,
                            r.value,
                            key=r.key,
                            partition=tp.partition,
                            timestamp_ms=r.timestamp,
                        )
                        count += 1
                if consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        producer.flush()
    finally:
        consumer.close()
        producer.close()
    return count


def _wait_until_settled(
    s: Settings, proc: subprocess.Popen[bytes], timeout: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    previous: dict[str, int] | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ShadowError(
                f"the shadow worker stopped with exit code {proc.returncode}; see {log}"
            )
        ends = {t: sum(_ends(s, getattr(s, t)).values()) for t in CONSUMED}
        consumed = _consumed(s)
        if consumed and ends == previous:
            return  # consumed, and no output fed the inputs again in between
        previous = ends if consumed else None
        time.sleep(3)
    raise ShadowError(f"the shadow run did not finish within {timeout:.0f}s; see {log}")


def _consumed(s: Settings) -> bool:
    admin = _admin(s)
    try:
        committed = admin.list_group_offsets({s.app_id: None}).get(s.app_id, {})
    except KafkaError:
        return False  # the group coordinator is still loading
    finally:
        admin.close()
    for topic in CONSUMED:
        for tp, end in _ends(s, getattr(s, topic)).items():
            if end and (tp not in committed or committed[tp].offset < end):
                return False
    return True


def _ends(s: Settings, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(**consumer_options(s, "admin", None))
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close()


def _admin(s: Settings) -> KafkaAdminClient:
    try:
        return KafkaAdminClient(**connection_options(s, "admin"))
    except KafkaError as exc:
        raise ServiceUnavailableError(
            f"no Kafka broker answered at {s.kafka_servers}: {type(exc).__name__}"
        ) from exc


def _wait(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise ShadowError(f"timed out waiting: {what}")
        time.sleep(0.5)


@dataclass(frozen=True)
class Change:
    """One alert that differs between two runs."""

    alert_id: str
    kind: str
    rule_id: str
    before: str | None
    """The level in the base run; None if it had no open alert."""
    after: str | None


def open_alerts(s: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest version of each alert a run leaves open, by (kind, child_ref)."""
    codec = EventCodec("alert")
    latest: dict[str, dict[str, Any]] = {}
    for topic in (s.topic_alerts_concern, s.topic_alerts_education):
        for value in _read(s, topic):
            alert = codec.decode(value)
            known = latest.get(alert["alert_id"])
            if known is None or alert["version"] > known["version"]:
                latest[alert["alert_id"]] = alert
    return {(a["kind"], a["child_ref"]): a for a in latest.values() if a["status"] in OPEN}


def diff(base: Settings, candidate: Settings) -> list[Change]:
    """What the candidate run adds, removes or re-levels against the base run."""
    before, after = open_alerts(base), open_alerts(candidate)
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old["level"] == new["level"]:
            continue
        shown = new or old
        assert shown is not None
        changes.append(
            Change(
                shown["alert_id"],
                key[0],
                shown["rule_id"],
                old["level"] if old else None,
                new["level"] if new else None,
            )
        )
    return changes


def summary(changes: list[Change]) -> dict[str, collections.Counter[str]]:
    """Per rule: how many alerts added, removed and re-levelled."""
    per_rule: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for c in changes:
        what = "added" if c.before is None else "removed" if c.after is None else "relevelled"
        per_rule[c.rule_id][what] += 1
    return dict(per_rule)


def _read(s: Settings, topic: str) -> list[bytes]:
    ends = _ends(s, topic)
    if not ends:
        raise ShadowError(f"no topic {topic}: has that shadow run been made?")
    consumer = KafkaConsumer(**consumer_options(s, "admin", None))
    values: list[bytes] = []
    try:
        consumer.assign(list(ends))
        consumer.seek_to_beginning(*ends)
        left = {tp for tp, end in ends.items() if end > 0}
        while left:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                values.extend(r.value for r in records if r.offset < ends[tp])
                if consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
    finally:
        consumer.close()
    return values
