"""Every Kafka topic the project uses, Faust's own included, and their creation and checking.

Importing this module builds no Faust app: producers and the command line use it as they are.

``ensure_topics`` (as the ``admin`` principal) creates what is missing (changelogs compacted,
every keyed topic with ``topic_partitions`` partitions), grants each part its ACLs
(``safeguard.kernel.access``), refuses to go on when an existing topic has another partition
count than the topics it is co-partitioned with, and returns only when the broker's metadata
shows every topic with a leader for each partition. ``check_topics`` does the same checks
without creating anything, as a part that may not create topics: the worker calls it before any
agent runs, since on a broker new to the project Faust would otherwise create its changelog
topics after it fetched its metadata, and every agent would fail for minutes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from safeguard.kernel.access import grant
from safeguard.kernel.clients import Principal, connection_options
from safeguard.kernel.errors import ConfigError, ServiceTimeoutError, ServiceUnavailableError
from safeguard.kernel.settings import Settings, env_name

log = logging.getLogger(__name__)

#: The worker's state tables; each has a changelog topic ``<app_id>-<table>-changelog``.
TABLES = (
    "child_to_evidence",
    "child_to_registrations",
    "child_to_deadline",
    "child_to_concern_due",
    "family_to_departures",
    "identity_graph",
    "block_to_entries",
)
#: Tables of a one-partition topic: their changelogs have one partition too.
SINGLE_PARTITION_TABLES = ("identity_graph",)
MS_PER_DAY = 86_400_000
#: A changelog value overwritten (an erased child's state, expired evidence) is compacted away
#: within this many days: Kafka rolls and cleans a segment once its oldest record is this old.
OVERWRITTEN_GONE_WITHIN_DAYS = 7
_NOT_AUTHORISED = 29  # Kafka's TOPIC_AUTHORIZATION_FAILED


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its partition count and its configuration overrides."""

    partitions: int
    config: dict[str, str]
    co_partitioned: bool = True
    """Keyed by child (or family) and read by the worker's agents and tables together."""


def topic_fields() -> tuple[str, ...]:
    """The names of the settings that name a topic."""
    return tuple(
        name
        for name in Settings.model_fields
        if name.startswith("topic_")
        and name not in ("topic_partitions", "topic_replication_factor")
    )


def own_topics(prefix: str) -> dict[str, str]:
    """Environment variables that give every topic a name of its own under ``prefix`` (tests,
    benchmarks and fault-injection runs sharing one broker)."""
    return {
        env_name(field): f"{prefix}.{field.removeprefix('topic_').replace('_', '-')}"
        for field in topic_fields()
    }


def changelog_topic(s: Settings, table: str) -> str:
    return f"{s.app_id}-{table}-changelog"


def leader_topic(s: Settings) -> str:
    return f"{s.app_id}-__assignor-__leader"


def topic_specs(s: Settings) -> dict[str, TopicSpec]:
    """Every topic the project uses, by name."""
    n = s.topic_partitions
    source = {"retention.ms": str(s.source_retention_days * MS_PER_DAY)}
    kept = {"retention.ms": str(s.deadletter_retention_days * MS_PER_DAY)}
    compacted = {"cleanup.policy": "compact"}
    specs = {
        s.topic_observations: TopicSpec(n, source),
        s.topic_school_registrations: TopicSpec(n, source),
        s.topic_schools: TopicSpec(n, compacted, co_partitioned=False),
        s.topic_alerts_concern: TopicSpec(n, {}),
        s.topic_alerts_education: TopicSpec(n, {}),
        s.topic_deadletter: TopicSpec(n, kept, co_partitioned=False),
        s.topic_alert_actions: TopicSpec(n, {}),
        s.topic_identity_links: TopicSpec(1, source, co_partitioned=False),
        # As long as the records an erasure stands against may still be read.
        s.topic_erasures: TopicSpec(n, source),
        # Read by no per-child table: another partition count would do no harm.
        s.topic_identity_encodings: TopicSpec(n, source, co_partitioned=False),
        s.topic_encoding_blocks: TopicSpec(n, {}),
        s.topic_identity_proposals: TopicSpec(n, {}, co_partitioned=False),
        s.topic_education_signals: TopicSpec(n, {}),
        s.topic_concern_signals: TopicSpec(n, {}),
        s.topic_family_departures: TopicSpec(n, {}),
        leader_topic(s): TopicSpec(1, {}, co_partitioned=False),
    }
    changelog = {
        **compacted,
        "max.compaction.lag.ms": str(OVERWRITTEN_GONE_WITHIN_DAYS * MS_PER_DAY),
    }
    for table in TABLES:
        if table in SINGLE_PARTITION_TABLES:
            specs[changelog_topic(s, table)] = TopicSpec(1, changelog, co_partitioned=False)
        else:
            specs[changelog_topic(s, table)] = TopicSpec(n, changelog)
    return specs


