"""Erasing one child through the real broker, worker, alert store and database: nothing of the
child is left in the database or in the worker's state after a restart, a record sent before the
erasure and read again stays out, an erased alert read again is not stored, and what comes after
the erasure is new."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from consumers.users import add_user
from safeguard.kernel.clients import producer_options
from safeguard.kernel.settings import Settings

from .helpers import REPO, TopicReader, background, consumed_all, db, safeguard, wait_for
from .records import child, observation

PASSWORD = "correct horse battery"  # noqa: S105 - a test user's password


def send(kafka: Settings, topic: str, records: list[tuple[bytes, bytes]], at_ms: int) -> None:
    """Send ``records`` with the Kafka timestamp ``at_ms``, as a record sent then would be."""
    producer = KafkaProducer(**producer_options(kafka, "admin"))
    for key, value in records:
        producer.send(topic, key=key, value=value, timestamp_ms=at_ms)
    producer.flush()
    producer.close()


async def traces(conn: Any, ref: str, alert_id: str) -> dict[str, int]:
    """Rows of any table whose text holds the reference or the alert's id."""
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename NOT IN ('forgotten_alerts', 'audit')"
    )
    found = {}
    for row in tables:
        name = row["tablename"]
        count = await conn.fetchval(
            f"SELECT count(*) FROM {name} t WHERE t::text LIKE $1 OR t::text LIKE $2",  # noqa: S608
            f"%{ref}%",
            f"%{alert_id}%",
        )
        if count:
            found[name] = count
    return found


def latest_state(kafka: Settings, topic: str, key: bytes) -> Any:
    """The newest value of ``key`` in a changelog: what a restarted worker restores."""
    reader = TopicReader(kafka, topic)
    try:
        seen: dict[bytes, Any] = {}
        for _ in range(6):
            for record in reader.poll():
                seen[record.key] = record.value
        return json.loads(seen[key]) if seen.get(key) is not None else None
    finally:
        reader.close()


