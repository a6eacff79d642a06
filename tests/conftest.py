"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest

from safeguard.kernel.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings()
