"""The life of an alert through the real broker, worker, alert store and dashboard: a closed
alert escalating, an episode ending with no new input, an immediate risk passing, a late
registration withdrawing an alert, and an alert two authorities see."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from consumers.alert_store import store_alert
from consumers.dashboard.app import create_app
from consumers.users import add_user
from safeguard.kernel.clients import kafka_fields
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec, TopicCodec

from .helpers import (
    TopicReader,
    background,
    consumed_all,
    db,
    form_post,
    publish,
    safeguard,
    wait_for,
)
from .records import ALERTS, T0, alerts_by_child, child, observation
from .test_education import registration

PASSWORD = "correct horse battery"  # noqa: S105 - a test user's password


def versions(reader: TopicReader, n: int) -> list[dict[str, Any]]:
    return alerts_by_child(reader).get(child(n), [])


def test_a_closed_alert_escalates_to_the_top_of_the_list_naming_who_closed_it(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    # The database outlives test runs: a child of its own gives this run's alert its own id.
    n = uuid.uuid4().int % 10**9
    tag = uuid.uuid4().hex[:8]
    swansea, anglesey = f"swansea-{tag}", f"anglesey-{tag}"
    db(dsn, lambda c: add_user(c, swansea, PASSWORD, "practitioner", "W06000011"))
    db(dsn, lambda c: add_user(c, anglesey, PASSWORD, "practitioner", "W06000001"))
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    settings = Settings(
        **kafka_fields(kafka),
        database_url=dsn,
        dashboard_https_only=False,  # the test client speaks plain HTTP
        topic_alert_actions=worker_env["SAFEGUARD_TOPIC_ALERT_ACTIONS"],
    )
    log = tmp_path / "parts.log"
    # The worker's clock is the day after the police report: its immediate risk is current.
    clock = {**worker_env, "SAFEGUARD_CLOCK": (T0 + dt.timedelta(days=4)).isoformat()}
    with (
        background(safeguard("worker", "-l", "info"), clock, log),
        background(safeguard("alert-store"), worker_env, tmp_path / "store.log"),
        TestClient(create_app(settings)) as client,
    ):
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                observation(n, f"s{n}", "say_behave.mood_swings", "school:6812345", 0),
                observation(
                    n,
                    f"h{n}",
                    "health.controlling_companion",
                    "health:hb-betsi",
                    2,
                    local_authority="W06000001",
                ),
            ],
        )
        wait_for(lambda: len(versions(alerts, n)) >= 1, 120, "the first alert", log)
        (first,) = versions(alerts, n)
        alert_id = first["alert_id"]
        # The child's school is in Swansea; the health board that saw the child is in Anglesey.
        assert (first["local_authority"], first["local_authorities"]) == (
            "W06000011",
            ["W06000001"],
        )

        def stored() -> Any:
            return db(
                dsn, lambda c: c.fetchrow("SELECT * FROM alerts WHERE alert_id = $1", alert_id)
            )

        wait_for(stored, 60, "the stored alert", log)
        for user in (swansea, anglesey):  # both authorities see it
            form_post(client, "/login", data={"username": user, "password": PASSWORD})
            assert client.get(f"/alerts/{alert_id}").status_code == 200
        closed = form_post(
            client,
            f"/alerts/{alert_id}/close",
            data={"outcome": "strategy_discussion", "reason": "Discussed at the hub"},
            follow_redirects=False,
        )
        assert closed.status_code == 303
        assert alert_id not in client.get("/").text
        group = worker_env["SAFEGUARD_APP_ID"]
        wait_for(
            lambda: consumed_all(kafka, group, worker_env["SAFEGUARD_TOPIC_ALERT_ACTIONS"]),
            60,
            "the worker reading the closure",
            log,
        )
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [observation(n, f"p{n}", "control.seen_in_inappropriate_places", "police:sw", 3)],
        )
        wait_for(lambda: len(versions(alerts, n)) >= 2, 60, "the escalated version", log)
        wait_for(
            lambda: stored()["status"] == "reopened",
            60,
            "the store reopening it",
            tmp_path / "store.log",
        )
        page = client.get("/").text
        alert_page = client.get(f"/alerts/{alert_id}").text
    second = versions(alerts, n)[1]
    assert (second["alert_id"], second["version"], second["level"]) == (alert_id, 2, "critical")
    assert second["reopened_after_closure"] is True
    closure = second["closure"]
    assert (closure["outcome"], closure["reason"], closure["by"], closure["version"]) == (
        "strategy_discussion",
        "Discussed at the hub",
        anglesey,
        1,
    )
    # First in the list (reopened alerts lead), marked, with who closed it and why.
    first_row = page.index("<tbody")
    assert page.index(alert_id, first_row) < page.index("</tbody>", first_row)
    assert "escalated after closure" in page
    assert f"Escalated after closure.</strong> {anglesey} closed this alert" in alert_page
    assert "strategy discussion: Discussed at the hub" in alert_page
    alerts.close()


def test_with_no_new_input_an_immediate_risk_falls_back_and_the_alert_ends(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    log = tmp_path / "worker.log"

    def worker_at(days: int) -> Any:
        """The worker with its clock ``days`` after T0 (time passing between runs)."""
        clock = (T0 + dt.timedelta(days=days)).isoformat()
        return background(
            safeguard("worker", "-l", "info"), {**worker_env, "SAFEGUARD_CLOCK": clock}, log
        )

    with worker_at(21):  # the events as they happen
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [
                observation(1, "a1", "say_behave.mood_swings", "school:6812345", 18),
                observation(1, "a2", "health.controlling_companion", "health:hb1", 20),
                observation(2, "b1", "control.seen_in_inappropriate_places", "police:sw", 19),
                observation(2, "b2", "health.controlling_companion", "health:hb1", 20),
            ],
        )
        wait_for(lambda: len(versions(alerts, 1)) >= 1, 120, "child 1's alert", log)
        wait_for(lambda: len(versions(alerts, 2)) >= 2, 60, "child 2's alert", log)
    with worker_at(30):  # eleven days after the police report, and nothing new
        wait_for(lambda: len(versions(alerts, 2)) >= 3, 60, "the risk passing", log)
    with worker_at(420):  # more than a year after every piece of evidence
        wait_for(lambda: len(versions(alerts, 1)) >= 2, 60, "child 1's alert ending", log)
        wait_for(lambda: len(versions(alerts, 2)) >= 4, 60, "child 2's alert ending", log)
    risk = versions(alerts, 2)
    assert [(a["version"], a["level"], a["status"]) for a in risk] == [
        (1, "critical", "open"),
        (2, "critical", "open"),
        (3, "medium", "open"),
        (4, "medium", "ended"),
    ]
    assert "call_police_999" in risk[1]["actions"] and "call_police_999" not in risk[2]["actions"]
    assert risk[2]["status_reason"] == (
        "The immediate risk (control.seen_in_inappropriate_places) has passed: it was reported "
        "more than 7 days ago. The level is what the rest of the evidence supports."
    )
    opened, ended = versions(alerts, 1)
    assert [(a["version"], a["status"]) for a in (opened, ended)] == [(1, "open"), (2, "ended")]
    assert ended["evidence"] == opened["evidence"] and ended["actions"] == []
    assert (
        ended["status_reason"]
        == risk[3]["status_reason"]
        == (
            "Ended: the evidence that raised this alert is more than 365 days old and has left the "
            "look-back."
        )
    )
    alerts.close()


def test_a_late_registration_withdraws_the_education_alert_and_its_movement_observation(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    n = 601
    left, joined = dt.date(2026, 9, 14), dt.date(2026, 9, 18)
    # Exported by the schools weeks late: the no-destination deadline has passed when the
    # deregistration is read, and the registration elsewhere arrives after it.
    env = {**worker_env, "SAFEGUARD_CLOCK": "2026-11-02T12:00:00+00:00"}
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    movements = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    log = tmp_path / "worker.log"
    registrations = worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"]
    with background(safeguard("worker", "-l", "info"), env, log):
        publish(kafka, registrations, [registration(n, "d", "deregistered", left, "6614002")])
        wait_for(lambda: len(versions(education, n)) >= 1, 120, "the education alert", log)
        publish(kafka, registrations, [registration(n, "r", "registered", joined, "6614009")])
        wait_for(lambda: len(versions(education, n)) >= 2, 60, "the withdrawn version", log)
        wait_for(lambda: len(movements.poll()) >= 2, 60, "the retraction", log)
    first, withdrawn = versions(education, n)
    assert (first["rule_id"], first["status"]) == ("education.no_destination", "open")
    assert (withdrawn["alert_id"], withdrawn["version"], withdrawn["status"]) == (
        first["alert_id"],
        2,
        "withdrawn",
    )
    assert withdrawn["status_reason"] == (
        "Withdrawn: school 6614009 reported the child registered on 2026-09-18. This removes the "
        "basis of the alert."
    )
    topic = TopicCodec("observation", "retraction")
    (kind, injected), (then, retraction) = [topic.decode(r.value) for r in movements.records]
    assert (kind, then) == ("observation", "retraction")
    assert (retraction["retracts"], retraction["agency"], retraction["reason"]) == (
        injected["event_id"],
        injected["agency"],
        "basis_withdrawn",
    )
    education.close()
    movements.close()


def test_the_store_and_dashboard_read_version_1_and_version_2_alerts(dsn: str) -> None:
    old = {
        "alert_id": f"combined_concern-{uuid.uuid4().hex[:24]}",
        "version": 1,
        "child_ref": "e" * 64,
        "kind": "combined_concern",
        "level": "medium",
        "rule_id": "concern.combined",
        "rule_version": 1,
        "raised_at": T0,
        "local_authority": "W06000015",
        "evidence": [
            {
                "event_id": "e1",
                "agency_type": "health",
                "agency_id": "hb1",
                "indicator": "health.controlling_companion",
                "group": "health",
                "observed_at": T0,
            }
        ],
        "reasons": ["Two agencies."],
        "actions": ["report_child_at_risk"],
        "family_move": False,
    }
    new = {
        **old,
        "version": 2,
        "status": "withdrawn",
        "status_reason": "Withdrawn: retracted.",
        "reopened_after_closure": False,
        "closure": None,
        "local_authorities": ["W06000011"],
    }
    db(dsn, lambda c: store_alert(c, EventCodec("alert", version=1).encode(old), "test"))
    row = db(dsn, lambda c: c.fetchrow("SELECT * FROM alerts WHERE alert_id = $1", old["alert_id"]))
    assert (row["version"], row["episode_status"], row["local_authorities"]) == (1, "open", [])
    db(dsn, lambda c: store_alert(c, ALERTS.encode(new), "test"))
    row = db(dsn, lambda c: c.fetchrow("SELECT * FROM alerts WHERE alert_id = $1", old["alert_id"]))
    assert (row["version"], row["episode_status"], row["status_reason"]) == (
        2,
        "withdrawn",
        "Withdrawn: retracted.",
    )
    assert row["local_authorities"] == ["W06000011"]
