"""docker-compose.yml describes the same system as the settings and the local launcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from safeguard.kernel.settings import ENV_PREFIX, Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_runs_apache_kafka_4_in_kraft_mode_on_the_settings_port() -> None:
    kafka = load()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert f"{Settings().kafka_port}:9092" in kafka["ports"]
    assert "HOST://127.0.0.1:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_compose_postgres_matches_the_local_cluster_settings() -> None:
    postgres = load()["services"]["postgres"]
    s = Settings()
    assert postgres["image"] == "postgres:15"
    assert f"{s.postgres_port}:5432" in postgres["ports"]
    assert postgres["environment"] == {
        "POSTGRES_USER": s.postgres_user,
        "POSTGRES_PASSWORD": s.postgres_password.get_secret_value(),
        "POSTGRES_DB": s.postgres_db,
    }


def test_project_services_use_only_real_settings_and_reach_both_containers() -> None:
    doc = load()
    shared = doc["x-safeguard-env"]
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(shared) <= fields
    assert shared["SAFEGUARD_KAFKA_BOOTSTRAP"] == "kafka:29092"
    assert "@postgres:5432/" in shared["SAFEGUARD_DATABASE_URL"]
    project = {n: s for n, s in doc["services"].items() if n not in {"kafka", "postgres"}}
    assert set(project) == {"check", "worker", "alert-store", "intake"}
    for name, service in project.items():
        environment = service["environment"]
        assert environment.items() >= shared.items(), name
        assert set(environment) <= fields, name


def test_long_running_services_are_restarted_when_they_stop_for_a_fault() -> None:
    services = load()["services"]
    assert {n for n, s in services.items() if s.get("restart") == "unless-stopped"} >= {
        "worker",
        "alert-store",
        "intake",
    }