def ensure_topics(s: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create the missing topics, grant the ACLs, check the partition counts, wait until all
    have leaders.

    Returns the names created now. Raises ``ConfigError`` for a partition-count mismatch,
    ``ServiceUnavailableError`` when no broker answers or it refuses the admin,
    ``ServiceTimeoutError`` when the topics do not get leaders within ``timeout`` seconds.
    """
    specs = topic_specs(s)
    with _admin(s, "admin") as admin:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=spec.partitions,
                replication_factor=s.topic_replication_factor,
                topic_configs=spec.config,
            )
            for name, spec in specs.items()
            if name not in existing
        ]
        if missing:
            # Another process may create them first: the goal is met all the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        for topic in missing:
            log.info("created topic %s (%d partitions)", topic.name, topic.num_partitions)
        if s.kafka_manage_acls and s.kafka_security_protocol.startswith("SASL_"):
            log.info("granted %d ACLs", grant(admin, s))
        _wait_for_leaders(admin, specs, s, timeout)
        return [t.name for t in missing]


def check_topics(
    s: Settings, principal: Principal, names: list[str] | None = None, *, timeout: float = 60.0
) -> None:
    """Wait until every topic (or those ``names``) exists with a leader for each partition and
    the partition counts agree, as ``principal``; ``ConfigError`` naming the missing topics and
    the command that creates them when they do not appear within ``timeout`` seconds."""
    specs = topic_specs(s)
    if names is not None:
        specs = {name: spec for name, spec in specs.items() if name in names}
    with _admin(s, principal) as admin:
        try:
            _wait_for_leaders(admin, specs, s, timeout)
        except ServiceTimeoutError as exc:
            raise ConfigError(
                f"{exc}; create the topics as the Kafka admin with `safeguard topics create` "
                "(`safeguard infra up` does it for the local broker)"
            ) from None


@contextlib.contextmanager
def _admin(s: Settings, principal: Principal) -> Iterator[KafkaAdminClient]:
    """An admin client for ``principal``; a refusal by the broker becomes our error."""
    try:
        admin = KafkaAdminClient(**connection_options(s, principal), request_timeout_ms=15_000)
    except (KafkaError, OSError) as exc:
        raise ServiceUnavailableError(
            f"no Kafka broker answers at {s.kafka_servers} (as {principal}): {type(exc).__name__}"
        ) from exc
    try:
        yield admin
    except KafkaError as exc:
        raise ServiceUnavailableError(
            f"the Kafka broker at {s.kafka_servers} refused a request of {principal}: "
            f"{type(exc).__name__}"
        ) from exc
    finally:
        admin.close()


def _wait_for_leaders(
    admin: KafkaAdminClient, specs: dict[str, TopicSpec], s: Settings, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        described = {t["name"]: t for t in admin.describe_topics(list(specs))}
        counts = {name: len(t.get("partitions") or ()) for name, t in described.items()}
        check_partitions(specs, counts, s)
        waiting = sorted(
            name
            for name, t in described.items()
            if t.get("error_code") or any(p["leader_id"] < 0 for p in t["partitions"])
        )
        if not waiting:
            return
        # Kafka answers "not authorised" for a topic this principal may not see, and for one
        # that does not exist yet (its ACLs come with it): both are waited for.
        refused = sorted(n for n, t in described.items() if t.get("error_code") == _NOT_AUTHORISED)
        if time.monotonic() > deadline and refused:
            raise ConfigError(
                f"the broker does not let this principal see {len(refused)} topics "
                f"({', '.join(refused[:3])}): they do not exist yet, or it was not granted "
                "them; `safeguard topics create` makes both"
            )
        if time.monotonic() > deadline:
            raise ServiceTimeoutError(
                f"{len(waiting)} topics have no leader after {timeout:.0f}s: "
                f"{', '.join(waiting[:5])}"
            )
        time.sleep(0.2)


def check_partitions(specs: dict[str, TopicSpec], counts: dict[str, int], s: Settings) -> None:
    """Raise ``ConfigError`` naming both topics when co-partitioned topics differ in count."""
    reference = s.topic_observations
    expected = counts.get(reference) or s.topic_partitions
    for name, spec in specs.items():
        have = counts.get(name, 0)
        if have == 0 or not spec.co_partitioned:
            continue  # being created (no metadata yet), or read whole by every worker
        if have != expected:
            raise ConfigError(
                f"topic {name} has {have} partitions but {reference} has "
                f"{expected}: topics keyed by child must have the same count "
                f"({env_name('topic_partitions')}={s.topic_partitions}); recreate one of them"
            )
        if have != spec.partitions:
            raise ConfigError(
                f"topic {name} has {have} partitions but "
                f"{env_name('topic_partitions')}={s.topic_partitions}: set it to {have} or "
                "recreate the topics"
            )
