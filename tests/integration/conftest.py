"""Integration fixtures: the real broker and database that ``safeguard infra up`` started.

A missing service is a skip on a laptop and a failure under ``CI=true``: integration tests are
never silently skipped in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import socket
import subprocess
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from safeguard.infra.kafka import KafkaBroker, metadata_answers
from safeguard.infra.process import remove_relocated
from safeguard.kernel.clients import connection_options, kafka_env
from safeguard.kernel.errors import ConfigError
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import own_topics

from .helpers import safeguard

pytestmark = pytest.mark.integration


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable; start it with `safeguard infra up` (or `make up`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka(settings: Settings) -> Settings:
    """The shared broker's settings: clients made with them connect as the principal they name
    (``connection_options(kafka, "admin")``); ``kafka_env(kafka)`` points a process at it."""
    if not metadata_answers(settings):
        _unavailable(f"Kafka at {settings.kafka_servers}")
    return settings


@pytest.fixture(scope="session")
def _database_checked(settings: Settings) -> str:
    async def probe() -> None:
        conn = await asyncpg.connect(settings.dsn, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError) as exc:
        _unavailable(f"PostgreSQL at {settings.dsn_redacted} ({exc})")
    return settings.dsn


@pytest.fixture
def dsn(_database_checked: str) -> str:
    return _database_checked


@pytest.fixture(scope="module")
def fresh_broker(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A Kafka broker that has never seen the project: its own ports and empty data folder.

    Started with the project's own launcher (the jars come from the shared cache); stopped by
    its pid file after the module's tests. Yields its settings (``KafkaBroker(them)`` stops and
    starts it again).
    """
    own = Settings(
        kafka_bootstrap=None,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        data_dir=tmp_path_factory.mktemp("fresh-broker"),
        cache_dir=settings.cache_dir.resolve(),
    )
    broker = KafkaBroker(own)
    start_broker(broker)
    try:
        yield own
    finally:
        broker.stop()
        remove_relocated(own.data_dir)  # a broker folder its account could not keep there


def start_broker(broker: KafkaBroker) -> None:
    """Start a broker of the test's own, without the start-up's expected resource warnings.

    The broker is detached on purpose (its pid file stops it), so Popen's warning about a child
    still running does not apply; and while it starts, the Kafka client leaves the sockets of
    refused connections to the garbage collector, collected here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        broker.start()
        gc.collect()


def free_port(span: int = 1) -> int:
    """A port (the first of ``span`` in a row) free now, below the ephemeral range, so that no
    client connection takes it before the service that is to listen there starts."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20_000, 32_000 - span)
        if all(_bindable(port) for port in range(first, first + span)):
            return first
    raise RuntimeError("no free port found between 20000 and 32000")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def admin(kafka: Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(**connection_options(kafka, "admin"))
    yield client
    client.close()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """A factory of names no other test run uses (topics, groups, app ids)."""
    return lambda prefix: f"test-{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_factory(
    admin: KafkaAdminClient, unique_name: Callable[[str], str]
) -> Iterator[Callable[..., str]]:
    """Create topics with random names; delete them after the test."""
    created: list[str] = []

    def make(prefix: str = "topic", partitions: int = 3) -> str:
        name = unique_name(prefix)
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        created.append(name)
        return name

    yield make
    if created:
        admin.delete_topics(created)


@pytest.fixture
def worker_env(
    kafka: Settings,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    admin: KafkaAdminClient,
    settings: Settings,
) -> Iterator[dict[str, str]]:
    prefix = unique_name("worker")
    env = {
        **kafka_env(kafka),
        "SAFEGUARD_APP_ID": prefix,
        "SAFEGUARD_DATA_DIR": str(tmp_path / "data"),
        "SAFEGUARD_TOPIC_PARTITIONS": "4",
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
        **own_topics(prefix),
        "SAFEGUARD_EDUCATION_SWEEP_SECONDS": "1",
        # The tests' dashboards serve plain HTTP on 127.0.0.1.
        "SAFEGUARD_DASHBOARD_HTTPS_ONLY": "false",
    }
    # The services' own database role: the test's data folder holds no credentials of the
    # shared local cluster, so its URL is given whole.
    with contextlib.suppress(ConfigError):
        env["SAFEGUARD_DATABASE_URL"] = settings.dsn
    subprocess.run(
        safeguard("topics", "create"), env={**os.environ, **env}, check=True, capture_output=True
    )
    yield env
    admin.delete_topics([v for k, v in own_topics(prefix).items() if k in env])
