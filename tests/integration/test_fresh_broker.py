"""The worker on a broker that has never seen the project, the way a new user's first run goes.

Nothing is created beforehand: the worker creates every topic (Faust's changelogs included) and
records are published as soon as the observation topic exists, while the worker is starting.
"""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaAdminClient

from .helpers import TopicReader, background, publish, safeguard, wait_for
from .test_worker import alerts_by_child, story

OBSERVATIONS = "safeguarding.observations.v1"


def topic_exists(servers: str, name: str) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=servers)
    try:
        return name in admin.list_topics()
    finally:
        admin.close()


def test_a_new_broker_gets_every_alert_of_records_sent_while_the_worker_starts(
    fresh_broker: str, tmp_path: Path
) -> None:
    children = range(1, 41)
    env = {
        "SAFEGUARD_KAFKA_BOOTSTRAP": fresh_broker,
        "SAFEGUARD_DATA_DIR": str(tmp_path / "data"),
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
    }
    log = tmp_path / "worker.log"
    with background(safeguard("worker"), env, log) as worker:
        wait_for(lambda: topic_exists(fresh_broker, OBSERVATIONS), 60, "the topics", log)
        publish(fresh_broker, OBSERVATIONS, [r for n in children for r in story(n)])
        alerts = TopicReader(fresh_broker, "safeguarding.alerts.concern.v1")
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
    dead = TopicReader(fresh_broker, "safeguarding.deadletter.v1")
    assert [dead.poll() for _ in range(4)][-1] == []
    text = log.read_text(errors="replace")
    assert "PartitionsMismatch" not in text
    assert "Traceback" not in text
    alerts.close()
    dead.close()
