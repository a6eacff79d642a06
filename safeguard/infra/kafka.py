"""A real Apache Kafka 4 broker in KRaft mode, run from Apache's own jars without Docker.

Maven resolves ``org.apache.kafka:kafka_2.13`` (see ``kafka-pom.xml``) into
``<cache_dir>/kafka/libs``; that folder is the broker's classpath. The storage is formatted once,
the broker runs in the background with its log in ``<data_dir>/kafka/broker.log``, and ``start``
returns only when the broker answers a metadata request.

The launcher keeps what clients need in ``<data_dir>/kafka`` (the generated credentials, the
certificate authority, the pid file); the broker's own folder (``<data_dir>/kafka-broker``: its
configuration, its copies of its key store and trust store, its data and log) belongs to the
account it runs as. Invoked as root, the launcher runs the broker as an unprivileged system
account (``SAFEGUARD_KAFKA_OS_USER``, created if missing); when that account cannot reach the
data folder or the jars, its folder is made by ``mkdtemp`` in /var/tmp (remembered in
``<data_dir>/kafka-broker.location``) and the jars are copied there.

Secure from the first start: clients connect over TLS (certificates from ``safeguard.infra.tls``)
and log in with SASL/SCRAM-SHA-512 as one of the project's principals, whose passwords are
generated at the first start into ``<data_dir>/kafka/credentials.json`` (0600) and stored by
``kafka-storage format`` as SCRAM credentials; the KRaft controller's listener accepts only the
broker's own certificate. The standard authorizer denies whatever no ACL allows; ``admin`` and
``broker`` are its super users. There is no plaintext listener.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from safeguard.infra.process import (
    PidFile,
    account_exists,
    allowed,
    as_account,
    ensure_port_free,
    give_to,
    private_folder,
    reachable_home,
    require_tool,
    run_checked,
    service_account,
    spawn,
    tail,
    write_private,
)
from safeguard.infra.tls import BrokerTls, ensure_certificates
from safeguard.kernel.clients import PRINCIPALS, connection_options
from safeguard.kernel.errors import InfraError, ServiceTimeoutError, ServiceUnavailableError
from safeguard.kernel.settings import Settings

log = logging.getLogger(__name__)

_MARKER = "safeguard-kafka"
#: The broker's own principal (inter-broker traffic); with ``admin``, a super user.
BROKER_PRINCIPAL = "broker"
SCRAM = "SCRAM-SHA-512"


class KafkaBroker:
    """The local single-node broker: resolve jars, format storage, start, wait, stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = settings.cache_dir.resolve() / "kafka"
        # The data folder resolved, not the broker's folder in it: a link there is refused.
        self.home = settings.data_dir.resolve() / settings.kafka_home.name
        self.credentials_path = self.home / "credentials.json"
        self.libs = self.cache / "libs"
        self.os_user = settings.kafka_os_user if os.geteuid() == 0 else None
        self.broker_home = self._broker_home()
        self.log_path = self.broker_home / "broker.log"
        self.config_path = self.broker_home / "server.properties"
        self._classpath = self.libs
        self.pidfile = PidFile(self.home / "broker.pid", marker=f"{_MARKER}:{self.home}")

    def _broker_home(self) -> Path:
        data_dir = self.settings.data_dir.resolve()
        if self.os_user is None or not account_exists(self.os_user):
            return data_dir / "kafka-broker"  # never started as root yet: made at start
        return reachable_home(data_dir, "kafka-broker", self.os_user)

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

    def ensure_credentials(self) -> dict[str, str]:
        """Every principal's password, generated (0600) unless the broker already has them.

        A storage formatted without them (by a launcher older than the secured broker) has no
        SCRAM users at all: it is refused, with what to do, rather than started open.
        """
        private_folder(self.home).chmod(0o700)  # the passwords and the authority's key
        if self.credentials_path.exists():
            return dict(json.loads(self.credentials_path.read_text()))
        if (self.home / "data" / "meta.properties").exists():  # where an earlier version kept it
            raise InfraError(
                f"the Kafka storage in {self.home} was made without credentials (an open broker "
                f"of an earlier version): remove {self.home} (its topics go) and start again"
            )
        found = {name: secrets.token_urlsafe(24) for name in (BROKER_PRINCIPAL, *PRINCIPALS)}
        write_private(self.credentials_path, json.dumps(found, indent=1))
        return found

    def prepare_home(self, tls: BrokerTls) -> BrokerTls:
        """The broker's folder, its key store and trust store in it, all its account's own;
        return where its copies of the stores are."""
        home = private_folder(self.broker_home, self._uid())
        home.chmod(0o700)  # the broker's data holds every event
        give_to(home, self.os_user)
        own = private_folder(home / "tls", self._uid())
        give_to(own, self.os_user)
        for store in (tls.keystore, tls.truststore):
            shutil.copyfile(store, own / store.name)
            (own / store.name).chmod(0o600)
            give_to(own / store.name, self.os_user)
        return BrokerTls(
            own / tls.keystore.name, own / tls.truststore.name, tls.ca_pem, tls.password
        )

    def _uid(self) -> int | None:
        return None if self.os_user is None else pwd.getpwnam(self.os_user).pw_uid

    def readable_libs(self) -> Path:
        """The jars' folder as the broker's account can read it: the cache, or a copy."""
        if self.os_user is None or allowed(self.os_user, "-r", next(self.libs.glob("*.jar"))):
            return self.libs
        copy = self.broker_home / "libs"
        stamp = next(self.cache.glob("resolved-*")).name
        if not (copy / stamp).exists():
            _remove_tree(copy)
            shutil.copytree(self.libs, copy)
            (copy / stamp).touch()
            for path in [copy, *copy.iterdir()]:
                give_to(path, self.os_user)
        return copy

    def write_config(self, tls: BrokerTls, passwords: dict[str, str]) -> None:
        s = self.settings
        scram_login = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{BROKER_PRINCIPAL}" password="{passwords[BROKER_PRINCIPAL]}";'
        )
        write_private(
            self.config_path,
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=SASL_SSL://127.0.0.1:{s.kafka_port},"
                    f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=SASL_SSL://127.0.0.1:{s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=SASL_SSL",
                    "listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL",
                    # Clients: SCRAM over TLS. The controller: the broker's certificate only.
                    f"sasl.enabled.mechanisms={SCRAM}",
                    f"sasl.mechanism.inter.broker.protocol={SCRAM}",
                    f"listener.name.sasl_ssl.{SCRAM.lower()}.sasl.jaas.config={scram_login}",
                    "listener.name.controller.ssl.client.auth=required",
                    "ssl.keystore.type=PKCS12",
                    f"ssl.keystore.location={tls.keystore}",
                    f"ssl.keystore.password={tls.password}",
                    f"ssl.key.password={tls.password}",
                    "ssl.truststore.type=PKCS12",
                    f"ssl.truststore.location={tls.truststore}",
                    f"ssl.truststore.password={tls.password}",
                    "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
                    "ssl.principal.mapping.rules=RULE:^CN=([A-Za-z0-9._-]+)$/$1/,DEFAULT",
                    # Deny by default; the parts get exactly their ACLs (safeguard.kernel.access).
                    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    "allow.everyone.if.no.acl.found=false",
                    f"super.users=User:{BROKER_PRINCIPAL};User:admin",
                    f"log.dirs={self.broker_home / 'data'}",
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
            self.broker_home / "log4j2.properties",
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
        for path in (self.config_path, self.broker_home / "log4j2.properties"):
            give_to(path, self.os_user)

    def format_storage(self, passwords: dict[str, str]) -> bool:
        """Format the KRaft storage once, with every principal's SCRAM credentials; True if it
        was formatted now."""
        if (self.broker_home / "data" / "meta.properties").exists():
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
                *(
                    arg
                    for name, password in passwords.items()
                    for arg in ("--add-scram", f"{SCRAM}=[name={name},password={password}]")
                ),
            ],
            "formatting the Kafka storage",
            **as_account(self.os_user),
        )
        return True

    def _java(self) -> list[str | Path]:
        return [
            require_tool("java", "openjdk-17-jre-headless"),
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.broker_home / 'log4j2.properties'}",
            f"-Dsafeguard.marker={_MARKER}:{self.home}",
            "-cp",
            f"{self._classpath}/*",
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
        passwords = self.ensure_credentials()
        if self.os_user is not None:
            service_account(self.os_user)
            self.broker_home = self._broker_home()
            self.log_path = self.broker_home / "broker.log"
            self.config_path = self.broker_home / "server.properties"
        tls = self.prepare_home(ensure_certificates(self.home / "tls"))
        self._classpath = self.readable_libs()
        self.write_config(tls, passwords)
        self.format_storage(passwords)
        self.log_path.unlink(missing_ok=True)
        pid = spawn(
            [*self._java(), "kafka.Kafka", self.config_path],
            self.broker_home / "broker.stdout",
            user=self.os_user,
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
            if metadata_answers(self.settings):
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


def metadata_answers(settings: Settings) -> bool:
    """True if the broker ``settings`` name answers a metadata request of the admin.

    Quiet: while a broker starts, every refused connection is expected, and the Kafka client
    would log each one as an error. False too when there are no credentials to log in with yet.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from safeguard.kernel.errors import ConfigError

    with _quiet("kafka"):
        try:
            admin = KafkaAdminClient(
                **connection_options(settings, "admin"), request_timeout_ms=3000
            )
        except (KafkaError, OSError, ValueError, ConfigError):
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


def check_external(settings: Settings) -> None:
    """Raise ``ServiceUnavailableError`` unless the configured external broker answers."""
    if not metadata_answers(settings):
        raise ServiceUnavailableError(
            f"no Kafka broker answers the admin at "
            f"SAFEGUARD_KAFKA_BOOTSTRAP={settings.kafka_servers} (check the address, "
            "SAFEGUARD_KAFKA_SECURITY_PROTOCOL, the credentials and SAFEGUARD_KAFKA_CA_FILE)"
        )


def _maven_reason(output: str) -> str:
    errors = [line for line in output.splitlines() if "[ERROR]" in line]
    reason = "\n".join(errors[:15]) if errors else output
    return f"Maven could not resolve the Apache Kafka jars:\n{reason}"


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
