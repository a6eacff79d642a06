"""The dashboard's routes with a test client, against the real PostgreSQL and broker."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient

from consumers.alert_store import store_alert
from consumers.dashboard.app import MAX_FEEDS, create_app
from consumers.users import add_user
from safeguard.kernel.access import grant
from safeguard.kernel.clients import kafka_env, kafka_fields
from safeguard.kernel.settings import Settings
from safeguard.kernel.web import CSP
from schemas.codec import EventCodec

from .conftest import free_port
from .helpers import TopicReader, background, db, form_post, safeguard, wait_for

PASSWORD = "correct horse battery"  # noqa: S105 - a test user's password
T0 = dt.datetime(2026, 10, 5, 8, 45, tzinfo=dt.UTC)


def alert(alert_id: str, la: str) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "version": 2,
        "child_ref": "d" * 64,
        "kind": "combined_concern",
        "level": "high",
        "rule_id": "concern.possible_trafficking",
        "rule_version": 1,
        "raised_at": T0,
        "local_authority": la,
        "evidence": [
            {
                "event_id": "e1",
                "agency_type": "health",
                "agency_id": "hb-cardiff",
                "indicator": "health.controlling_companion",
                "group": "health",
                "observed_at": T0,
            }
        ],
        "reasons": ["Both parts of the guide's definition are present."],
        "actions": ["report_child_at_risk", "icta_referral"],
        "family_move": False,
    }


@pytest.fixture
def world(
    kafka: Settings, dsn: str, topic_factory: Callable[..., str], admin: KafkaAdminClient
) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:8]
    names = {"cardiff": f"cardiff-{tag}", "swansea": f"swansea-{tag}", "admin": f"admin-{tag}"}
    ids = {"cardiff": f"combined_concern-c{tag}", "swansea": f"combined_concern-s{tag}"}
    codec = EventCodec("alert")

    async def setup(conn: asyncpg.Connection) -> None:
        await add_user(conn, names["cardiff"], PASSWORD, "practitioner", "W06000015")
        await add_user(conn, names["swansea"], PASSWORD, "practitioner", "W06000011")
        await add_user(conn, names["admin"], PASSWORD, "admin", None)
        await store_alert(conn, codec.encode(alert(ids["cardiff"], "W06000015")), "test")
        await store_alert(conn, codec.encode(alert(ids["swansea"], "W06000011")), "test")

    db(dsn, setup)
    settings = Settings(
        **kafka_fields(kafka),
        database_url=dsn,
        dashboard_https_only=False,  # the test client speaks plain HTTP
        topic_alert_actions=topic_factory("alert-actions"),
        topic_identity_links=topic_factory("identity-links", partitions=1),
    )
    grant(admin, settings)  # the dashboard's principal may write the test's own topics
    with TestClient(create_app(settings)) as client:
        yield {"client": client, "names": names, "ids": ids, "settings": settings, "dsn": dsn}


def login(world: dict[str, Any], who: str) -> TestClient:
    client: TestClient = world["client"]
    response = form_post(
        client,
        "/login",
        data={"username": world["names"][who], "password": PASSWORD},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/")
    return client


def test_pages_need_a_login_and_a_wrong_password_is_refused(world: dict[str, Any]) -> None:
    client = world["client"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    response = form_post(
        client, "/login", data={"username": world["names"]["cardiff"], "password": "nope"}
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text


def test_a_practitioner_sees_only_their_local_authority(world: dict[str, Any]) -> None:
    client = login(world, "cardiff")
    assert client.get(f"/alerts/{world['ids']['cardiff']}").status_code == 200
    assert client.get(f"/alerts/{world['ids']['swansea']}").status_code == 404
    # The list counts what the practitioner may see: their authority's, or naming it.
    visible = db(
        world["dsn"],
        lambda c: c.fetchval(
            "SELECT count(*) FROM alerts WHERE status <> 'closed' AND episode_status = 'open'"
            " AND (local_authority = 'W06000015' OR 'W06000015' = ANY(local_authorities))"
        ),
    )
    assert f'<p id="count" role="status">Open alerts: {visible}' in client.get("/").text
    admin = login(world, "admin")
    for alert_id in (world["ids"]["cardiff"], world["ids"]["swansea"]):
        assert admin.get(f"/alerts/{alert_id}").status_code == 200


def test_lists_feeds_refusals_and_sign_outs_are_audited(world: dict[str, Any]) -> None:
    client = login(world, "cardiff")
    name, other = world["names"]["cardiff"], world["ids"]["swansea"]

    def status() -> str:
        query = "SELECT status FROM alerts WHERE alert_id = $1"
        return str(db(world["dsn"], lambda c: c.fetchval(query, other)))

    before = status()
    client.get("/")
    with client.stream("GET", "/events") as feed:  # the live feed: its first line is enough
        assert next(feed.iter_lines()) == "retry: 3000"
    assert form_post(client, f"/alerts/{other}/acknowledge").status_code == 404  # another area's
    assert client.get(f"/alerts/{other}").status_code == 404
    form_post(client, "/logout", follow_redirects=False)
    rows = db(
        world["dsn"],
        lambda c: c.fetch(
            "SELECT action, alert_id, detail FROM audit WHERE username = $1 ORDER BY id", name
        ),
    )
    actions = [(r["action"], r["alert_id"]) for r in rows]
    assert actions[0][0] == "login" and actions[1] == ("list_viewed", None)
    assert actions[2:] == [
        ("feed_opened", None),
        ("refused", other),
        ("refused", other),
        ("logout", None),
    ]
    assert re.fullmatch(r"page 1: \d+ of \d+ open, \d+ finished", rows[1]["detail"])
    assert status() == before  # refused: nothing of the other area's alert changed


def test_the_alert_page_explains_and_every_view_is_audited(world: dict[str, Any]) -> None:
    client = login(world, "cardiff")
    page = client.get(f"/alerts/{world['ids']['cardiff']}").text
    assert (
        "The adult with them answers for them and will not leave them alone with the clinician."
        in page
    )
    assert "Both parts of the guide&#39;s definition are present." in page
    assert "0800 043 4303" in page and "W06000015" in page
    rows = db(
        world["dsn"],
        lambda c: c.fetch(
            "SELECT username, action, detail FROM audit WHERE alert_id = $1",
            world["ids"]["cardiff"],
        ),
    )
    assert [(r["username"], r["action"], r["detail"]) for r in rows] == [
        (world["names"]["cardiff"], "view", "version 2")
    ]


def test_acknowledge_assign_and_close_are_stored_audited_and_published(
    kafka: Settings, world: dict[str, Any]
) -> None:
    client = login(world, "cardiff")
    alert_id = world["ids"]["cardiff"]
    assert (
        form_post(client, f"/alerts/{alert_id}/acknowledge", follow_redirects=False).status_code
        == 303
    )
    assert (
        form_post(
            client,
            f"/alerts/{alert_id}/assign",
            data={"assignee": "duty team"},
            follow_redirects=False,
        ).status_code
        == 303
    )
    # Too short a reason: the alert page again, saying what to change, keeping what was typed.
    refused = form_post(
        client,
        f"/alerts/{alert_id}/close",
        data={"reason": "ok", "outcome": "strategy_discussion"},
        headers={"Accept": "text/html"},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert "Say why the alert can be closed, in 3 to 200 characters (you wrote 2)." in refused.text
    assert (
        'maxlength="200" rows="3" aria-invalid="true" aria-describedby="reason-error">ok</textarea>'
        in refused.text
    )
    assert '<option value="strategy_discussion" selected>' in refused.text
    assert (
        form_post(
            client,
            f"/alerts/{alert_id}/close",
            data={"reason": "referred to MASH"},
            follow_redirects=False,
        ).status_code
        == 303
    )

    row = db(
        world["dsn"],
        lambda c: c.fetchrow(
            "SELECT status, assignee, closed_reason FROM alerts WHERE alert_id = $1", alert_id
        ),
    )
    assert (row["status"], row["assignee"], row["closed_reason"]) == (
        "closed",
        "duty team",
        "referred to MASH",
    )
    audit = db(
        world["dsn"],
        lambda c: c.fetch(
            "SELECT action, detail FROM audit WHERE alert_id = $1 ORDER BY id", alert_id
        ),
    )
    assert [(a["action"], a["detail"]) for a in audit] == [
        ("acknowledge", None),
        ("assign", "duty team"),
        ("view", "version 2"),  # the page that said the reason was too short
        ("close", "no_further_action: referred to MASH"),
    ]
    assert alert_id not in client.get("/").text
    actions = TopicReader(kafka, world["settings"].topic_alert_actions)
    wait_for(lambda: len(actions.poll()) >= 3, 30, "three action events")
    decoded = [EventCodec("alert_action").decode(r.value) for r in actions.records]
    assert [(a["action"], a["by"], a["assignee"], a["reason"]) for a in decoded] == [
        ("acknowledge", world["names"]["cardiff"], None, None),
        ("assign", world["names"]["cardiff"], "duty team", None),
        ("close", world["names"]["cardiff"], None, "referred to MASH"),
    ]
    actions.close()


def test_a_cross_site_post_is_refused_and_changes_nothing(world: dict[str, Any]) -> None:
    client = login(world, "cardiff")
    alert_id = world["ids"]["cardiff"]
    forged = form_post(
        client,
        f"/alerts/{alert_id}/close",
        data={"reason": "closed by another site"},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert (forged.status_code, forged.json()) == (
        403,
        {"detail": "refused: the request came from another site"},
    )
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},
    ):
        login_csrf = form_post(
            client,
            "/login",
            data={"username": world["names"]["swansea"], "password": PASSWORD},
            headers=headers,
            follow_redirects=False,
        )
        assert login_csrf.status_code == 403, headers
    status = db(
        world["dsn"],
        lambda c: c.fetchval("SELECT status FROM alerts WHERE alert_id = $1", alert_id),
    )
    assert status == "open"
    # The same request from the dashboard's own page goes through.
    own = form_post(
        client,
        f"/alerts/{alert_id}/acknowledge",
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert own.status_code == 303


def test_every_response_carries_the_security_headers(world: dict[str, Any]) -> None:
    client = login(world, "cardiff")
    for path in ("/login", "/", f"/alerts/{world['ids']['cardiff']}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"] == CSP
        assert (
            page.headers["x-frame-options"],
            page.headers["x-content-type-options"],
            page.headers["referrer-policy"],
            page.headers["cache-control"],
        ) == ("DENY", "nosniff", "same-origin", "no-store")
        assert (
            "<script>" not in page.text and "<style>" not in page.text and "style=" not in page.text
        )
    script = client.get("/static/live.js")
    assert script.status_code == 200 and "new EventSource" in script.text
    assert "no-store" not in script.headers.get("cache-control", "")
    assert "strict-transport-security" not in script.headers  # plain HTTP here


def test_failed_logins_are_audited_and_the_sixth_is_refused_even_with_the_right_password(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    name = world["names"]["swansea"]
    for _ in range(5):
        wrong = form_post(client, "/login", data={"username": name, "password": "not it at all"})
        assert wrong.status_code == 401
    right = form_post(
        client, "/login", data={"username": name, "password": PASSWORD}, follow_redirects=False
    )
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 800
    assert "Too many failed sign-ins. Try again later." in right.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    actions = db(
        world["dsn"],
        lambda c: c.fetch("SELECT action, detail FROM audit WHERE username = $1 ORDER BY id", name),
    )
    assert [(a["action"], a["detail"]) for a in actions] == [
        *[("login_failed", "from testclient")] * 5,
        ("login_refused", "throttled, from testclient"),
    ]
    # Another account from the same address is not locked out by this one.
    login(world, "cardiff")


def test_one_user_may_hold_only_a_few_live_lists_at_once(
    world: dict[str, Any], kafka: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **kafka_env(kafka),
        "SAFEGUARD_DATABASE_URL": world["dsn"],
        "SAFEGUARD_DASHBOARD_HTTPS_ONLY": "false",
    }
    log = tmp_path / "dashboard.log"
    base = f"http://127.0.0.1:{port}"
    with (
        background(safeguard("dashboard", "--port", str(port)), env, log),
        httpx.Client(base_url=base, timeout=10) as client,
        ExitStack() as open_feeds,
    ):
        wait_for(lambda: _answers(f"{base}/login"), 60, "the dashboard", log)
        signed_in = form_post(
            client, "/login", data={"username": world["names"]["swansea"], "password": PASSWORD}
        )
        assert signed_in.status_code == 303
        lines = []  # each feed's line reader, kept: dropped, it would close its feed
        for _ in range(MAX_FEEDS):
            feed = open_feeds.enter_context(client.stream("GET", "/events"))
            lines.append(feed.iter_lines())
            assert next(lines[-1]) == "retry: 3000"
        refused = client.get("/events")
        assert refused.status_code == 429
        assert refused.json() == {
            "detail": f"at most {MAX_FEEDS} live lists per user at once: close one"
        }


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_rejected_proposal_links_nothing_and_a_practitioner_decides_only_their_areas(
    world: dict[str, Any], kafka: Settings
) -> None:
    tag = uuid.uuid4().hex
    ref_a, ref_b = sorted([f"{tag}{'a' * 32}", f"{tag}{'b' * 32}"])
    proposal_id = f"p-{tag[:24]}"

    async def propose(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "INSERT INTO link_proposals (proposal_id, ref_a, ref_b, agency_a, agency_b,"
            " local_authorities, similarity, threshold, scheme, proposed_at)"
            " VALUES ($1, $2, $3, 'health:hb1', 'police:p1', $4, 0.91, 0.84, 'clk-v1', now())",
            proposal_id,
            ref_a,
            ref_b,
            ["W06000015"],
        )

    db(world["dsn"], propose)
    swansea = login(world, "swansea")
    assert proposal_id not in swansea.get("/identity").text  # another area's
    assert form_post(swansea, f"/identity/{proposal_id}/confirm").status_code == 404
    cardiff = login(world, "cardiff")
    assert proposal_id in cardiff.get("/identity").text
    answer = form_post(cardiff, f"/identity/{proposal_id}/reject")
    assert answer.status_code == 200 and "Recorded as not the same child" in answer.text
    assert proposal_id not in answer.text
    assert form_post(cardiff, f"/identity/{proposal_id}/confirm").status_code == 409  # decided
    row = db(
        world["dsn"],
        lambda c: c.fetchrow(
            "SELECT status, decided_by, link_event_id FROM link_proposals WHERE proposal_id = $1",
            proposal_id,
        ),
    )
    assert (row["status"], row["decided_by"], row["link_event_id"]) == (
        "rejected",
        world["names"]["cardiff"],
        None,
    )
    audited = db(
        world["dsn"],
        lambda c: c.fetch(
            "SELECT action, detail FROM audit WHERE username = $1 AND action = 'link_rejected'",
            world["names"]["cardiff"],
        ),
    )
    assert [(a["action"], a["detail"]) for a in audited] == [
        ("link_rejected", f"proposal {proposal_id} (0.91)")
    ]
    links = TopicReader(kafka, world["settings"].topic_identity_links)
    assert [links.poll() for _ in range(3)][-1] == []  # nothing was linked
    links.close()


def test_a_session_ended_by_signing_out_is_refused_even_with_a_copy_of_its_cookie(
    world: dict[str, Any],
) -> None:
    client = login(world, "cardiff")
    stolen = dict(client.cookies)  # a copy of the cookie, as an attacker might hold it
    ident = world["ids"]["cardiff"]
    assert client.get(f"/alerts/{ident}").status_code == 200
    form_post(client, "/logout", follow_redirects=False)
    client.cookies.clear()
    for name, value in stolen.items():
        client.cookies.set(name, value)
    replayed = form_post(client, f"/alerts/{ident}/acknowledge", follow_redirects=False)
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/login")
    status = db(
        world["dsn"], lambda c: c.fetchval("SELECT status FROM alerts WHERE alert_id = $1", ident)
    )
    assert status != "acknowledged"
    # Removing a user ends their sessions too.
    other = login(world, "swansea")
    db(
        world["dsn"],
        lambda c: c.execute("DELETE FROM users WHERE username = $1", world["names"]["swansea"]),
    )
    assert other.get("/", follow_redirects=False).headers["location"] == "/login"


def run_user_command(world: dict[str, Any], *args: str, stdin: str = "") -> str:
    """``safeguard user ...`` as an administrator runs it, against the test's database."""
    import os
    import subprocess

    done = subprocess.run(
        safeguard("user", *args),
        env={**os.environ, "SAFEGUARD_DATABASE_URL": world["dsn"]},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def command_line_audit(world: dict[str, Any], name: str) -> list[tuple[str, str]]:
    rows = db(
        world["dsn"],
        lambda c: c.fetch(
            "SELECT action, detail FROM audit WHERE username = '(command line)'"
            " AND detail LIKE $1 ORDER BY id",
            f"{name}%",
        ),
    )
    return [(r["action"], r["detail"]) for r in rows]


def test_a_disabled_user_is_signed_out_at_once_and_signs_in_again_only_once_enabled(
    world: dict[str, Any],
) -> None:
    client = login(world, "cardiff")
    name = world["names"]["cardiff"]
    assert client.get("/").status_code == 200
    assert run_user_command(world, "disable", name) == f"disabled {name}; 1 open sessions ended"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    refused = form_post(client, "/login", data={"username": name, "password": PASSWORD})
    assert (refused.status_code, "Wrong username or password." in refused.text) == (401, True)
    listed = run_user_command(world, "list")
    assert f"{name} practitioner W06000015 disabled 0 sessions" in listed
    assert run_user_command(world, "enable", name) == f"enabled {name}"
    login(world, "cardiff")
    assert command_line_audit(world, name) == [
        ("user_disabled", f"{name}: 1 sessions ended"),
        ("user_enabled", name),
    ]


def test_a_password_reset_ends_the_sessions_of_the_old_password(world: dict[str, Any]) -> None:
    client = login(world, "swansea")
    name = world["names"]["swansea"]
    new = "a new and longer passphrase"
    said = run_user_command(world, "reset-password", name, "--password-stdin", stdin=new + "\n")
    assert said == f"new password for {name}; 1 open sessions ended"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    old = form_post(client, "/login", data={"username": name, "password": PASSWORD})
    assert old.status_code == 401
    fresh = form_post(
        client, "/login", data={"username": name, "password": new}, follow_redirects=False
    )
    assert (fresh.status_code, fresh.headers["location"]) == (303, "/")
    assert command_line_audit(world, name) == [("password_reset", f"{name}: 1 sessions ended")]


def test_only_an_administrator_reads_the_audit_trail_and_reading_it_is_audited(
    world: dict[str, Any],
) -> None:
    cardiff, admin = world["names"]["cardiff"], world["names"]["admin"]
    practitioner = login(world, "cardiff")
    practitioner.get(f"/alerts/{world['ids']['cardiff']}")
    assert practitioner.get("/audit").status_code == 404
    form_post(practitioner, "/logout")
    page = login(world, "admin").get("/audit", params={"user": cardiff})
    assert page.status_code == 200
    cells = re.findall(
        r'<td data-label="User">([^<]*)</td>\s*<td data-label="Action">([^<]*)</td>', page.text
    )
    assert [action for who, action in cells] == [
        "logout",
        "refused",
        "view",
        "login",
    ]
    assert {who for who, _ in cells} == {cardiff}
    trail = db(
        world["dsn"],
        lambda c: c.fetch(
            "SELECT username, action, detail FROM audit WHERE username = ANY($1) AND"
            " action IN ('refused', 'audit_viewed') ORDER BY id",
            [cardiff, admin],
        ),
    )
    assert [(r["username"], r["action"], r["detail"]) for r in trail] == [
        (cardiff, "refused", "the audit trail (administrators only)"),
        (admin, "audit_viewed", f"user={cardiff}: 4 of 4"),
    ]


def test_the_session_cookie_is_sent_over_https_only_unless_plain_http_is_asked_for(
    world: dict[str, Any], kafka: Settings
) -> None:
    name = world["names"]["cardiff"]
    defaults = Settings(**kafka_fields(kafka), database_url=world["dsn"])
    assert defaults.dashboard_https_only is True
    with TestClient(create_app(defaults), base_url="https://testserver") as secure:
        signed_in = form_post(
            secure, "/login", data={"username": name, "password": PASSWORD}, follow_redirects=False
        )
        assert "secure" in signed_in.headers["set-cookie"].lower().split("; ")
        assert signed_in.headers["strict-transport-security"].startswith("max-age=")
    plain = form_post(
        world["client"],
        "/login",
        data={"username": name, "password": PASSWORD},
        follow_redirects=False,
    )
    assert "secure" not in plain.headers["set-cookie"].lower().split("; ")


def test_a_post_without_the_sessions_form_token_is_refused_and_changes_nothing(
    world: dict[str, Any],
) -> None:
    """The browser sent no Origin or Sec-Fetch-Site (an old one, or a proxy stripped them): the
    form token stops a forged request all the same, the sign-in form's included."""
    refused = {
        "detail": "this form has expired or was not sent from the dashboard: reload the page "
        "and try again"
    }
    client = world["client"]
    name = world["names"]["cardiff"]
    forged_login = client.post("/login", data={"username": name, "password": PASSWORD})
    assert (forged_login.status_code, forged_login.json()) == (403, refused)
    # A token of the session before sign-in.
    before = form_post(client, "/logout", follow_redirects=False).request
    old_token = dict(httpx.QueryParams(before.content.decode()))["csrf_token"]
    login(world, "cardiff")
    alert_id = world["ids"]["cardiff"]
    for data in (
        {"reason": "closed by a forged form"},
        {"reason": "closed by a forged form", "csrf_token": "guessed"},
        {"reason": "closed by a forged form", "csrf_token": old_token},  # renewed at sign-in
    ):
        forged = client.post(f"/alerts/{alert_id}/close", data=data, follow_redirects=False)
        assert (forged.status_code, forged.json()) == (403, refused), data
    status = db(
        world["dsn"],
        lambda c: c.fetchval("SELECT status FROM alerts WHERE alert_id = $1", alert_id),
    )
    assert status == "open"
    done = form_post(client, f"/alerts/{alert_id}/acknowledge", follow_redirects=False)
    assert done.status_code == 303


def next_alerts(lines: Iterator[str]) -> list[dict[str, Any]]:
    """The next batch of alerts on a live feed, past the pipeline-state events between them."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event is None:
            return list(json.loads(line.removeprefix("data: ")))
        elif line == "":
            event = None
    raise AssertionError("the feed ended")


def test_every_live_list_of_a_dashboard_shares_one_database_poll(
    world: dict[str, Any], kafka: Settings, tmp_path: Path
) -> None:
    """Twelve live lists (three users, four each) cost the database about two queries a second,
    not two per list per second; each list still hears only what its user may see."""
    port = free_port()
    env = {
        **kafka_env(kafka),
        "SAFEGUARD_DATABASE_URL": world["dsn"],
        "SAFEGUARD_DASHBOARD_HTTPS_ONLY": "false",
    }
    log = tmp_path / "dashboard.log"
    base = f"http://127.0.0.1:{port}"

    def commits() -> int:
        return int(
            db(
                world["dsn"],
                lambda c: c.fetchval(
                    "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
                ),
            )
        )

    with (
        background(safeguard("dashboard", "--port", str(port)), env, log),
        ExitStack() as stack,
    ):
        wait_for(lambda: _answers(f"{base}/login"), 60, "the dashboard", log)
        readers = {}
        for who in ("cardiff", "swansea", "admin"):
            client = stack.enter_context(httpx.Client(base_url=base, timeout=15))
            signed_in = form_post(
                client, "/login", data={"username": world["names"][who], "password": PASSWORD}
            )
            assert signed_in.status_code == 303
            readers[who] = []
            for _ in range(MAX_FEEDS):
                lines = stack.enter_context(client.stream("GET", "/events")).iter_lines()
                assert [next(lines), next(lines)] == ["retry: 3000", ""]
                readers[who].append(lines)
        time.sleep(2)  # every list open and polled
        before, started = commits(), time.monotonic()
        time.sleep(6)
        per_second = (commits() - before) / (time.monotonic() - started)
        assert per_second < 6, f"{per_second:.1f} transactions a second for 12 live lists"
        alert_id = world["ids"]["cardiff"]
        db(
            world["dsn"],
            lambda c: c.execute(
                "UPDATE alerts SET level = 'critical', updated_at = now() WHERE alert_id = $1",
                alert_id,
            ),
        )
        for who in ("cardiff", "admin"):  # every list of theirs hears it; swansea may not see it
            for lines in readers[who]:
                (changed,) = next_alerts(lines)
                assert (changed["alert_id"], changed["level"]) == (alert_id, "critical")


def test_the_language_is_kept_for_the_user_and_never_sends_the_browser_elsewhere(
    world: dict[str, Any],
) -> None:
    client = login(world, "cardiff")
    for back, where in (
        ("/?kind=combined_concern&page=2", "/?kind=combined_concern&page=2"),
        ("//evil.example/x", "/"),
        ("/\\evil.example/x", "/"),  # browsers read a backslash as a slash: not passed on
        ("https://evil.example/", "/"),
        ("/\t/evil.example", "/"),
    ):
        chosen = form_post(
            client, "/language", data={"language": "cy", "back": back}, follow_redirects=False
        )
        assert (chosen.status_code, chosen.headers["location"]) == (303, where), back
    assert '<html lang="cy">' in client.get("/").text
    assert "<h1>Rhybuddion agored</h1>" in client.get("/").text
    stored = db(
        world["dsn"],
        lambda c: c.fetchval(
            "SELECT language FROM users WHERE username = $1", world["names"]["cardiff"]
        ),
    )
    assert stored == "cy"
    # A new browser: the user's own choice, whatever the browser prefers.
    client.cookies.clear()
    login(world, "cardiff")
    page = client.get("/", headers={"Accept-Language": "en-GB,en"}).text
    assert '<html lang="cy">' in page
    refused = form_post(client, "/language", data={"language": "fr"}, follow_redirects=False)
    assert refused.status_code == 422
    form_post(client, "/language", data={"language": "en"}, follow_redirects=False)
    assert '<html lang="en">' in client.get("/").text
