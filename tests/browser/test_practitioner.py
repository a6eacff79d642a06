"""The practitioner's dashboard in real headless Chromium: plain names, the child's whole story,
printing it, a confirmation after acting, every page at 320 px, and axe-core on every page.

One generated child goes through the real worker and alert store: a term at a school near a port
and then gone (an education alert), a health board's and the police's observations (a combined
concern), each agency named in the register and the school in the reference data. Screenshots of
each page at 1280 px and 320 px are saved in ``tests/artifacts/<test name>/``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from safeguard.kernel.settings import Settings
from streams.domain.lifecycle import alert_id as alert_id_of
from tests.browser.test_dashboard import PASSWORD, _answers, free_port
from tests.integration.helpers import background, publish, safeguard, wait_for
from tests.integration.records import child, observation
from tests.integration.test_education import MON, registration

AREA = "W06000001"  # Isle of Anglesey
#: axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTHS = (1280, 320)
#: The elements that reach past the viewport's right edge (what to fix when a page is too wide).
WIDEST = """[...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
  .slice(0, 5).map(e => e.tagName + "." + e.className + ": " + e.textContent.slice(0, 40))"""


def check_page(page: Page, name: str, artifacts: Path) -> None:
    """At each width: a screenshot, no sideways scrolling, and no axe-core violation."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name} at {width} px is {scroll} px wide: {page.evaluate(WIDEST)}"
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}})
        assert results.violations_count == 0, f"{name} at {width} px:\n{results.generate_report()}"


