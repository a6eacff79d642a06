"""The alert store through the real broker and PostgreSQL: exact rows, duplicates, replay, restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from safeguard.infra.postgres import PostgresCluster
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

from .helpers import TopicReader, background, consumed_all, publish, safeguard, wait_for

ALERTS = EventCodec("alert")
T0 = dt.datetime(2026, 10, 5, 8, 45, tzinfo=dt.UTC)


def alert(alert_id: str, version: int, level: str = "medium", **extra: Any) -> dict[str, Any]:
    evidence = [
        {
            "event_id": f"{alert_id}-e{n}",
            "agency_type": agency,
            "agency_id": f"{agency}-1",
            "indicator": "say_behave.no_peer_friends",
            "group": "say_behave",
            "observed_at": T0 + dt.timedelta(days=n),
        }
        for n, agency in enumerate(["school", "health", "police"][: version + 1])
    ]
    return {
        "alert_id": alert_id,
        "version": version,
        "child_ref": "c" * 64,
        "kind": "combined_concern",
        "level": level,
        "rule_id": "concern.combined",
        "rule_version": 1,
        "raised_at": evidence[-1]["observed_at"],
        "local_authority": "W06000015",
        "evidence": evidence,
        "reasons": [f"reason for v{version}"],
        "actions": ["report_child_at_risk"],
        "family_move": False,
        **extra,
    }


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_versions_are_stored_once_and_the_newest_is_current(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    ident = f"combined_concern-{uuid.uuid4().hex[:24]}"
    key = b"c" * 64
    v1, v2 = ALERTS.encode(alert(ident, 1)), ALERTS.encode(alert(ident, 2, "high"))
    # Both twice (a replay from an earlier offset).
    records = [(key, v1), (key, v2), (key, v1), (key, v2), (key, b"\x00not an alert")]
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    log = tmp_path / "store.log"
    with background(safeguard("alert-store"), worker_env, log):
        publish(kafka, topic, records)
        group = f"{worker_env['SAFEGUARD_APP_ID']}-alert-store"
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the store to commit", log)

    (current,) = query(
        dsn,
        "SELECT version, level, agencies, last_evidence_at FROM alerts WHERE alert_id = $1",
        ident,
    )
    assert (current["version"], current["level"], current["agencies"]) == (2, "high", 3)
    assert current["last_evidence_at"] == T0 + dt.timedelta(days=2)
    history = query(
        dsn,
        "SELECT version, level, payload FROM alert_versions WHERE alert_id = $1 ORDER BY version",
        ident,
    )
    assert [(h["version"], h["level"], bytes(h["payload"])) for h in history] == [
        (1, "medium", v1),
        (2, "high", v2),
    ]
    wait_for(dead.poll, 30, "the dead letter")
    (letter,) = [EventCodec("dead_letter").decode(r.value) for r in dead.records]
    assert (letter["payload"], letter["error_kind"], letter["consumer"]) == (
        b"\x00not an alert",
        "NotSingleObjectError",
        "alert-store",
    )
    dead.close()


def test_a_forged_version_jump_is_dead_lettered_and_the_genuine_next_version_stored(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    ident = f"combined_concern-{uuid.uuid4().hex[:24]}"
    key = b"c" * 64
    genuine = ALERTS.encode(alert(ident, 1, "high"))
    forged = ALERTS.encode(alert(ident, 2_147_483_647, "low"))
    forged_first = ALERTS.encode(alert(f"{ident[:-4]}beef", 9, "low"))  # an id it never held
    critical = ALERTS.encode(alert(ident, 2, "critical"))
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    log = tmp_path / "store.log"
    with background(safeguard("alert-store"), worker_env, log):
        publish(kafka, topic, [(key, genuine), (key, forged), (key, forged_first)])
        publish(kafka, topic, [(key, critical)])
        group = f"{worker_env['SAFEGUARD_APP_ID']}-alert-store"
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the store to commit", log)
    (current,) = query(dsn, "SELECT version, level FROM alerts WHERE alert_id = $1", ident)
    assert (current["version"], current["level"]) == (2, "critical")
    assert query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", f"{ident[:-4]}beef") == []
    wait_for(lambda: len(dead.poll()) >= 2, 30, "the dead letters")
    letters = [EventCodec("dead_letter").decode(r.value) for r in dead.records]
    assert [(d["payload"], d["error_kind"]) for d in letters] == [
        (forged, "VersionJumpError"),
        (forged_first, "VersionJumpError"),
    ]
    assert letters[0]["error_message"] == (
        "version: 2147483647 of an alert whose newest stored version is 1; versions go up by one"
    )
    dead.close()


def test_a_value_postgresql_cannot_hold_is_dead_lettered_and_the_rest_stored(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    good = f"combined_concern-{uuid.uuid4().hex[:24]}"
    bad = f"combined_concern-{uuid.uuid4().hex[:24]}"
    records = [
        (b"c" * 64, ALERTS.encode(alert(good, 1))),
        (b"c" * 64, ALERTS.encode(alert(bad, 1, reasons=["nul \x00 inside"]))),
    ]
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    log = tmp_path / "store.log"
    with background(safeguard("alert-store"), worker_env, log):
        publish(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"], records)
        wait_for(dead.poll, 60, "the dead letter", log)
        wait_for(
            lambda: query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", good),
            30,
            "the good alert",
            log,
        )
    (letter,) = [EventCodec("dead_letter").decode(r.value) for r in dead.records]
    assert letter["error_kind"] == "StoreError"
    assert query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", bad) == []
    dead.close()


def test_schools_are_stored_by_name_newest_first_and_one_postgresql_refuses_is_dead_lettered(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    schools = EventCodec("school")
    good, bad = f"66{uuid.uuid4().int % 10**5:05d}", f"67{uuid.uuid4().int % 10**5:05d}"

    def school(school_id: str, name: str) -> tuple[bytes, bytes]:
        record = {
            "school_id": school_id,
            "name": name,
            "local_authority": "W06000001",
            "near_port_of_entry": True,
        }
        return school_id.encode(), schools.encode(record)

    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    log = tmp_path / "store.log"
    with background(safeguard("alert-store"), worker_env, log):
        publish(
            kafka,
            worker_env["SAFEGUARD_TOPIC_SCHOOLS"],
            [
                school(good, "Ysgol Caergybi"),
                school(bad, "nul \x00 inside"),
                school(good, "Ysgol Uwchradd Caergybi"),  # renamed: the newest record wins
            ],
        )
        wait_for(dead.poll, 60, "the dead letter", log)
        group = f"{worker_env['SAFEGUARD_APP_ID']}-school-store"
        topic = worker_env["SAFEGUARD_TOPIC_SCHOOLS"]
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the store to commit", log)
    stored = query(
        dsn, "SELECT school_id, name FROM schools WHERE school_id = ANY($1)", [good, bad]
    )
    assert [(r["school_id"], r["name"]) for r in stored] == [(good, "Ysgol Uwchradd Caergybi")]
    (letter,) = [EventCodec("dead_letter").decode(r.value) for r in dead.records]
    assert (letter["error_kind"], letter["source_topic"]) == ("StoreError", topic)
    dead.close()


def test_sigkill_and_restart_store_every_version_exactly_once(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    prefix = uuid.uuid4().hex[:16]
    ids = [f"combined_concern-{prefix}{n:08d}" for n in range(400)]
    records = [(b"c" * 64, ALERTS.encode(alert(i, v))) for v in (1, 2) for i in ids]
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    log = tmp_path / "store.log"
    with background(safeguard("alert-store"), worker_env, log) as first:
        publish(kafka, topic, records)
        wait_for(
            lambda: (
                query(
                    dsn,
                    "SELECT count(*) AS n FROM alert_versions WHERE alert_id LIKE $1",
                    f"combined_concern-{prefix}%",
                )[0]["n"]
                > 100
            ),
            60,
            "some versions",
            log,
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    with background(safeguard("alert-store"), worker_env, tmp_path / "store2.log"):
        group = f"{worker_env['SAFEGUARD_APP_ID']}-alert-store"
        wait_for(lambda: consumed_all(kafka, group, topic), 90, "the restarted store", log)
    counts = query(
        dsn,
        "SELECT count(*) AS versions, count(DISTINCT alert_id) AS alerts FROM alert_versions WHERE alert_id LIKE $1",
        f"combined_concern-{prefix}%",
    )[0]
    assert (counts["versions"], counts["alerts"]) == (800, 400)
    current = query(
        dsn,
        "SELECT DISTINCT version FROM alerts WHERE alert_id LIKE $1",
        f"combined_concern-{prefix}%",
    )
    assert [r["version"] for r in current] == [2]


def test_an_alert_with_no_evidence_is_dead_lettered_and_the_next_is_stored(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    empty, good = (f"combined_concern-{uuid.uuid4().hex[:24]}" for _ in range(2))
    records = [
        (b"c" * 64, ALERTS.encode(alert(empty, 1, evidence=[]))),
        (b"c" * 64, ALERTS.encode(alert(good, 1))),
    ]
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    log = tmp_path / "store.log"
    with background(safeguard("alert-store"), worker_env, log) as store:
        publish(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"], records)
        wait_for(
            lambda: query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", good),
            60,
            "the good alert",
            log,
        )
        wait_for(dead.poll, 30, "the dead letter", log)
        assert store.poll() is None
    (letter,) = [EventCodec("dead_letter").decode(r.value) for r in dead.records]
    assert (letter["error_kind"], letter["error_message"]) == (
        "InvalidRecordError",
        "evidence: empty; an alert holds at least one piece of evidence",
    )
    assert query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", empty) == []
    dead.close()


def test_the_store_reconnects_after_a_postgresql_restart_and_loses_nothing(
    kafka: Settings, worker_env: dict[str, str], dsn: str, settings: Settings, tmp_path: Path
) -> None:
    assert settings.postgres_managed, "this test restarts the project's own cluster"
    prefix = uuid.uuid4().hex[:16]
    ids = [f"combined_concern-{prefix}{n:08d}" for n in range(100)]
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    count = "SELECT count(*) AS n FROM alert_versions WHERE alert_id LIKE $1"
    stored = lambda: query(dsn, count, f"combined_concern-{prefix}%")[0]["n"]  # noqa: E731
    log = tmp_path / "store.log"
    cluster = PostgresCluster(settings)
    with background(safeguard("alert-store"), worker_env, log) as store:
        publish(kafka, topic, [(b"c" * 64, ALERTS.encode(alert(i, 1))) for i in ids])
        wait_for(lambda: stored() == 100, 60, "the first versions", log)
        cluster.stop()
        try:
            publish(kafka, topic, [(b"c" * 64, ALERTS.encode(alert(i, 2))) for i in ids])
            time.sleep(5)  # the store meets the closed database and retries
        finally:
            cluster.start()
        wait_for(lambda: stored() == 200, 90, "the versions sent while it was down", log)
        assert store.poll() is None
    assert "retrying" in log.read_text()
    current = query(
        dsn,
        "SELECT DISTINCT version FROM alerts WHERE alert_id LIKE $1",
        f"combined_concern-{prefix}%",
    )
    assert [r["version"] for r in current] == [2]
