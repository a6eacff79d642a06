"""Settings for every safeguard process: one frozen class, read from ``SAFEGUARD_*`` variables.

Nothing else in the project reads ``os.environ``. The defaults run on a laptop: a broker and a
database that ``safeguard infra up`` starts on loopback. Point ``SAFEGUARD_KAFKA_BOOTSTRAP`` and
``SAFEGUARD_DATABASE_URL`` at running services (docker compose, a managed cluster) and the launcher
starts nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from safeguard.kernel.errors import ConfigError

ENV_PREFIX = "SAFEGUARD_"


class Settings(BaseSettings):
    """Every setting, with its environment variable ``SAFEGUARD_<FIELD NAME IN CAPITALS>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port list of a running Kafka; when unset, the local broker is used.",
    )
    kafka_security_protocol: Literal["SASL_SSL", "SSL", "SASL_PLAINTEXT", "PLAINTEXT"] = Field(
        default="SASL_SSL",
        description="How clients talk to Kafka: SASL over TLS unless set otherwise (the local "
        "broker accepts nothing else).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512",
        description="SASL mechanism (PLAIN only over TLS, for some managed clusters).",
    )
    kafka_username: str | None = Field(
        default=None,
        description="This process's Kafka principal; unset: the component's own (worker, "
        "alert-store, intake, importer, dashboard, admin).",
    )
    kafka_password: SecretStr | None = Field(
        default=None, description="Its password (unset: from the credentials file)."
    )
    kafka_credentials_file: Path | None = Field(
        default=None,
        description="JSON file of Kafka user names and passwords; unset with the local broker: "
        "the one `infra up` generated (0600).",
    )
    kafka_ca_file: Path | None = Field(
        default=None,
        description="PEM certificate authority that signed the brokers' certificates; unset "
        "with the local broker: its own; otherwise the system's trust store.",
    )
    kafka_manage_acls: bool = Field(
        default=True,
        description="`safeguard topics create` grants each part its ACLs (unset where the "
        "platform team grants them).",
    )
    kafka_port: int = Field(default=9092, ge=1, le=65535, description="Local broker port.")
    kafka_controller_port: int = Field(
        default=9093, ge=1, le=65535, description="Local KRaft controller port."
    )
    kafka_heap: str = Field(default="768m", description="Java heap of the local broker (-Xmx).")
    kafka_os_user: str = Field(
        default="safeguard-kafka",
        description="Unprivileged OS account that runs the local broker when invoked as root "
        "(created if missing).",
    )
    kafka_start_timeout: float = Field(
        default=120.0, gt=0, description="Seconds to wait for the local broker to answer."
    )
    topic_partitions: int = Field(
        default=8, ge=1, description="Partitions of every topic the project creates."
    )
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Replicas of every topic (3 on a production cluster)."
    )

    source_retention_days: int = Field(
        default=400,
        ge=1,
        description="How long observations and registrations are kept (look-back plus a margin, "
        "so state can be rebuilt and rules replayed).",
    )
    alert_retention_days: int = Field(
        default=730,
        ge=1,
        description="How long the alert store keeps an alert whose episode is over (ended or "
        "withdrawn), with its versions, after its last change; open alerts are always kept.",
    )
    audit_retention_days: int = Field(
        default=2190, ge=1, description="How long the audit trail is kept (six years)."
    )
    deadletter_retention_days: int = Field(
        default=30, ge=1, description="How long dead letters are kept (they may hold anything)."
    )

    # Topics (every event is keyed by child_ref; co-partitioned topics share topic_partitions)
    topic_observations: str = Field(default="safeguarding.observations.v1")
    topic_school_registrations: str = Field(default="safeguarding.school-registrations.v1")
    topic_schools: str = Field(default="safeguarding.reference.schools.v1")
    topic_alerts_concern: str = Field(default="safeguarding.alerts.concern.v1")
    topic_alerts_education: str = Field(default="safeguarding.alerts.education.v1")
    topic_deadletter: str = Field(default="safeguarding.deadletter.v1")
    topic_alert_actions: str = Field(default="safeguarding.alert-actions.v1")
    topic_identity_encodings: str = Field(
        default="safeguarding.identity-encodings.v1",
        description="Agencies' privacy-preserving encodings of what they know of a child.",
    )
    topic_identity_proposals: str = Field(
        default="safeguarding.identity-proposals.v1",
        description="Links the pipeline proposes from alike encodings, for a practitioner.",
    )
    topic_encoding_blocks: str = Field(
        default="safeguarding.internal.encoding-blocks.v1",
        description="Internal: encodings keyed by blocking key, compared within a block.",
    )
    topic_identity_links: str = Field(
        default="safeguarding.identity-links.v1",
        description="Agencies' statements that two references are the same child (one partition, "
        "so every link is applied in one order).",
    )
    topic_erasures: str = Field(
        default="safeguarding.erasures.v1",
        description="Erasures of a child's data (`safeguard erase`), keyed by child_ref.",
    )
    topic_education_signals: str = Field(
        default="safeguarding.internal.education-signals.v1",
        description="Internal: deadline-due, family-move and identity signals, keyed by child_ref.",
    )
    topic_family_departures: str = Field(
        default="safeguarding.internal.family-departures.v1",
        description="Internal: deregistrations of travelling families, keyed by family_group_ref.",
    )
    topic_concern_signals: str = Field(
        default="safeguarding.internal.concern-signals.v1",
        description="Internal: deadline-due, school-authority and identity signals, keyed by "
        "child_ref.",
    )

    # Stream worker
    app_id: str = Field(default="safeguard-stream", description="Faust app id and group id.")
    worker_id: str = Field(default="1", description="Names this worker's own state folder.")
    worker_store: str = Field(
        default="rocksdb://", description="Faust table store: rocksdb:// or memory://."
    )
    worker_session_timeout: float = Field(
        default=10.0,
        ge=6.0,
        description="Seconds before a dead worker's partitions move to another (Kafka minimum 6).",
    )
    worker_retry_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a fault that is not about the record (broker, table) is retried "
        "before the worker stops with exit code 70.",
    )
    worker_failure_limit: int = Field(
        default=20,
        ge=1,
        description="Records in a row failing with unexpected errors that stop the worker.",
    )
    worker_stall_seconds: float = Field(
        default=120.0,
        ge=10,
        description="How long a partition this worker owns may have records waiting without "
        "its committed offset moving before the worker exits with code 70.",
    )
    worker_web_port: int | None = Field(
        default=None, ge=1, le=65535, description="Faust's web server port; unset disables it."
    )

    # Operations: health, metrics, logs
    ops_host: str = Field(
        default="127.0.0.1",
        description="Address the services' health and metrics endpoints listen on.",
    )
    worker_ops_port: int = Field(
        default=9101, ge=0, le=65535, description="The worker's /livez, /readyz, /metrics (0: any)."
    )
    alert_store_ops_port: int = Field(
        default=9102, ge=0, le=65535, description="The alert store's health and metrics port."
    )
    intake_ops_port: int = Field(
        default=9103, ge=0, le=65535, description="The intake's health and metrics port."
    )
    dashboard_ops_port: int = Field(
        default=9104, ge=0, le=65535, description="The dashboard's health and metrics port."
    )
    worker_faust_metrics: bool = Field(
        default=True,
        description="Faust's own Prometheus sensors on the worker's /metrics (a cost per "
        "message: `make bench` measures it); false: the project's metrics only.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object a line, for a log collector; text: for people.",
    )
    dashboard_lag_warning: int = Field(
        default=1000,
        ge=1,
        description="Records waiting for the worker or the alert store above which the "
        "dashboard says the pipeline is behind.",
    )

    # Rules
    future_tolerance_hours: int = Field(
        default=24,
        ge=0,
        description="An event dated this long after its report, or after now, is refused.",
    )
    lookback_days: int = Field(
        default=365, ge=1, description="Event-time look-back of a child's evidence."
    )
    concern_min_agencies: int = Field(
        default=2, ge=2, description="Agencies whose indicators make a combined concern."
    )
    concern_min_groups: int = Field(
        default=2, ge=2, description="Indicator groups that make a combined concern."
    )
    transition_window_days: int = Field(
        default=183, ge=0, description="Plan the transition at 18 when it is this close."
    )
    immediate_risk_days: int = Field(
        default=7,
        ge=1,
        description="An immediate-risk report raises the level to critical for this many days.",
    )

    # Missing-from-education patterns (defaults: domain notes section 2.6)
    registration_then_removal_min_school_days: int = Field(
        default=55,
        ge=1,
        description="A stay this long or longer, then removal, is the guide's pattern (a term).",
    )
    repeated_registrations_window_days: int = Field(default=365, ge=1)
    repeated_registrations_min_schools: int = Field(default=3, ge=2)
    repeated_registrations_min_local_authorities: int = Field(
        default=3, ge=2, description="Local authorities in the window: one move is not a pattern."
    )
    no_destination_school_days: int = Field(
        default=10, ge=1, description="School days to wait for a new registration."
    )
    absence_return_school_days: int = Field(
        default=10, ge=1, description="Continuous unauthorised absence returned to the LA."
    )
    absence_deletion_school_days: int = Field(
        default=20, ge=1, description="Continuous absence that raises the level."
    )
    family_window_days: int = Field(
        default=5, ge=0, description="Days within which siblings' departures are one family move."
    )
    school_calendar_file: Path | None = Field(
        default=None, description="CSV of school holidays per local authority (see README)."
    )
    education_sweep_seconds: float = Field(
        default=30.0, gt=0, description="How often pending deadlines are checked."
    )
    clock: dt.datetime | None = Field(
        default=None,
        description="Fixed 'now' (ISO 8601 with zone) for tests and demos; unset: real time.",
    )

    # Producers
    pseudonym_key: SecretStr | None = Field(
        default=None, description="The partnership key for child_ref pseudonyms (prefer the file)."
    )
    pseudonym_key_file: Path | None = Field(
        default=None, description="File holding the partnership key (at least 32 bytes)."
    )
    linkage_key: SecretStr | None = Field(
        default=None,
        description="The partnership's linkage key for CLK encodings (held by agencies that "
        "encode, never by the worker; prefer the file).",
    )
    linkage_key_file: Path | None = Field(
        default=None, description="File holding the linkage key (at least 32 bytes)."
    )
    linkage_threshold: float = Field(
        default=0.84,
        ge=0.5,
        le=1.0,
        description="Similarity of two encodings from which a link is proposed (see "
        "make bench-linkage for its precision and recall).",
    )

    intake_max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="The largest request body the intake reads; a larger one gets 413.",
    )
    intake_events_per_minute: int = Field(
        default=1200,
        ge=1,
        description="Events one agency may send through the intake in a minute (429 beyond).",
    )

    # Alert consumers
    consumer_retry_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long the alert store retries (reconnecting) when PostgreSQL or the "
        "broker is away before it exits with code 70.",
    )

    # Dashboard
    dashboard_secret: SecretStr | None = Field(
        default=None, description="Key that signs session cookies; unset: a new one each start."
    )
    dashboard_https_only: bool = Field(
        default=True,
        description="Send the session cookie over HTTPS only, and HSTS (false only to serve plain "
        "HTTP on this machine, as `make demo` does).",
    )

    # PostgreSQL
    database_url: SecretStr | None = Field(
        default=None,
        description="DSN of a running database for the services (rows only); when unset, the "
        "local cluster is used.",
    )
    database_owner_url: SecretStr | None = Field(
        default=None,
        description="DSN with the rights of the schema's owner, for migrations on a running "
        "database (unset: migrations use SAFEGUARD_DATABASE_URL).",
    )
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="Local cluster port.")
    postgres_user: str = Field(
        default="safeguard",
        description="Local cluster: the role that owns the schema and runs migrations.",
    )
    postgres_password: SecretStr | None = Field(
        default=None,
        description="Its password (unset: generated at the first start, kept in the data folder).",
    )
    postgres_app_user: str = Field(
        default="safeguard_app",
        description="Local cluster: the role the services use, which may only read and write rows.",
    )
    postgres_app_password: SecretStr | None = Field(
        default=None,
        description="Its password (unset: generated at the first start, kept in the data folder).",
    )
    postgres_db: str = Field(default="safeguard", description="Database the project uses.")
    postgres_os_user: str = Field(
        default="postgres",
        description="Unprivileged OS account that runs the local cluster when invoked as root.",
    )

    # Local folders
    cache_dir: Path = Field(
        default=Path(".safeguard/cache"), description="Downloaded jars and the Maven repository."
    )
    data_dir: Path = Field(
        default=Path(".safeguard/data"), description="Broker, database and worker state."
    )

    @model_validator(mode="after")
    def _retention_covers_lookback(self) -> Settings:
        if self.source_retention_days <= self.lookback_days:
            raise ValueError(
                f"{env_name('source_retention_days')}={self.source_retention_days} must be more "
                f"than {env_name('lookback_days')}={self.lookback_days}: a replay of the source "
                "topics must see the whole look-back"
            )
        return self

    @property
    def worker_dir(self) -> Path:
        """This worker's own state folder (one per worker: RocksDB refuses to share)."""
        return self.data_dir / "worker" / self.worker_id

    @property
    def kafka_managed(self) -> bool:
        """True when the project runs its own broker (no external bootstrap given)."""
        return self.kafka_bootstrap is None

    @property
    def kafka_servers(self) -> str:
        """The bootstrap servers every client connects to."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka_home(self) -> Path:
        """The local broker's folder (its data, certificates and generated credentials)."""
        return self.data_dir / "kafka"

    @property
    def kafka_credentials_path(self) -> Path | None:
        """The credentials file clients read: the setting's, else the local broker's."""
        if self.kafka_credentials_file is not None:
            return self.kafka_credentials_file
        return self.kafka_home / "credentials.json" if self.kafka_managed else None

    @property
    def kafka_ca_path(self) -> Path | None:
        """The certificate authority clients trust: the setting's, else the local broker's."""
        if self.kafka_ca_file is not None:
            return self.kafka_ca_file
        return self.kafka_home / "tls" / "ca.pem" if self.kafka_managed else None

    @property
    def future_tolerance(self) -> dt.timedelta:
        return dt.timedelta(hours=self.future_tolerance_hours)

    @property
    def postgres_managed(self) -> bool:
        """True when the project runs its own PostgreSQL cluster (no external DSN given)."""
        return self.database_url is None

    @property
    def postgres_credentials_file(self) -> Path:
        """Where the local cluster keeps the passwords it generated (0600)."""
        return self.data_dir / "postgres.credentials"

    def local_password(self, role: str) -> str:
        """The local cluster's password for ``role`` (``owner``, ``app`` or ``superuser``): the
        setting's, else the one generated at the cluster's first start."""
        given = {"owner": self.postgres_password, "app": self.postgres_app_password}.get(role)
        if given is not None:
            return given.get_secret_value()
        try:
            found = json.loads(self.postgres_credentials_file.read_text())[role]
        except (OSError, ValueError, KeyError):
            raise ConfigError(
                f"no password for the local database's {role} role: start the local cluster "
                "with `safeguard infra up` (it generates them), or set "
                f"{env_name('database_url')}"
            ) from None
        return str(found)

    @cached_property
    def dsn(self) -> str:
        """The DSN the services connect with: rows only (contains the password: never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self._local_dsn(self.postgres_app_user, "app")

    @cached_property
    def owner_dsn(self) -> str:
        """The DSN migrations connect with: the schema's owner."""
        if self.database_owner_url is not None:
            return self.database_owner_url.get_secret_value()
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self._local_dsn(self.postgres_user, "owner")

    def _local_dsn(self, user: str, role: str) -> str:
        password = quote(self.local_password(role), safe="")
        return f"postgresql://{user}:{password}@127.0.0.1:{self.postgres_port}/{self.postgres_db}"

    @property
    def dsn_redacted(self) -> str:
        """The services' DSN with no password, safe to print and log (it never reads one)."""
        if self.database_url is not None:
            return redact(self.database_url.get_secret_value())
        return f"postgresql://{self.postgres_app_user}:***@127.0.0.1:{self.postgres_port}/{self.postgres_db}"


