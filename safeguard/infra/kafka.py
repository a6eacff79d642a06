"""A real Apache Kafka 4 broker in KRaft mode, run from Apache's own jars without Docker.

Maven resolves ``org.apache.kafka:kafka_2.13`` (see ``kafka-pom.xml``) into
``<cache_dir>/kafka/libs``; that folder is the broker's classpath. The storage is formatted once,
the broker runs in the background with its log in ``<data_dir>/kafka/broker.log``, and ``start``
returns only when the broker answers a metadata request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from safeguard.infra.process import (
    PidFile,
    ensure_port_free,
    private_folder,
    require_tool,
    run_checked,
    spawn,
    tail,
    write_private,
)
from safeguard.kernel.errors import InfraError, ServiceTimeoutError, ServiceUnavailableError
from safeguard.kernel.settings import Settings

log = logging.getLogger(__name__)

_MARKER = "safeguard-kafka"


class KafkaBroker:
    """The local single-node broker: resolve jars, format storage, start, wait, stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = settings.cache_dir.resolve() / "kafka"
        self.home = settings.data_dir.resolve() / "kafka"
        self.libs = self.cache / "libs"
        self.log_path = self.home / "broker.log"
        self.config_path = self.home / "server.properties"
        self.pidfile = PidFile(self.home / "broker.pid", marker=f"{_MARKER}:{self.home}")

    # jars -----------------------------------------------------------------------------------

    def resolve_jars(self) -> bool:
        """Fetch the broker's jars with Maven unless this pom's jars are cached; True if fetched."""
        pom = resources.files("safeguard.infra").joinpath("kafka-pom.xml").read_bytes()
        stamp = self.cache / f"resolved-{hashlib.sha256(pom).hexdigest()[:16]}"
        if stamp.exists():
            return False
        java = require_tool("java", "openjdk-17-jre-headless")
        mvn = require_tool("mvn", "maven")
        log.info("resolving Apache Kafka jars with Maven (first run only)", extra={"java": java})
        self.cache.mkdir(parents=True, exist_ok=True)
        pom_path = self.cache / "pom.xml"
        pom_path.write_bytes(pom)
        staging = self.cache / "libs.partial"
        _remove_tree(staging)
        try:
            run_checked(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-f",
                    pom_path,
                    f"-Dmaven.repo.local={self.cache / 'm2'}",
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}",
                ],
                "Maven could not resolve the Kafka jars",
            )
        except InfraError as exc:
            raise InfraError(_maven_reason(str(exc))) from exc
        _remove_tree(self.libs)
        staging.rename(self.libs)
        for old in self.cache.glob("resolved-*"):
            old.unlink()
        stamp.touch()
        return True

    # storage and config ---------------------------------------------------------------------

    def write_config(self) -> None:
        s = self.settings
        private_folder(self.home).chmod(0o700)  # the broker's logs hold every event
        write_private(
            self.config_path,
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},"
                    f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.home / 'data'}",
                    f"num.partitions={s.topic_partitions}",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    # Every topic is created on purpose, with the project's partition count.
                    "auto.create.topics.enable=false",
                    "",
                ]
            ),
        )
        write_private(
            self.home / "log4j2.properties",
            "\n".join(
                [
                    "status = warn",
                    "appender.file.type = File",
                    "appender.file.name = file",
                    f"appender.file.fileName = {self.log_path}",
                    "appender.file.layout.type = PatternLayout",
                    "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = INFO",
                    "rootLogger.appenderRef.file.ref = file",
                    "logger.kafka.name = kafka",
                    "logger.kafka.level = INFO",
                    "logger.state.name = state.change.logger",
                    "logger.state.level = WARN",
                    "",
                ]
            ),
        )

    def format_storage(self) -> bool:
        """Format the KRaft storage once; True if it was formatted now."""
        if (self.home / "data" / "meta.properties").exists():
            return False
        cluster_id = "-"
        while cluster_id.startswith("-"):  # one in 64 would read as an option to kafka-storage
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        run_checked(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                self.config_path,
            ],
            "formatting the Kafka storage",
        )
        return True

    def _java(self) -> list[str | Path]:
        return [
            require_tool("java", "openjdk-17-jre-headless"),
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dsafeguard.marker={_MARKER}:{self.home}",
            "-cp",
            f"{self.libs}/*",
        ]

    # lifecycle ------------------------------------------------------------------------------

    def pid(self) -> int | None:
        return self.pidfile.read()

    def start(self) -> bool:
        """Start the broker unless it already runs; wait until it answers. True if started now."""
        if self.pid() is not None:
            self.wait_ready(self.settings.kafka_start_timeout)
            return False
        self.resolve_jars()
        ensure_port_free(self.settings.kafka_port, "Kafka broker")
        ensure_port_free(self.settings.kafka_controller_port, "Kafka KRaft controller")
        self.write_config()
        self.format_storage()
        self.log_path.unlink(missing_ok=True)
        pid = spawn(
            [*self._java(), "kafka.Kafka", self.config_path],
            self.home / "broker.stdout",
        )
        self.pidfile.write(pid)
        try:
            self.wait_ready(self.settings.kafka_start_timeout)
        except InfraError:
            self.stop()
            raise
        return True

    def wait_ready(self, timeout: float) -> None:
        """Wait until the broker answers a metadata request, or raise with its log's tail."""
        deadline = time.monotonic() + timeout
        while True:
            if metadata_answers(self.settings.kafka_servers):
                return
            if self.pid() is None:
                raise InfraError(
                    f"the Kafka broker exited during start-up; the end of {self.log_path}:\n"
                    f"{tail(self.log_path)}\n{tail(self.home / 'broker.stdout', 10)}"
                )
            if time.monotonic() > deadline:
                raise ServiceTimeoutError(
                    f"the Kafka broker did not answer within {timeout:.0f}s; "
                    f"the end of {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.5)

    def stop(self) -> bool:
        return self.pidfile.stop()


def metadata_answers(servers: str) -> bool:
    """True if a broker at ``servers`` answers a metadata request.

    Quiet: while a broker starts, every refused connection is expected, and the Kafka client
    would log each one as an error.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    with _quiet("kafka"):
        try:
            admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=3000)
        except (KafkaError, OSError, ValueError):
            return False
        try:
            admin.describe_cluster()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_external(servers: str) -> None:
    """Raise ``ServiceUnavailableError`` unless the configured external broker answers."""
    if not metadata_answers(servers):
        raise ServiceUnavailableError(
            f"no Kafka broker answers at SAFEGUARD_KAFKA_BOOTSTRAP={servers}"
        )


def _maven_reason(output: str) -> str:
    errors = [line for line in output.splitlines() if "[ERROR]" in line]
    reason = "\n".join(errors[:15]) if errors else output
    return f"Maven could not resolve the Apache Kafka jars:\n{reason}"


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
