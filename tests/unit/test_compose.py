"""docker-compose.yml describes the same system as the settings and the local launcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from safeguard.kernel.settings import ENV_PREFIX, SECRETS_DIR, Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_runs_apache_kafka_4_in_kraft_mode_on_the_settings_port() -> None:
    kafka = load()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert f"127.0.0.1:{Settings().kafka_port}:9092" in kafka["ports"]
    assert "HOST://127.0.0.1:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_postgres_matches_the_local_cluster_settings() -> None:
    postgres = load()["services"]["postgres"]
    s = Settings()
    assert postgres["image"] == "postgres:15"
    assert f"127.0.0.1:{s.postgres_port}:5432" in postgres["ports"]
    assert postgres["environment"] == {
        "POSTGRES_USER": s.postgres_user,
        "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password",
        "POSTGRES_DB": s.postgres_db,
    }


def test_project_services_use_only_real_settings_and_reach_both_containers() -> None:
    doc = load()
    shared = doc["x-safeguard-env"]
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(shared) <= fields | {SECRETS_DIR}
    assert shared["SAFEGUARD_KAFKA_BOOTSTRAP"] == "kafka:29092"
    assert shared["SAFEGUARD_SECRETS_DIR"] == "/run/secrets"
    project = {n: s for n, s in doc["services"].items() if n not in {"kafka", "postgres"}}
    assert set(project) == {"check", "worker", "alert-store", "intake", "dashboard"}
    for name, service in project.items():
        environment = service["environment"]
        assert environment.items() >= shared.items(), name
        assert set(environment) <= fields | {SECRETS_DIR}, name
        # A secret is a file named after its setting, mounted only where it is needed.
        assert set(service.get("secrets", [])) <= fields, name


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
    mounted = {n: set(s.get("secrets", [])) for n, s in doc["services"].items()}
    assert mounted["worker"] == set()  # the worker needs no secret at all
    assert mounted["dashboard"] == {"SAFEGUARD_DATABASE_URL", "SAFEGUARD_DASHBOARD_SECRET"}
    assert mounted["intake"] == {"SAFEGUARD_DATABASE_URL", "SAFEGUARD_PSEUDONYM_KEY"}
    assert all(source["file"].startswith("./secrets/") for source in doc["secrets"].values())


def test_long_running_web_services_have_health_checks() -> None:
    services = load()["services"]
    assert all("healthcheck" in services[name] for name in ("intake", "dashboard"))
