"""The secured broker, as the launcher starts it for a new user: TLS, SCRAM logins, and ACLs
that let each part do exactly its job (``safeguard.kernel.access``), and nothing else."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import warnings
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError as AioTopicAuthorizationFailed
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from safeguard.infra.kafka import KafkaBroker
from safeguard.kernel.clients import (
    Principal,
    connection_options,
    consumer_options,
    kafka_env,
    producer_options,
)
from safeguard.kernel.settings import Settings

from .helpers import publish, safeguard

NOT_AUTHORISED = 29  # TOPIC_AUTHORIZATION_FAILED


@pytest.fixture(scope="module")
def secured(fresh_broker: Settings) -> Iterator[Settings]:
    """The new broker with the project's topics and ACLs, made by the admin's command."""
    done = subprocess.run(
        safeguard("topics", "create"),
        env={**os.environ, **kafka_env(fresh_broker)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # One record on every topic, so a principal allowed to read one reads exactly it.
    for field in ("topic_observations", "topic_alerts_concern", "topic_deadletter"):
        publish(fresh_broker, getattr(fresh_broker, field), [(b"k", b"probe")])
    yield fresh_broker


def can_write(kafka: Settings, principal: Principal, topic: str) -> bool:
    producer = KafkaProducer(**producer_options(kafka, principal), max_block_ms=10_000)
    try:
        producer.send(topic, key=b"k", value=b"v").get(timeout=15)
        return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        producer.close()


def can_read(kafka: Settings, principal: Principal, topic: str) -> bool:
    """False when ``principal`` may not see the topic or may not fetch from it; True when it
    reads the topic's first record."""
    admin = KafkaAdminClient(**connection_options(kafka, principal))
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    if described["error_code"] == NOT_AUTHORISED:
        return False

    async def fetch() -> bytes:
        consumer = AIOKafkaConsumer(**consumer_options(kafka, principal, None))
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(kafka.topic_partitions)])
            await consumer.seek_to_beginning()
            while True:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    return bytes(records[0].value)
        finally:
            await consumer.stop()

    try:
        assert asyncio.run(asyncio.wait_for(fetch(), 30)) == b"probe"
        return True
    except AioTopicAuthorizationFailed:
        return False


def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
    secured: Settings,
) -> None:
    plaintext = {"bootstrap_servers": secured.kafka_servers, "request_timeout_ms": 3000}
    tls_only = {
        **{k: v for k, v in connection_options(secured, "admin").items() if "sasl" not in k},
        "security_protocol": "SSL",
        "request_timeout_ms": 3000,
    }
    wrong = {**connection_options(secured, "admin"), "sasl_plain_password": "guessed"}
    # A client that cannot bootstrap leaves its refused sockets to the garbage collector.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        for options in (plaintext, tls_only, {**wrong, "request_timeout_ms": 3000}):
            with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
                KafkaAdminClient(**options)
        gc.collect()
    log = KafkaBroker(secured).log_path.read_text()
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in log


@pytest.mark.parametrize(
    ("principal", "topic", "allowed"),
    [
        ("intake", "topic_observations", True),
        ("intake", "topic_alerts_concern", False),  # a forged alert
        ("intake", "topic_alert_actions", False),
        ("importer", "topic_schools", True),
        ("importer", "topic_alerts_education", False),
        ("dashboard", "topic_alert_actions", True),
        ("dashboard", "topic_observations", False),
        ("dashboard", "topic_alerts_concern", False),
        ("alert-store", "topic_deadletter", True),
        ("alert-store", "topic_alerts_concern", False),
        ("worker", "topic_alerts_concern", True),
        ("worker", "topic_observations", True),  # the movements it finds in school records
        ("worker", "topic_schools", False),
        ("worker", "topic_alert_actions", False),
    ],
)
def test_each_part_writes_only_its_own_topics(
    secured: Settings, principal: Principal, topic: str, allowed: bool
) -> None:
    assert can_write(secured, principal, getattr(secured, topic)) is allowed


@pytest.mark.parametrize(
    ("principal", "topic", "allowed"),
    [
        ("worker", "topic_observations", True),
        ("worker", "topic_deadletter", False),
        ("alert-store", "topic_alerts_concern", True),
        ("alert-store", "topic_observations", False),
        ("alert-store", "topic_deadletter", False),  # it writes dead letters, never reads them
        ("dashboard", "topic_observations", False),
        ("dashboard", "topic_alerts_concern", False),
        ("intake", "topic_observations", False),
        ("importer", "topic_deadletter", False),
        ("admin", "topic_deadletter", True),
    ],
)
def test_each_part_reads_only_what_it_needs(
    secured: Settings, principal: Principal, topic: str, allowed: bool
) -> None:
    assert can_read(secured, principal, getattr(secured, topic)) is allowed


def test_only_the_admin_creates_topics(secured: Settings) -> None:
    from kafka.admin import NewTopic
    from kafka.errors import TopicAuthorizationFailedError as Refused

    admin = KafkaAdminClient(**connection_options(secured, "intake"))
    try:
        with pytest.raises(Refused):
            admin.create_topics([NewTopic("safeguarding.forged.v1", 1, 1)])
    finally:
        admin.close()


def test_the_broker_keeps_its_keys_and_passwords_to_its_owner(secured: Settings) -> None:
    broker = KafkaBroker(secured)
    home = broker.home
    private = [
        home / "credentials.json",
        broker.config_path,
        broker.broker_home / "tls" / "broker.p12",
        home / "tls" / "broker.p12",
        home / "tls" / "ca.p12",
        home / "tls" / "store.password",
    ]
    assert {str(path): oct(path.stat().st_mode & 0o777) for path in private} == {
        str(path): "0o600" for path in private
    }
    assert oct((home / "tls").stat().st_mode & 0o777) == "0o700"
    assert "PLAINTEXT://" not in broker.config_path.read_text()
