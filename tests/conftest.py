"""Fixtures shared by every test folder."""

from __future__ import annotations

import os

import pytest

from safeguard.kernel.settings import Settings, load_settings

# Every service a test starts serves its health and metrics on a port the system chooses, so
# that services started side by side never clash; a test of those endpoints sets its own port.
for _service in ("WORKER", "ALERT_STORE", "INTAKE", "DASHBOARD"):
    os.environ.setdefault(f"SAFEGUARD_{_service}_OPS_PORT", "0")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()
