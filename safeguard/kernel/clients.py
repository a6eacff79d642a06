"""Kafka client configuration: one set of connection, producer and consumer options for every part.

Every process connects as a principal of its own (``PRINCIPALS``), which the broker's ACLs let do
only what that part needs (see ``safeguard.kernel.access``). Both client libraries the project
uses (kafka-python for the command line and imports, aiokafka for the services) take these
keyword arguments under the same names, ``ssl_context`` included.

With the local broker (no ``SAFEGUARD_KAFKA_BOOTSTRAP``) the credentials and the certificate
authority are the ones ``safeguard infra up`` generated in the data folder; with another broker
they come from ``SAFEGUARD_KAFKA_USERNAME``/``_PASSWORD`` or ``SAFEGUARD_KAFKA_CREDENTIALS_FILE``,
and ``SAFEGUARD_KAFKA_CA_FILE``.
"""

from __future__ import annotations

import json
import ssl
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from safeguard.kernel.errors import ConfigError
from safeguard.kernel.settings import Settings, env_name

Principal = Literal["admin", "worker", "alert-store", "intake", "importer", "dashboard"]

#: Who connects to Kafka, each with its own credentials: the broker itself (``broker``) and
#: the administrator (``admin``, topics and ACLs) are the broker's super users.
PRINCIPALS: tuple[Principal, ...] = (
    "admin",
    "worker",
    "alert-store",
    "intake",
    "importer",
    "dashboard",
)

#: Every producer waits for all in-sync replicas and is idempotent, so a retry inside the
#: client never writes a record twice or out of order.
DURABLE = {"acks": "all", "enable_idempotence": True}


def connection_options(s: Settings, principal: Principal) -> dict[str, Any]:
    """Where the broker is and how ``principal`` logs in to it."""
    options: dict[str, Any] = {
        "bootstrap_servers": s.kafka_servers,
        "security_protocol": s.kafka_security_protocol,
    }
    if s.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(s.kafka_ca_path)
    if s.kafka_security_protocol.startswith("SASL_"):
        username, password = credentials(s, principal)
        options |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    return options


def producer_options(s: Settings, principal: Principal, **tuning: Any) -> dict[str, Any]:
    """Options for a durable producer; ``tuning`` adds batching settings (``linger_ms``, ...)."""
    return {**connection_options(s, principal), **DURABLE, **tuning}


def consumer_options(
    s: Settings, principal: Principal, group_id: str | None, **extra: Any
) -> dict[str, Any]:
    """Options for a consumer that commits only what it has handled, from the earliest record."""
    return {
        **connection_options(s, principal),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **extra,
    }


def credentials(s: Settings, principal: Principal) -> tuple[str, str]:
    """The user name and password this process logs in with as ``principal``.

    ``SAFEGUARD_KAFKA_USERNAME`` and ``_PASSWORD`` when given (one process, one identity, as a
    deployment hands them out); otherwise ``principal``'s entry in the credentials file.
    """
    username = s.kafka_username or principal
    if s.kafka_password is not None:
        return username, s.kafka_password.get_secret_value()
    path = s.kafka_credentials_path
    if path is None:
        raise ConfigError(
            f"no Kafka password for {username}: set {env_name('kafka_password')} or "
            f"{env_name('kafka_credentials_file')}"
        )
    found = _read_credentials(path).get(username)
    if not isinstance(found, str):
        raise ConfigError(f"{path} holds no Kafka password for {username}")
    return username, found


def _read_credentials(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: start the local broker with `safeguard infra up` (it "
            f"generates the credentials), or set {env_name('kafka_credentials_file')}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable JSON credentials file: {exc}") from None
    if not isinstance(found, dict):
        raise ConfigError(f"{path} is not a JSON object of user names and passwords")
    return found


@lru_cache(maxsize=8)
def _ssl_context(cafile: Path | None) -> ssl.SSLContext:
    """A client TLS context that checks the broker's certificate and name (``cafile``, or the
    system's trust store)."""
    if cafile is not None and not cafile.exists():
        raise ConfigError(
            f"{cafile} does not exist: start the local broker with `safeguard infra up` (it "
            f"makes its certificate authority), or set {env_name('kafka_ca_file')}"
        )
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def kafka_fields(s: Settings) -> dict[str, Any]:
    """The settings that point another process at the broker ``s`` connects to, with the same
    credentials file and certificate authority (never a password itself)."""
    fields: dict[str, Any] = {
        "kafka_bootstrap": s.kafka_servers,
        "kafka_security_protocol": s.kafka_security_protocol,
        "kafka_sasl_mechanism": s.kafka_sasl_mechanism,
    }
    if s.kafka_credentials_path is not None:
        fields["kafka_credentials_file"] = s.kafka_credentials_path.resolve()
    if s.kafka_ca_path is not None:
        fields["kafka_ca_file"] = s.kafka_ca_path.resolve()
    return fields


def kafka_env(s: Settings) -> dict[str, str]:
    """``kafka_fields`` as environment variables."""
    return {env_name(name): str(value) for name, value in kafka_fields(s).items()}
