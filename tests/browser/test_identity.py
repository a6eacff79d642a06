"""A proposed match in real headless Chromium: nothing is joined until a practitioner confirms.

Two agencies know one child under two references, and each publishes an encoding of what it
knows (name, birth date, sex, postcode district; never the values). The real worker proposes
the link, the alert store keeps the proposal, and the two references' evidence stays apart
(no alert) until the practitioner confirms it on the dashboard; then one alert joins both.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
from playwright.sync_api import Browser, expect

from producers.publisher import encode_encoding
from safeguard.kernel.settings import Settings
from schemas.linkage import SCHEME, Identity, LinkageKeys
from tests.browser.test_dashboard import PASSWORD, _answers, add_practitioner, free_port
from tests.integration.helpers import background, publish, safeguard, wait_for
from tests.integration.records import T0, child, observation

LINKAGE_KEY = b"linkage-key-of-the-browser-test-0123456789"
AREA = "W06000011"


def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    # Playwright's sync API runs an event loop in this thread: query from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def encoding(ref: str, agency: str, identity: Identity) -> tuple[bytes, bytes]:
    agency_type, agency_id = agency.split(":")
    encoded = LinkageKeys(LINKAGE_KEY).encode(identity)
    record = {
        "event_id": f"enc-{ref[:12]}-{agency_id}",
        "child_ref": ref,
        "agency": {"id": agency_id, "type": agency_type},
        "local_authority": AREA,
        "scheme": SCHEME,
        "clk": encoded.clk,
        "blocks": list(encoded.blocks),
        "encoded_at": T0 + dt.timedelta(days=3),
    }
    return ref.encode(), encode_encoding(record)


def test_a_proposed_match_is_joined_only_when_a_practitioner_confirms_it(
    browser: Browser,
    kafka: Settings,
    dsn: str,
    worker_env: dict[str, str],
    tmp_path: Path,
    artifacts: Path,
) -> None:
    username = add_practitioner(worker_env, AREA)
    env = {**os.environ, **worker_env}
    n = uuid.uuid4().int % 10**9
    health = f"hb-{n}"  # the database outlives test runs: an agency of this run's own
    subprocess.run(
        safeguard("agency", "add", health, "--type", "health", "--name", "Cardiff and Vale UHB",
                  "--contact", "Safeguarding team 029 2074 0000", "--serves", "W06000015"),
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    number = {child(n): n, child(n + 1): n + 1}
    health_ref, police_ref = sorted(number)
    proposal_id = hashlib.sha256(f"{health_ref}|{police_ref}".encode()).hexdigest()[:32]
    born, swapped = dt.date(2011, 4, 9), dt.date(2011, 9, 4)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        # The worker's clock is the real one: the confirmation is stamped now.
        background(safeguard("worker"), worker_env, tmp_path / "worker.log"),
        background(safeguard("alert-store"), worker_env, tmp_path / "store.log"),
        background(
            safeguard("dashboard", "--port", str(port)), worker_env, tmp_path / "dashboard.log"
        ),
    ):
        wait_for(lambda: _answers(f"{base}/login"), 60, "the dashboard", tmp_path / "dashboard.log")
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                observation(number[health_ref], f"h{n}", "health.controlling_companion", f"health:{health}", 1, source_ref="ED-4471"),
                observation(number[police_ref], f"p{n}", "control.long_working_hours", "police:sw", 2),
            ],
        )  # fmt: skip
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_IDENTITY_ENCODINGS"],
            [
                encoding(health_ref, f"health:{health}", Identity("Yusuf", "Haddad", born, "M", "CF24")),
                # Names the other way round, day and month swapped: still alike enough.
                encoding(police_ref, "police:sw", Identity("Haddad", "Yusuf", swapped, "M", "CF24")),
            ],
        )  # fmt: skip
        wait_for(
            lambda: fetch(dsn, "SELECT 1 FROM link_proposals WHERE proposal_id = $1", proposal_id),
            90,
            "the proposed link in the database",
            tmp_path / "worker.log",
        )
        refs = [health_ref, police_ref]
        assert fetch(dsn, "SELECT 1 FROM alerts WHERE child_ref = ANY($1)", refs) == []

        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("link", name="Possibly the same child").click()
        row = page.locator(f'tbody#proposals tr[data-proposal-id="{proposal_id}"]')
        expect(row).to_contain_text(f"health:{health}")
        expect(row).to_contain_text("police:sw")
        page.screenshot(path=str(artifacts / "1-proposal.png"), full_page=True)
        # Still apart: the proposal alone joins nothing.
        assert fetch(dsn, "SELECT 1 FROM alerts WHERE child_ref = ANY($1)", refs) == []

        row.get_by_role("button", name="Same child", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("Confirmed")
        expect(page.locator(f'tr[data-proposal-id="{proposal_id}"]')).to_have_count(0)
        page.screenshot(path=str(artifacts / "2-confirmed.png"), full_page=True)

        found = wait_for(
            lambda: fetch(
                dsn,
                "SELECT alert_id, child_ref, level, agencies FROM alerts WHERE child_ref = ANY($1)",
                refs,
            ),
            90,
            "the joined child's alert",
            tmp_path / "worker.log",
        )
        # The alert says whom to ask about which record.
        page.goto(f"{base}/alerts/{found[0]['alert_id']}")
        evidence = page.locator("tr", has_text="Cardiff and Vale UHB")
        expect(evidence).to_contain_text("record ED-4471")
        expect(evidence).to_contain_text("contact: Safeguarding team 029 2074 0000")
        page.screenshot(path=str(artifacts / "3-joined-alert.png"), full_page=True)
        page.close()
    assert [(r["child_ref"], r["agencies"]) for r in found] == [(health_ref, 2)]
    decided = fetch(
        dsn, "SELECT status, decided_by FROM link_proposals WHERE proposal_id = $1", proposal_id
    )
    assert [(r["status"], r["decided_by"]) for r in decided] == [("confirmed", username)]
    audited = fetch(
        dsn,
        "SELECT action FROM audit WHERE username = $1 AND action LIKE 'link_%' ORDER BY id",
        username,
    )
    assert [r["action"] for r in audited] == ["link_confirmed"]