def test_an_erased_child_leaves_no_trace_and_stays_erased(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    n, other = (uuid.uuid4().int % 10**9 for _ in range(2))
    ref = child(n)
    admin_user = f"dpo-{uuid.uuid4().hex[:8]}"
    db(dsn, lambda c: add_user(c, admin_user, PASSWORD, "admin", None))
    observations = worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    story = [
        observation(n, f"s{n}", "say_behave.mood_swings", "school:6812345", 0),
        observation(n, f"h{n}", "health.controlling_companion", "health:hb1", 2),
    ]
    log = tmp_path / "parts.log"
    with background(safeguard("alert-store"), worker_env, tmp_path / "store.log"):
        with background(safeguard("worker", "-l", "info"), worker_env, log):
            sent_before = int(time.time() * 1000)
            send(kafka, observations, story, sent_before)

            def stored() -> Any:
                return db(
                    dsn, lambda c: c.fetchrow("SELECT * FROM alerts WHERE child_ref = $1", ref)
                )

            alert = wait_for(stored, 120, "the child's alert in the store", log)
            alert_id = alert["alert_id"]
            payload = db(
                dsn,
                lambda c: c.fetchval(
                    "SELECT payload FROM alert_versions WHERE alert_id = $1", alert_id
                ),
            )
            db(
                dsn,
                lambda c: c.execute(
                    "INSERT INTO audit (username, action, alert_id, detail)"
                    " VALUES ($1, 'close', $2, 'no_further_action: seen with mum at clinic')",
                    admin_user,
                    alert_id,
                ),
            )
            erase = subprocess.run(
                safeguard(
                    "erase",
                    "--by",
                    admin_user,
                    "--basis",
                    "erasure_request",
                    "--child-ref",
                    ref,
                    "--yes",
                ),
                env={**os.environ, **worker_env},
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert erase.returncode == 0, erase.stderr
            said = " ".join(erase.stdout.split())  # unwrapped
            assert said.startswith("1 references of the child (0 found linked), 1 alerts erasure ")
            assert said.endswith(
                ": 1 erasures sent to the worker; removed 1 alerts (1 versions), 0 intake records, "
                "0 proposals; 1 audit rows lost their free text"
            )
            assert ref not in erase.stdout + erase.stderr
            group = worker_env["SAFEGUARD_APP_ID"]
            wait_for(
                lambda: consumed_all(kafka, group, worker_env["SAFEGUARD_TOPIC_ERASURES"]),
                60,
                "the worker reading the erasure",
                log,
            )
        # Stopped cleanly; started again, it restores its state from the changelogs.
        with background(safeguard("worker", "-l", "info"), worker_env, log):
            # Read again (a replay): sent before the erasure, so it stays out.
            send(kafka, observations, story, sent_before)
            # The erased alert read again by the alert store (a replay): not stored again.
            alerts_topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
            send(kafka, alerts_topic, [(ref.encode(), payload)], int(time.time() * 1000))
            # Another child, to know the worker has gone past the replayed records.
            send(
                kafka,
                observations,
                [
                    observation(other, f"s{other}", "say_behave.mood_swings", "school:6812345", 0),
                    observation(
                        other, f"h{other}", "health.controlling_companion", "health:hb1", 2
                    ),
                ],
                int(time.time() * 1000),
            )
            wait_for(
                lambda: db(
                    dsn,
                    lambda c: c.fetchval("SELECT 1 FROM alerts WHERE child_ref = $1", child(other)),
                ),
                120,
                "the other child's alert",
                log,
            )
            wait_for(lambda: consumed_all(kafka, group, observations), 60, "the replay read", log)
            store = f"{group}-alert-store"
            wait_for(lambda: consumed_all(kafka, store, alerts_topic), 60, "the store's replay")
            assert db(dsn, lambda c: traces(c, ref, alert_id)) == {}
            audit = db(
                dsn,
                lambda c: c.fetch("SELECT action, detail FROM audit WHERE alert_id = $1", alert_id),
            )
            assert [(r["action"], r["detail"]) for r in audit] == [("close", "(erased)")]
            erasure_audit = db(
                dsn,
                lambda c: c.fetchval(
                    "SELECT detail FROM audit WHERE username = $1 AND action = 'erase'", admin_user
                ),
            )
            assert erasure_audit.endswith(
                ": 1 references, 1 alerts, 1 versions, 0 intake records, 0 proposals removed"
            )
            assert ref not in erasure_audit
            changelog = f"{group}-child_to_evidence-changelog"
            state = latest_state(kafka, changelog, ref.encode())
            assert set(state) == {"erased_at", "episodes"}
            assert state["episodes"] == {"combined_concern": 1}
            # New information after the erasure: a new alert under a new id.
            send(
                kafka,
                observations,
                [
                    observation(n, f"s2{n}", "say_behave.mood_swings", "school:6812345", 5),
                    observation(n, f"h2{n}", "health.controlling_companion", "health:hb1", 6),
                ],
                int(time.time() * 1000),
            )
            new = wait_for(stored, 120, "the alert raised after the erasure", log)
            assert new["alert_id"] != alert_id and new["version"] == 1


def run_erase(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        safeguard("erase", *args),
        env={**os.environ, **env},
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_erasure_needs_an_administrator_a_basis_and_a_valid_identifier(
    worker_env: dict[str, str], dsn: str
) -> None:
    ref = child(uuid.uuid4().int % 10**9)
    practitioner = f"hub-{uuid.uuid4().hex[:8]}"
    db(dsn, lambda c: add_user(c, practitioner, PASSWORD, "practitioner", "W06000015"))
    refused = run_erase(
        worker_env, "--by", practitioner, "--basis", "erasure_request", "--child-ref", ref, "--yes"
    )
    assert refused.returncode == 1
    assert " ".join(refused.stderr.split()) == (
        "error: --by: no dashboard administrator of that name"
    )
    refused = run_erase(worker_env, "--by", practitioner, "--basis", "because", "--child-ref", ref)
    assert refused.returncode == 1
    assert "basis: not one of erasure_request, not_in_scope, recorded_in_error" in refused.stderr
    keyed = {**worker_env, "SAFEGUARD_PSEUDONYM_KEY": "k" * 32}
    refused = run_erase(
        keyed,
        "--by",
        practitioner,
        "--basis",
        "erasure_request",
        "--namespace",
        "nhs",
        stdin="943 476 5918\n",
    )
    assert refused.returncode == 1
    assert " ".join(refused.stderr.split()) == (
        "error: identifier: the NHS number's check digit is wrong"
    )
    assert "5918" not in refused.stdout + refused.stderr