def redact(dsn: str) -> str:
    """``dsn`` with its password replaced, safe to print and log."""
    secret = urlsplit(dsn).password or ""
    if not secret:
        return dsn
    return dsn.replace(quote(secret, safe=""), "***").replace(secret, "***")


def _problem(err: Any) -> str:
    if not err["loc"]:  # a check across settings: its message names them
        return str(err["msg"]).removeprefix("Value error, ")
    return f"{env_name(str(err['loc'][0]))}={err.get('input')!r}: {err['msg']}"


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"{ENV_PREFIX}{field.upper()}"


#: A folder of secret files named after their settings (``SAFEGUARD_DATABASE_URL``...), as
#: Docker and Kubernetes mount secrets: a file there sets its setting unless the environment does.
SECRETS_DIR = f"{ENV_PREFIX}SECRETS_DIR"


def load_settings() -> Settings:
    """Read the settings (from the environment, then from files in ``SAFEGUARD_SECRETS_DIR``);
    a validation failure becomes a ``ConfigError`` naming the variable."""
    secrets = os.environ.get(SECRETS_DIR)
    if secrets and not Path(secrets).is_dir():
        raise ConfigError(f"{SECRETS_DIR}={secrets}: not a folder")
    try:
        return Settings(_secrets_dir=secrets or None)  # type: ignore[call-arg]  # pydantic-settings init option
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid setting: {problems}") from exc


#: Settings that are secrets, and the services that need each: a process the project starts
#: gets a secret only if it needs it (the worker needs none of them).
SECRETS = {
    "kafka_password": ("worker", "alert-store", "intake", "dashboard", "import"),
    "pseudonym_key": ("intake", "import"),
    "pseudonym_key_file": ("intake", "import"),
    "linkage_key": ("import",),
    "linkage_key_file": ("import",),
    "dashboard_secret": ("dashboard",),
    "postgres_password": (),
    "postgres_app_password": ("alert-store", "intake", "dashboard"),
    "database_url": ("alert-store", "intake", "dashboard"),
    "database_owner_url": (),
}


def service_environment(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the secrets ``service`` does not need (``SECRETS``)."""
    withheld = {env_name(name) for name, needed in SECRETS.items() if service not in needed}
    return {name: value for name, value in env.items() if name not in withheld}
