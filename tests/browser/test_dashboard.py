"""A practitioner's path through the dashboard in real headless Chromium.

Observations go through the real worker and alert store; the alert appears in the open list
without a reload; the practitioner opens it and acknowledges it; the audit trail has both.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
from playwright.sync_api import Browser, expect

from safeguard.kernel.settings import Settings
from streams.domain.lifecycle import alert_id as alert_id_of
from tests.integration.helpers import background, publish, safeguard, wait_for
from tests.integration.records import T0, child, observation

PASSWORD = "a long test password"  # noqa: S105 - a test user's password

CLOCK = (T0 + dt.timedelta(days=3)).isoformat()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def audit_rows(dsn: str, alert_id: str) -> list[tuple[str, str]]:
    async def fetch() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT username, action FROM audit WHERE alert_id = $1 ORDER BY id", alert_id
            )
            return [(r["username"], r["action"]) for r in rows]
        finally:
            await conn.close()

    # Playwright's sync API runs an event loop in this thread: query from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def test_a_practitioner_sees_an_alert_arrive_opens_it_and_acknowledges_it(
    browser: Browser,
    kafka: Settings,
    dsn: str,
    worker_env: dict[str, str],
    tmp_path: Path,
    artifacts: Path,
) -> None:
    username = add_practitioner(worker_env, "W06000011")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        # The worker's clock is the day after the observations: the police report's immediate
        # risk is current (it falls back after seven days).
        background(
            safeguard("worker"), {**worker_env, "SAFEGUARD_CLOCK": CLOCK}, tmp_path / "worker.log"
        ),
        background(safeguard("alert-store"), worker_env, tmp_path / "store.log"),
        background(
            safeguard("dashboard", "--port", str(port)), worker_env, tmp_path / "dashboard.log"
        ),
    ):
        wait_for(lambda: _answers(f"{base}/login"), 60, "the dashboard", tmp_path / "dashboard.log")
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/")
        # Keyboard only: the labelled fields, Tab between them, Enter to submit.
        page.get_by_label("Username").focus()
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
        page.screenshot(path=str(artifacts / "1-empty-list.png"))

        # The database outlives test runs: a child of its own gives this run's alert its own id.
        n = uuid.uuid4().int % 10**9
        alert_id = alert_id_of(child(n), "combined_concern", 0)
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                observation(n, f"h{n}", "health.controlling_companion", "health:hb-swansea-bay", 1),
                observation(n, f"p{n}", "movement.missing_from_care", "police:sw", 2),
            ],
        )
        row = page.locator(f'tbody#alerts tr[data-alert-id="{alert_id}"]')
        expect(row).to_have_count(1, timeout=90_000)  # arrives over server-sent events, no reload
        expect(row).to_contain_text("critical")
        page.screenshot(path=str(artifacts / "2-alert-arrived.png"))

        row.get_by_role("link").click()
        expect(page.get_by_role("heading", name="What to do")).to_be_visible()
        expect(page.locator("[data-action=call_police_999]")).to_contain_text("999")
        expect(page.locator("[data-action=icta_referral]")).to_contain_text("0800 043 4303")
        page.screenshot(path=str(artifacts / "3-alert-page.png"), full_page=True)
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("#status")).to_have_text("acknowledged")
        page.screenshot(path=str(artifacts / "4-acknowledged.png"))
        page.close()

    assert audit_rows(dsn, alert_id) == [
        (username, "view"),
        (username, "acknowledge"),
        (username, "view"),
    ]
    assert child(n) not in (tmp_path / "dashboard.log").read_text()


def add_practitioner(env: dict[str, str], area: str) -> str:
    """A practitioner of ``area`` with a name of this run's own (the database outlives runs)."""
    username = f"hub-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        safeguard("user", "add", username, "--local-authority", area, "--password-stdin"),
        input=PASSWORD + "\n",
        text=True,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    return username


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_banner_says_the_worker_is_not_running_and_goes_when_it_starts_without_a_reload(
    browser: Browser, worker_env: dict[str, str], tmp_path: Path, artifacts: Path
) -> None:
    username = add_practitioner(worker_env, "W06000020")  # an area no test sends alerts about
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        background(safeguard("alert-store"), worker_env, tmp_path / "store.log"),
        background(
            safeguard("dashboard", "--port", str(port)), worker_env, tmp_path / "dashboard.log"
        ),
    ):
        wait_for(lambda: _answers(f"{base}/login"), 60, "the dashboard", tmp_path / "dashboard.log")
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
        banner = page.get_by_role("alert")
        expect(banner).to_contain_text("The stream worker is not running", timeout=30_000)
        expect(page.locator("#empty")).to_contain_text(
            "No open alerts are stored, but the pipeline"
        )
        page.screenshot(path=str(artifacts / "5-worker-not-running.png"))
        with background(safeguard("worker"), worker_env, tmp_path / "worker.log"):
            # No reload: the live feed tells the page, and the banner goes.
            expect(banner).to_be_hidden(timeout=90_000)
            expect(page.locator("#empty")).to_have_text("No open alerts.")
            page.screenshot(path=str(artifacts / "6-all-clear.png"))
        page.close()
