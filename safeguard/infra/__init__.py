"""The local infrastructure: a real Kafka broker and PostgreSQL cluster, or the external ones.

``up`` starts what is not configured as external and waits until each answers (for the local
broker it also creates the project's topics and grants each part its ACLs, as the admin);
``down`` stops exactly what ``up`` started, through pid files; ``status`` reports both.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeguard.infra import kafka, postgres, process
from safeguard.kernel.errors import ServiceUnavailableError
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import ensure_topics


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` knows of one service."""

    name: str
    managed: bool
    running: bool
    address: str
    pid: int | None = None
    log: str | None = None
    started_now: bool = False


def up(settings: Settings) -> list[ServiceStatus]:
    """Start (or reuse) Kafka and PostgreSQL; return their status once both answer."""
    if settings.kafka_managed or settings.postgres_managed:
        # 0711: PostgreSQL, run as its own account, passes through to its folder inside.
        process.private_folder(settings.data_dir.resolve(), mode=0o711)
    if settings.kafka_managed:
        broker = kafka.KafkaBroker(settings)
        started = broker.start()
        ensure_topics(settings)
        k = _kafka_status(settings, started_now=started)
    else:
        kafka.check_external(settings)
        k = _kafka_status(settings)
    if settings.postgres_managed:
        started = postgres.PostgresCluster(settings).start()
        p = _postgres_status(settings, started_now=started)
    else:
        postgres.check_external(settings.dsn, settings.dsn_redacted)
        p = _postgres_status(settings)
    return [k, p]


def down(settings: Settings) -> list[str]:
    """Stop the services this project started; return the names of those stopped."""
    stopped = []
    if settings.postgres_managed and postgres.PostgresCluster(settings).stop():
        stopped.append("postgres")
    if settings.kafka_managed and kafka.KafkaBroker(settings).stop():
        stopped.append("kafka")
    return stopped


def status(settings: Settings) -> list[ServiceStatus]:
    return [_kafka_status(settings), _postgres_status(settings)]


def _kafka_status(settings: Settings, *, started_now: bool = False) -> ServiceStatus:
    if not settings.kafka_managed:
        return ServiceStatus(
            "kafka", False, kafka.metadata_answers(settings), settings.kafka_servers
        )
    broker = kafka.KafkaBroker(settings)
    pid = broker.pid()
    running = pid is not None and kafka.metadata_answers(settings)
    return ServiceStatus(
        "kafka", True, running, settings.kafka_servers, pid, str(broker.log_path), started_now
    )


def _postgres_status(settings: Settings, *, started_now: bool = False) -> ServiceStatus:
    if not settings.postgres_managed:
        try:
            postgres.check_external(settings.dsn, settings.dsn_redacted)
            running = True
        except ServiceUnavailableError:
            running = False
        return ServiceStatus("postgres", False, running, settings.dsn_redacted)
    cluster = postgres.PostgresCluster(settings)
    pid = cluster.pid()
    return ServiceStatus(
        "postgres",
        True,
        pid is not None,
        settings.dsn_redacted,
        pid,
        str(cluster.log_path),
        started_now,
    )
