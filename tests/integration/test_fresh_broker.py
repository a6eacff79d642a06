"""The worker on a broker that has never seen the project, the way a new user's first run goes.

Nothing is created beforehand: the worker starts first and waits; the admin's `safeguard topics
create` then makes every topic (Faust's changelogs included) and grants the ACLs, and records are
published as soon as the observation topic exists, while the worker is starting.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
import uuid
from contextlib import closing
from pathlib import Path

from kafka import KafkaAdminClient

from consumers.users import add_user
from producers.pseudonym import Pseudonymiser, upn_check_letter
from safeguard.infra.kafka import KafkaBroker
from safeguard.kernel.clients import connection_options, kafka_env
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import own_topics, topic_specs

from .conftest import start_broker
from .helpers import (
    Supervised,
    TopicReader,
    background,
    consumed_all,
    db,
    publish,
    safeguard,
    wait_for,
)
from .records import ALERTS, alerts_by_child, story
from .test_alert_store import query

OBSERVATIONS = "safeguarding.observations.v1"


def list_topics(kafka: Settings) -> list[str]:
    admin = KafkaAdminClient(**connection_options(kafka, "admin"))
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def topic_exists(kafka: Settings, name: str) -> bool:
    return name in list_topics(kafka)


def create_topics(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The admin's `safeguard topics create`, started now."""
    return subprocess.Popen(
        safeguard("topics", "create"),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_new_broker_gets_every_alert_of_records_sent_while_the_worker_starts(
    fresh_broker: Settings, tmp_path: Path
) -> None:
    servers = fresh_broker
    children = range(1, 41)
    env = {
        **kafka_env(servers),
        "SAFEGUARD_DATA_DIR": str(tmp_path / "data"),
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
    }
    log = tmp_path / "worker.log"
    with background(safeguard("worker"), env, log) as worker:
        assert create_topics(env).wait(timeout=120) == 0
        wait_for(lambda: topic_exists(servers, OBSERVATIONS), 60, "the topics", log)
        # Faust's own topics exist as soon as the project's do: before any agent runs.
        assert set(topic_specs(Settings())) <= set(list_topics(servers))
        publish(servers, OBSERVATIONS, [r for n in children for r in story(n)])
        alerts = TopicReader(servers, "safeguarding.alerts.concern.v1")
        wait_for(
            lambda: (
                len(alerts_by_child(alerts)) == len(children)
                and all(len(v) >= 2 for v in alerts_by_child(alerts).values())
            ),
            90,
            "two alert versions for every child",
            log,
        )
        assert worker.poll() is None
    found = alerts_by_child(alerts)
    for versions in found.values():
        assert [(a["version"], a["level"], a["rule_id"]) for a in versions] == [
            (1, "high", "concern.possible_trafficking"),
            (2, "high", "concern.possible_trafficking"),
        ]
        n = versions[0]["evidence"][0]["event_id"].split("-")[0]
        assert [e["event_id"] for e in versions[1]["evidence"]] == [
            f"{n}-school",
            f"{n}-health",
            f"{n}-police",
        ]
    dead = TopicReader(servers, "safeguarding.deadletter.v1")
    assert [dead.poll() for _ in range(4)][-1] == []
    text = log.read_text(errors="replace")
    assert "PartitionsMismatch" not in text
    assert "Traceback" not in text
    alerts.close()
    dead.close()


def test_a_broker_that_goes_away_and_returns_loses_no_alert(
    fresh_broker: Settings, dsn: str, tmp_path: Path
) -> None:
    servers = fresh_broker
    prefix = f"away-{uuid.uuid4().hex[:8]}"
    env = {
        **kafka_env(servers),
        "SAFEGUARD_DATABASE_URL": dsn,
        "SAFEGUARD_APP_ID": prefix,
        "SAFEGUARD_DATA_DIR": str(tmp_path / "data"),
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
        **own_topics(prefix),
    }
    topic = env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    broker = KafkaBroker(fresh_broker)
    before, after = range(100, 140), range(140, 180)
    log, store_log = tmp_path / "worker.log", tmp_path / "store.log"
    # Each either rides the outage out or stops with exit code 70 and is started again, as
    # compose does; either way nothing may be lost.
    env["SAFEGUARD_WORKER_STALL_SECONDS"] = "15"
    with (
        Supervised(safeguard("worker"), env, log) as worker,
        Supervised(safeguard("alert-store"), env, store_log) as store,
    ):
        assert create_topics(env).wait(timeout=120) == 0
        wait_for(lambda: topic_exists(servers, topic), 60, "the topics", log)
        publish(servers, topic, [r for n in before for r in story(n)])
        # No client of the test's is open while the broker is away (their sockets would leak).
        first = TopicReader(servers, env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
        wait_for(lambda: len(first.poll()) >= 20, 60, "the first alerts", log)
        first.close()
        broker.stop()
        time.sleep(8)
        start_broker(broker)
        publish(servers, topic, [r for n in after for r in story(n)])
        alerts = TopicReader(servers, env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])

        def complete() -> bool:
            found = alerts_by_child(alerts)
            return (worker.alive() and store.alive()) and (
                len(found) == 80
                and all({a["version"] for a in v} == {1, 2} for v in found.values())
            )

        wait_for(complete, 120, "both versions for every child", log)
        ids = sorted({a["alert_id"] for v in alerts_by_child(alerts).values() for a in v})
        wait_for(
            lambda: (
                query(
                    dsn, "SELECT count(*) AS n FROM alert_versions WHERE alert_id = ANY($1)", ids
                )[0]["n"]
                == 160
                and store.alive()
            ),
            90,
            "every version in PostgreSQL",
            store_log,
        )
    copies: dict[tuple[str, int], set[bytes]] = {}
    for record in alerts.records:
        alert = ALERTS.decode(record.value)
        copies.setdefault((alert["alert_id"], alert["version"]), set()).add(record.value)
    assert len(copies) == 160 and all(len(v) == 1 for v in copies.values())
    alerts.close()


def test_on_a_new_broker_a_link_joins_what_a_school_and_a_health_board_know_and_erasure_takes_both(
    fresh_broker: Settings, dsn: str, tmp_path: Path
) -> None:
    """The commands a partnership uses, on a broker that has never seen the project: a school's
    observation under the pupil's UPN and a health board's under the NHS number raise nothing
    apart; a social-care record that holds both links them into one combined concern; erasing
    the child by its NHS number erases both references, in the database and the worker."""
    servers = fresh_broker
    prefix = f"link-{uuid.uuid4().hex[:8]}"
    key = "k" * 40
    env = {
        **kafka_env(servers),
        "SAFEGUARD_APP_ID": prefix,
        "SAFEGUARD_DATA_DIR": str(tmp_path / "data"),
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
        "SAFEGUARD_PSEUDONYM_KEY": key,
        "SAFEGUARD_DATABASE_URL": dsn,
        **own_topics(prefix),
    }
    upn_body = "12345678901" + "A"
    pupil = upn_check_letter(upn_body) + upn_body
    nhs_number = "9434765919"
    seen = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)

    def publish_observation(
        namespace: str, identifier: str, indicator: str, agency: str, hour: int
    ) -> None:
        agency_type, agency_id = agency.split(":")
        observed = seen + dt.timedelta(hours=hour)
        run(
            "publish", "observation", "--identifier-namespace", namespace,
            "--identifier", identifier, "--indicator", indicator, "--agency-type", agency_type,
            "--agency-id", agency_id, "--observed-at", observed.isoformat(),
            "--local-authority", "W06000015", "--source-ref", f"{agency_id}-rec-1",
        )  # fmt: skip

    def run(*args: str, stdin: str = "") -> str:
        done = subprocess.run(
            safeguard(*args), env={**os.environ, **env}, capture_output=True, text=True,
            input=stdin,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    log = tmp_path / "worker.log"
    run("topics", "create")
    alerts = TopicReader(servers, env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    with closing(alerts), background(safeguard("worker"), env, log):
        publish_observation("upn", pupil, "say_behave.mood_swings", "school:6812345", 0)
        publish_observation("nhs", nhs_number, "health.controlling_companion", "health:hb-cv", 1)
        wait_for(
            lambda: consumed_all(servers, prefix, env["SAFEGUARD_TOPIC_OBSERVATIONS"]),
            120,
            "both observations handled",
            log,
        )
        assert alerts.poll() == []  # apart, neither reference has two agencies
        run(
            "publish", "link", "--a-namespace", "upn", "--a-identifier", pupil,
            "--b-namespace", "nhs", "--b-identifier", nhs_number,
            "--agency-type", "social_care", "--agency-id", "cardiff-sc",
        )  # fmt: skip
        wait_for(lambda: alerts.poll(), 60, "the linked child's alert", log)
    pseudonyms = Pseudonymiser(key.encode())
    refs = sorted([pseudonyms.child_ref("upn", pupil), pseudonyms.child_ref("nhs", nhs_number)])
    (alert,) = [ALERTS.decode(r.value) for r in alerts.records]
    assert (alert["child_ref"], alert["kind"], alert["level"], alert["version"]) == (
        refs[0],
        "combined_concern",
        "medium",
        1,
    )
    assert [(e["agency_type"], e["source_ref"]) for e in alert["evidence"]] == [
        ("school", "6812345-rec-1"),
        ("health", "hb-cv-rec-1"),
    ]
    assert alert["linked_refs"] == refs
    # Erased by the NHS number alone: the UPN's reference, joined on the alert, goes with it.
    dpo = f"dpo-{prefix}"
    db(dsn, lambda c: add_user(c, dpo, "correct horse battery", "admin", None))
    with background(safeguard("alert-store"), env, tmp_path / "store.log"):
        wait_for(
            lambda: query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", alert["alert_id"]),
            60,
            "the stored alert",
        )
    with background(safeguard("worker"), env, log):
        said = run(
            "erase", "--by", dpo, "--basis", "erasure_request", "--namespace", "nhs", "--yes",
            stdin=f"{nhs_number}\n",
        )  # fmt: skip
        assert " ".join(said.split()).startswith(
            "2 references of the child (1 found linked), 1 alerts erasure "
        )
        wait_for(
            lambda: consumed_all(servers, prefix, env["SAFEGUARD_TOPIC_ERASURES"]),
            60,
            "the worker reading the erasures",
            log,
        )
    assert query(dsn, "SELECT 1 FROM alerts WHERE child_ref = ANY($1)", refs) == []
    changelog = TopicReader(servers, f"{prefix}-child_to_evidence-changelog")
    with closing(changelog):
        newest = {r.key: r.value for _ in range(6) for r in changelog.poll()}
    for ref in refs:
        assert set(json.loads(newest[ref.encode()])) == {"erased_at", "episodes"}
    text = log.read_text(errors="replace")
    assert "Traceback" not in text
    assert pupil not in text and nhs_number not in text
