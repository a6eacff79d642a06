"""Browser tests drive Debian's headless Chromium (``apt-get install chromium``) with Playwright.

They reuse the integration fixtures: the real broker and database started by ``make test``.
Without Chromium they are skipped on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from safeguard.kernel.settings import Settings
from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the integration tests
    _database_checked,
    admin,
    dsn,
    kafka,
    topic_factory,
    unique_name,
    worker_env,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(_database_checked: str, kafka: Settings) -> Iterator[Browser]:  # noqa: F811
    # Playwright's sync API keeps an event loop running in this thread while it is open, so it
    # is opened per module (other tests use asyncio.run), after the services are checked.
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Chromium is not installed: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def artifacts(request: Any) -> Path:
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
