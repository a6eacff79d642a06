from __future__ import annotations

from pathlib import Path

import pytest

from safeguard.kernel.errors import ConfigError
from safeguard.kernel.settings import Settings, load_settings, service_environment


def test_defaults_point_at_the_local_services(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.kafka_managed and s.postgres_managed
    assert s.kafka_servers == "127.0.0.1:9092"
    # No documented default password: the cluster's first start generates them.
    with pytest.raises(ConfigError, match="no password for the local database's app role"):
        _ = s.dsn
    (tmp_path / "postgres.credentials").write_text('{"owner": "o", "app": "a", "superuser": "s"}')
    assert s.dsn == "postgresql://safeguard_app:a@127.0.0.1:5432/safeguard"
    assert s.owner_dsn == "postgresql://safeguard:o@127.0.0.1:5432/safeguard"


def test_external_services_are_used_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARD_KAFKA_BOOTSTRAP", "kafka:29092")
    monkeypatch.setenv("SAFEGUARD_DATABASE_URL", "postgresql://u:s3cret@db:5432/x")
    s = Settings()
    assert (s.kafka_managed, s.postgres_managed) == (False, False)
    assert s.kafka_servers == "kafka:29092"
    assert s.dsn == "postgresql://u:s3cret@db:5432/x"
    assert s.dsn_redacted == "postgresql://u:***@db:5432/x"


def test_redacted_dsn_hides_the_local_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFEGUARD_POSTGRES_APP_PASSWORD", "p@ss/word")
    s = Settings()
    assert "p%40ss%2Fword" in s.dsn
    assert s.dsn_redacted == "postgresql://safeguard_app:***@127.0.0.1:5432/safeguard"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.kafka_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SAFEGUARD_KAFKA_PORT",
            "ninety",
            "SAFEGUARD_KAFKA_PORT='ninety': Input should be a valid integer, "
            "unable to parse string as an integer",
        ),
        (
            "SAFEGUARD_POSTGRES_PORT",
            "70000",
            "SAFEGUARD_POSTGRES_PORT='70000': Input should be less than or equal to 65535",
        ),
        (
            "SAFEGUARD_TOPIC_PARTITIONS",
            "0",
            "SAFEGUARD_TOPIC_PARTITIONS='0': Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_setting_names_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"invalid setting: {message}"


def test_each_service_gets_only_the_secrets_it_needs() -> None:
    env = {
        "SAFEGUARD_PSEUDONYM_KEY_FILE": "/k",
        "SAFEGUARD_DASHBOARD_SECRET": "s",
        "SAFEGUARD_POSTGRES_APP_PASSWORD": "p",
        "SAFEGUARD_TOPIC_PARTITIONS": "4",
        "PATH": "/usr/bin",
    }
    kept = {s: sorted(service_environment(s, env)) for s in ("worker", "intake", "dashboard")}
    assert kept == {
        "worker": ["PATH", "SAFEGUARD_TOPIC_PARTITIONS"],
        "intake": [
            "PATH",
            "SAFEGUARD_POSTGRES_APP_PASSWORD",
            "SAFEGUARD_PSEUDONYM_KEY_FILE",
            "SAFEGUARD_TOPIC_PARTITIONS",
        ],
        "dashboard": [
            "PATH",
            "SAFEGUARD_DASHBOARD_SECRET",
            "SAFEGUARD_POSTGRES_APP_PASSWORD",
            "SAFEGUARD_TOPIC_PARTITIONS",
        ],
    }


def test_secrets_come_from_files_named_after_their_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "SAFEGUARD_DATABASE_URL").write_text("postgresql://app:from-file@db:5432/sg\n")
    (tmp_path / "SAFEGUARD_DASHBOARD_SECRET").write_text("d" * 40)
    monkeypatch.setenv("SAFEGUARD_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("SAFEGUARD_DATABASE_URL", raising=False)
    s = load_settings()
    assert s.dsn == "postgresql://app:from-file@db:5432/sg"
    assert s.dashboard_secret is not None and s.dashboard_secret.get_secret_value() == "d" * 40
    assert s.dsn_redacted == "postgresql://app:***@db:5432/sg"
    monkeypatch.setenv("SAFEGUARD_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"SAFEGUARD_SECRETS_DIR=.*missing: not a folder"):
        load_settings()