def test_the_child_page_tells_the_whole_story_in_order_readable_printable_and_accessible(
    browser: Browser,
    kafka: Settings,
    worker_env: dict[str, str],
    tmp_path: Path,
    artifacts: Path,
) -> None:
    env = {**os.environ, **worker_env}
    run = uuid.uuid4().hex[:6]  # the database outlives test runs: names of this run's own
    health, police = f"hb-betsi-{run}", f"nwp-{run}"
    for agency, kind, name in (
        (health, "health", "Betsi Cadwaladr University Health Board"),
        (police, "police", "North Wales Police"),
    ):
        subprocess.run(
            safeguard("agency", "add", agency, "--type", kind, "--name", name,
                      "--contact", "Safeguarding hub 0300 123 4567", "--serves", AREA),
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    schools = tmp_path / "schools.csv"
    schools.write_text(
        "school_id,name,local_authority,near_port_of_entry\n"
        "6614001,Ysgol Uwchradd Caergybi,W06000001,yes\n"
    )
    subprocess.run(
        safeguard("import", "schools", str(schools)), env=env, check=True, capture_output=True
    )
    officer, admin = f"officer-{run}", f"admin-{run}"
    for user in (
        (officer, "--local-authority", AREA, "--service", "police"),
        (admin, "--role", "admin"),
    ):
        subprocess.run(
            safeguard("user", "add", *user, "--password-stdin"),
            input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True,
        )  # fmt: skip
    n = uuid.uuid4().int % 10**9
    concern_id = alert_id_of(child(n), "combined_concern", 0)
    education_id = alert_id_of(child(n), "missing_from_education", 0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = {**worker_env, "SAFEGUARD_CLOCK": "2027-02-01T12:00:00+00:00"}
    dashboard_log = tmp_path / "dashboard.log"
    with (
        background(safeguard("worker"), clock, tmp_path / "worker.log"),
        background(safeguard("alert-store"), worker_env, tmp_path / "store.log"),
        background(safeguard("dashboard", "--port", str(port)), worker_env, dashboard_log),
    ):
        wait_for(lambda: _answers(f"{base}/login"), 60, "the dashboard", dashboard_log)
        # A term at the port school, then gone on 16 December with no school to go to.
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"],
            [
                registration(n, f"r{n}", "registered", MON, "6614001"),
                registration(n, f"d{n}", "deregistered", MON + dt.timedelta(days=100), "6614001"),
            ],
        )
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                observation(n, f"h{n}", "health.controlling_companion", f"health:{health}", -5,
                            local_authority=AREA, source_ref="ED-4471"),
                observation(n, f"p{n}", "control.seen_in_inappropriate_places", f"police:{police}",
                            60, local_authority=AREA, source_ref="NWP-2291"),
            ],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login")
        check_page(page, "1-sign-in", artifacts)
        page.get_by_label("Username").fill(officer)
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()

        # The list: the concern by level, kind and area name, its link saying which alert.
        page.goto(f"{base}/?kind=combined_concern&sort=newest")
        row = page.locator(f'tbody#alerts tr[data-alert-id="{concern_id}"]')
        expect(row).to_have_count(1, timeout=120_000)
        link = row.get_by_role("link")
        expect(link).to_have_text("High combined concern, Isle of Anglesey", timeout=60_000)
        expect(row).not_to_contain_text(AREA)
        check_page(page, "2-list", artifacts)

        # The alert: names, not codes; the police officer's practice points first.
        link.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("high Combined concern")
        evidence = page.locator("#evidence")
        expect(evidence).to_contain_text("Betsi Cadwaladr University Health Board")
        expect(evidence).to_contain_text("North Wales Police")
        expect(evidence).to_contain_text("record NWP-2291")
        expect(evidence).not_to_contain_text("00:00")  # date-only school signals: no time
        expect(page.locator("ul.reasons")).not_to_contain_text("health.controlling_companion")
        # Worded from the alert's reason codes: agencies and schools by name.
        expect(page.locator("ul.reasons")).to_contain_text(
            "Indicators seen by Betsi Cadwaladr University Health Board, North Wales Police, "
            "Ysgol Uwchradd Caergybi, in the groups control, movement"
        )
        # Each point once, under the first action it applies to; a police officer's first.
        report = page.locator("[data-action=report_child_at_risk]")
        expect(report.locator("ul.points [data-point=independent_interpreter]")).to_contain_text(
            "never the accompanying adult"
        )
        expect(report.locator("details.points [data-point=private_fostering]")).to_have_count(1)
        nrm = page.locator("[data-action=nrm_referral]")
        expect(nrm.locator("ul.points [data-point=victim_first]")).to_contain_text("s45")
        expect(page.locator("[data-point=independent_interpreter]")).to_have_count(1)
        expect(page.locator("#episode")).to_contain_text(
            "The immediate risk (“Seen in settings such as brothels"
        )
        expect(page.locator("details.codes")).to_contain_text("concern.possible_trafficking")
        check_page(page, "3-alert", artifacts)
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("#done")).to_contain_text("Acknowledged: every agency involved")
        expect(page.locator("#status")).to_have_text("acknowledged")
        page.screenshot(path=str(artifacts / "4-acknowledged-1280.png"))

        # The education alert: the school by name, the pattern's words once.
        page.goto(f"{base}/alerts/{education_id}")
        expect(page.locator("main")).to_contain_text("Ysgol Uwchradd Caergybi")
        expect(page.locator("main")).not_to_contain_text("School 6614001")
        check_page(page, "5-education-alert", artifacts)

        # The child's page: both alerts, the evidence and school records, the acknowledgement.
        page.goto(f"{base}/alerts/{concern_id}")
        page.get_by_role("link", name="The child's whole story").click()
        expect(page.get_by_role("heading", name="The child's story")).to_be_visible()
        expect(page.locator("#child-alerts tbody tr")).to_have_count(2)
        rows = page.locator("#chronology tbody tr")
        kinds = rows.evaluate_all("rows => rows.map(r => r.dataset.kind)")
        whats = rows.locator("td:nth-child(2)").all_inner_texts()
        froms = rows.locator("td:nth-child(4)").all_inner_texts()
        # In order of when each happened: the registration (7 September), the health board
        # (30 September), the alerts, the police, the departure, and the acknowledgement (now:
        # the worker's clock is in 2027, so the deadline's alert versions come after it).
        assert kinds.count("action") == 1, kinds
        assert whats[kinds.index("action")] == f"Action: Acknowledged by {officer}"
        assert "Betsi Cadwaladr University Health Board record ED-4471" in froms
        assert "North Wales Police record NWP-2291" in froms
        assert froms[0] == "Ysgol Uwchradd Caergybi", froms
        assert kinds[0] == "school" and kinds[1] == "evidence"
        assert sum(1 for k in kinds if k == "alert") >= 2
        days = rows.locator("td:nth-child(1)").all_inner_texts()
        parsed = [
            dt.datetime.strptime(d.split(",")[0], "%d %B %Y").replace(tzinfo=dt.UTC) for d in days
        ]
        assert parsed == sorted(parsed), days
        check_page(page, "6-child", artifacts)
        # Filtered to the actions only.
        page.get_by_label("Evidence").uncheck()
        page.get_by_label("School records").uncheck()
        page.get_by_label("Alerts").uncheck()
        page.get_by_role("button", name="Show", exact=True).click()
        expect(page.locator("#chronology tbody tr")).to_have_count(1)
        expect(page.locator("#chronology tbody tr")).to_contain_text("Acknowledged by")
        page.go_back()
        page.reload()

        # Printed: no navigation or forms, a line saying when and that it is confidential.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.emulate_media(media="print")
        expect(page.locator("header nav")).to_be_hidden()
        expect(page.locator("form.filters")).to_be_hidden()
        expect(page.locator(".print-only")).to_contain_text("Confidential")
        pdf = artifacts / "7-child-print.pdf"
        page.pdf(path=str(pdf), format="A4")
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
        page.emulate_media(media="screen")

        # A page that does not exist: a page, not raw JSON.
        response = page.goto(f"{base}/alerts/no-such-alert")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        check_page(page, "8-not-found", artifacts)
        page.goto(f"{base}/identity")
        check_page(page, "9-possibly-the-same-child", artifacts)

        # In Welsh, chosen with the toggle: the list, an alert and the child's page.
        page.goto(f"{base}/?kind=combined_concern&sort=newest")
        page.get_by_role("button", name="Cymraeg").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Rhybuddion agored")
        assert page.locator("html").get_attribute("lang") == "cy"
        welsh_row = page.locator(f'tbody#alerts tr[data-alert-id="{concern_id}"]')
        expect(welsh_row.get_by_role("link")).to_have_text("Pryder cyfunol uchel, Ynys Môn")
        check_page(page, "11-list-cy", artifacts)
        welsh_row.get_by_role("link").click()
        expect(page.get_by_role("heading", name="Beth i'w wneud")).to_be_visible()
        expect(page.locator("[data-action=report_child_at_risk]")).to_contain_text(
            "Rhowch wybod i wasanaethau plant Ynys Môn"
        )
        expect(page.locator("#evidence")).to_contain_text(
            "Mae'r oedolyn sydd gydag ef yn ateb drosto"
        )
        expect(page.locator("#evidence")).to_contain_text("30 Medi 2026")
        expect(page.locator("ul.reasons")).to_contain_text(
            "Mae dwy ran diffiniad y canllaw o fasnachu plant yn bresennol"
        )
        expect(page.locator("#episode")).to_contain_text("Mae'r risg uniongyrchol")
        expect(page.locator("#status")).to_have_text("wedi'i gydnabod")
        check_page(page, "12-alert-cy", artifacts)
        page.get_by_role("link", name="Stori gyfan y plentyn").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Stori'r plentyn")
        expect(page.locator("#chronology")).to_contain_text(f"Wedi'i gydnabod gan {officer}")
        check_page(page, "13-child-cy", artifacts)
        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("The child's story")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_label("Username").fill(admin)
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
        page.goto(f"{base}/audit?user={officer}")
        expect(page.locator("#audit")).to_contain_text("child_viewed")
        check_page(page, "10-audit-trail", artifacts)
        page.close()
    assert child(n) not in dashboard_log.read_text()
