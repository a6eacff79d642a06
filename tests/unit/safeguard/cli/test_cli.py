"""The command line as a user meets it: its groups, and clear errors before any connection."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from safeguard.cli import app

RUNNER = CliRunner()


def test_every_command_group_is_on_the_one_command() -> None:
    result = RUNNER.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "worker",
        "intake",
        "alert-store",
        "dashboard",
        "demo",
        "infra",
        "topics",
        "import",
        "publish",
        "scenario",
        "db",
        "agency",
        "user",
    ):
        assert f" {command} " in result.output


def test_a_bad_time_is_refused_with_the_field_named_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFEGUARD_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("SAFEGUARD_KAFKA_SERVERS", "127.0.0.1:1")  # nothing listens there
    result = RUNNER.invoke(
        app,
        [
            "publish",
            "observation",
            "--identifier-namespace=nhs",
            "--identifier=9434765919",
            "--indicator=say_behave.mood_swings",
            "--agency-type=school",
            "--agency-id=6602000",
            "--observed-at=yesterday",
            "--local-authority=W06000015",
        ],
    )
    assert result.exit_code == 1
    assert "observed_at: 'yesterday' is not an ISO 8601 time" in result.output
