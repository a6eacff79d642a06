"""The project's topics, as Faust sees them, and their creation through Kafka's admin API.

Every topic carries raw bytes in Avro single-object encoding, keyed by the UTF-8 ``child_ref``
(the school reference topic is keyed by ``school_id``). Agents decode values themselves so that
undecodable bytes reach the dead-letter topic whole instead of being dropped by the framework.
"""

from __future__ import annotations

import contextlib
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from safeguard.errors import ServiceUnavailableError
from safeguard.settings import Settings
from streams.app import app, settings

log = logging.getLogger(__name__)


def _topic(name: str):  # type: ignore[no-untyped-def]  # faust's Topic is untyped
    return app.topic(name, key_serializer="raw", value_serializer="raw")


observations = _topic(settings.topic_observations)
school_registrations = _topic(settings.topic_school_registrations)
alerts_concern = _topic(settings.topic_alerts_concern)
alerts_education = _topic(settings.topic_alerts_education)
deadletter = _topic(settings.topic_deadletter)
education_signals = _topic(settings.topic_education_signals)
family_departures = _topic(settings.topic_family_departures)
#: One stream for the registration agent: roll changes and the signals about the same children
#: (both keyed by child_ref and co-partitioned), so every change to a child's registration state
#: happens in one place, on the partition's owner.
registrations_and_signals = app.topic(
    settings.topic_school_registrations,
    settings.topic_education_signals,
    key_serializer="raw",
    value_serializer="raw",
)


def topic_specs(s: Settings) -> dict[str, dict[str, str]]:
    """Every topic the project uses, with its configuration overrides."""
    compacted = {"cleanup.policy": "compact"}
    return {
        s.topic_observations: {},
        s.topic_school_registrations: {},
        s.topic_schools: compacted,
        s.topic_alerts_concern: {},
        s.topic_alerts_education: {},
        s.topic_deadletter: {"retention.ms": "-1"},  # kept until someone replays or clears it
        s.topic_alert_actions: {},
        s.topic_education_signals: {},
        s.topic_family_departures: {},
    }


def ensure_topics(s: Settings) -> list[str]:
    """Create the project's topics that do not exist yet; return the names created."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=s.kafka_servers, request_timeout_ms=15_000)
    except (KafkaError, OSError) as exc:
        raise ServiceUnavailableError(f"no Kafka broker answers at {s.kafka_servers}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=s.topic_partitions,
                replication_factor=s.topic_replication_factor,
                topic_configs=config,
            )
            for name, config in topic_specs(s).items()
            if name not in existing
        ]
        if missing:
            # Another process may create them first: the goal is met all the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        for topic in missing:
            log.info("created topic %s (%d partitions)", topic.name, s.topic_partitions)
        return [t.name for t in missing]
    finally:
        admin.close()
