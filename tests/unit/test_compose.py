"""docker-compose.yml describes the same system as the settings and the local launcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from safeguard.kernel.access import grants
from safeguard.kernel.clients import PRINCIPALS
from safeguard.kernel.settings import ENV_PREFIX, SECRETS_DIR, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROJECT = {"setup", "check", "worker", "alert-store", "purge", "intake", "dashboard"}


def ops_port(service: str) -> int:
    """The default operations port of ``service`` (the environment of a test run sets 0)."""
    return int(Settings.model_fields[f"{service.replace('-', '_')}_ops_port"].default)


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def mounted(service: dict[str, Any]) -> dict[str, str]:
    """The secrets a service mounts: file name under /run/secrets -> the secret's name."""
    found = {}
    for secret in service.get("secrets", []):
        if isinstance(secret, str):
            found[secret] = secret
        else:
            found[secret["target"]] = secret["source"]
    return found


def test_compose_runs_apache_kafka_4_in_kraft_mode_on_the_settings_port() -> None:
    services = load()["services"]
    kafka, init = services["kafka"], services["kafka-init"]
    assert kafka["image"] == init["image"] and kafka["image"].startswith("apache/kafka:4.")
    assert f"127.0.0.1:{Settings().kafka_port}:9092" in kafka["ports"]
    assert kafka["depends_on"] == {"kafka-init": {"condition": "service_completed_successfully"}}
    script = (ROOT / "safeguard/infra/compose-kafka-init.sh").read_text()
    assert "process.roles=broker,controller" in script
    assert "advertised.listeners=HOST://127.0.0.1:9092,DOCKER://kafka:29092" in script


def test_compose_broker_is_secured_like_the_local_one() -> None:
    """SASL_SSL listeners only, the controller on TLS with client certificates, deny by
    default, and a SCRAM login for every principal the ACLs name."""
    script = (ROOT / "safeguard/infra/compose-kafka-init.sh").read_text()
    assert "listener.security.protocol.map=HOST:SASL_SSL,DOCKER:SASL_SSL,CONTROLLER:SSL" in script
    assert "PLAINTEXT" not in script
    for line in (
        "listener.name.controller.ssl.client.auth=required",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:broker;User:admin",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
    ):
        assert line in script
    (principals,) = [ln for ln in script.splitlines() if ln.startswith("principals=")]
    assert principals.split("=", 1)[1].strip('"').split() == ["broker", *PRINCIPALS]
    secrets = set(mounted(load()["services"]["kafka-init"]).values())
    assert secrets == {"kafka_store_password", *(f"kafka_{p}" for p in ["broker", *PRINCIPALS])}


def test_each_project_service_logs_in_to_kafka_as_its_own_principal() -> None:
    services = load()["services"]
    expected = {
        "setup": "admin",
        "check": "admin",
        "worker": "worker",
        "alert-store": "alert-store",
        "intake": "intake",
        "dashboard": "dashboard",
    }
    for name, principal in expected.items():
        service = services[name]
        assert service["environment"]["SAFEGUARD_KAFKA_USERNAME"] == principal, name
        assert mounted(service)["SAFEGUARD_KAFKA_PASSWORD"] == f"kafka_{principal}", name
        assert "kafka-tls:/etc/kafka/tls:ro" in service["volumes"], name
    # The purge needs the database only: no Kafka login at all.
    assert "SAFEGUARD_KAFKA_PASSWORD" not in mounted(services["purge"])
    assert services["purge"]["command"] == ["safeguard", "purge", "--every-hours", "24"]
    # Every principal an ACL names has its own password.
    assert {g.principal for g in grants(Settings())} <= set(PRINCIPALS)


def test_compose_postgres_matches_the_local_cluster_settings() -> None:
    doc = load()
    postgres = doc["services"]["postgres"]
    s = Settings()
    assert postgres["image"] == "postgres:15"
    assert f"127.0.0.1:{s.postgres_port}:5432" in postgres["ports"]
    assert postgres["environment"] == {
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_superuser_password",
    }
    # The schema's owner and the services' role, as the local cluster makes them.
    script = (ROOT / "safeguard/infra/compose-postgres-init.sh").read_text()
    assert f"CREATE DATABASE {s.postgres_db} OWNER {s.postgres_user};" in script
    assert f"CREATE ROLE {s.postgres_app_user} WITH LOGIN NOSUPERUSER" in script
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {s.postgres_app_user};" in script
    services = doc["services"]
    assert "SAFEGUARD_DATABASE_OWNER_URL" in mounted(services["setup"])
    assert all(
        "SAFEGUARD_DATABASE_OWNER_URL" not in mounted(services[name])
        for name in PROJECT - {"setup"}
    )


def test_project_services_use_only_real_settings_and_reach_both_containers() -> None:
    doc = load()
    shared = doc["x-safeguard-env"]
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(shared) <= fields | {SECRETS_DIR}
    assert shared["SAFEGUARD_KAFKA_BOOTSTRAP"] == "kafka:29092"
    assert shared["SAFEGUARD_SECRETS_DIR"] == "/run/secrets"
    project = {n: s for n, s in doc["services"].items() if n in PROJECT}
    assert set(doc["services"]) == PROJECT | {"kafka-init", "kafka", "postgres", "prometheus"}
    for name, service in project.items():
        environment = service["environment"]
        assert environment.items() >= shared.items(), name
        assert set(environment) <= fields | {SECRETS_DIR}, name
        # A secret is a file named after its setting, mounted only where it is needed.
        assert set(mounted(service)) <= fields, name


def test_long_running_services_are_restarted_when_they_stop_for_a_fault() -> None:
    services = load()["services"]
    assert {n for n, s in services.items() if s.get("restart") == "unless-stopped"} >= {
        "worker",
        "alert-store",
        "intake",
        "dashboard",
    }


def test_every_port_is_published_on_loopback_only_and_no_secret_is_written_here() -> None:
    doc = load()
    published = [p for service in doc["services"].values() for p in service.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published)
    assert "PASSWORD:" not in COMPOSE.read_text()  # every password is a secret's file
    files = {n: set(mounted(s)) for n, s in doc["services"].items()}
    kafka = "SAFEGUARD_KAFKA_PASSWORD"
    assert files["worker"] == {kafka}  # the worker needs no secret but its own login
    assert files["dashboard"] == {"SAFEGUARD_DATABASE_URL", "SAFEGUARD_DASHBOARD_SECRET", kafka}
    assert files["intake"] == {"SAFEGUARD_DATABASE_URL", "SAFEGUARD_PSEUDONYM_KEY", kafka}
    assert all(source["file"].startswith("./secrets/") for source in doc["secrets"].values())


def test_long_running_services_have_readiness_health_checks_on_their_ops_ports() -> None:
    services = load()["services"]
    for name in ("worker", "alert-store", "intake", "dashboard"):
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{ops_port(name)}/readyz" in probe
    assert load()["x-safeguard-env"]["SAFEGUARD_OPS_HOST"] == "0.0.0.0"  # noqa: S104


def test_the_prometheus_configuration_scrapes_every_service_at_its_ops_port() -> None:
    scrape = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    targets = {
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {
        f"{name}:{ops_port(name)}" for name in ("worker", "alert-store", "intake", "dashboard")
    }
    assert load()["services"]["prometheus"]["profiles"] == ["monitoring"]
