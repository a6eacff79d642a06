"""Operating the pipeline, on a broker that has never seen the project: health and readiness,
metrics, ``safeguard status``, the dashboard's pipeline banner, and JSON logs.

One story, in order: the alert store and the dashboard start without a worker, so the dashboard
must say the worker is not running instead of "No open alerts"; records sent meanwhile are lag
that ``safeguard status`` reports exactly; the worker starts, the lag falls to zero and the
banner goes; the metrics count what happened; the worker stops and the banner is back; last, the
broker stops and the worker's readiness fails, and recovers when the broker is back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumers.retention import erase_in_database
from consumers.users import add_user
from safeguard.infra.kafka import KafkaBroker
from safeguard.kernel.clients import credentials, kafka_env
from safeguard.kernel.settings import Settings
from safeguard.kernel.topics import own_topics

from .conftest import free_port, start_broker
from .helpers import (
    REPO,
    Supervised,
    TopicReader,
    background,
    db,
    form_post,
    publish,
    safeguard,
    wait_for,
)
from .records import ALERTS, child, story
from .test_alert_store import query

#: Children of this run only (the database is shared with other tests and earlier runs).
_FIRST = 10_000_000 + uuid.uuid4().int % 10_000_000
CHILDREN = range(_FIRST, _FIRST + 5)
#: A practitioner of an area no test sends alerts about: their list is empty.
QUIET_AREA = "W06000020"


@pytest.fixture(scope="module")
def ops(
    fresh_broker: Settings, tmp_path_factory: pytest.TempPathFactory, dsn_module: str
) -> dict[str, Any]:
    """The environment of one pipeline on the fresh broker, with fixed operations ports."""
    prefix = f"ops-{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("ops")
    ports = {name: free_port() for name in ("worker", "alert_store", "intake", "dashboard")}
    env = {
        **kafka_env(fresh_broker),
        "SAFEGUARD_APP_ID": prefix,
        "SAFEGUARD_DATA_DIR": str(folder / "data"),
        "SAFEGUARD_WORKER_SESSION_TIMEOUT": "6",
        "SAFEGUARD_DASHBOARD_HTTPS_ONLY": "false",
        "SAFEGUARD_DATABASE_URL": dsn_module,
        **own_topics(prefix),
        **{f"SAFEGUARD_{name.upper()}_OPS_PORT": str(port) for name, port in ports.items()},
    }
    # The admin's first step on a new broker: the topics, with their ACLs.
    topics = subprocess.run(
        safeguard("topics", "create"), env={**os.environ, **env}, capture_output=True
    )
    assert topics.returncode == 0, topics.stderr
    return {"env": env, "ports": ports, "prefix": prefix, "folder": folder}


def ready(port: int) -> tuple[int, dict[str, Any]]:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    except httpx.HTTPError:
        return 0, {}
    return answer.status_code, answer.json()


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a service's /metrics, by name and labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (n, have), value in found.items()
        if n == name and all((k, v) in have for k, v in labels.items())
    )


def status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        safeguard("status", "--json"),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def group(report: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [g for g in report["consumer_groups"] if g["group"] == name]
    return found


@pytest.fixture(scope="module")
def dashboard(ops: dict[str, Any], dsn_module: str) -> Iterator[httpx.Client]:
    """The dashboard's process, and a practitioner's browser session on it."""
    port = free_port()
    user = f"ops-{uuid.uuid4().hex[:6]}"
    db(dsn_module, lambda c: add_user(c, user, "correct horse battery", "practitioner", QUIET_AREA))
    argv = safeguard("dashboard", "--port", str(port))
    env = {**ops["env"], "SAFEGUARD_LOG_FORMAT": "json"}
    with background(argv, env, ops["folder"] / "dashboard.log"):
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        wait_for(lambda: ready(ops["ports"]["dashboard"])[0] == 200, 60, "the dashboard")
        wait_for(lambda: answers(client, "/login"), 30, "the dashboard's own port")
        signed_in = form_post(
            client, "/login", data={"username": user, "password": "correct horse battery"}
        )
        assert signed_in.status_code in (200, 303), signed_in.text
        yield client
        client.close()


@pytest.fixture(scope="module")
def intake(ops: dict[str, Any]) -> Iterator[httpx.Client]:
    """The intake's process (no agency needs to send anything for its health)."""
    port = free_port()
    key = ops["folder"] / "partnership.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)
    env = {**ops["env"], "SAFEGUARD_PSEUDONYM_KEY_FILE": str(key), "SAFEGUARD_LOG_FORMAT": "json"}
    with background(safeguard("intake", "--port", str(port)), env, ops["folder"] / "intake.log"):
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        wait_for(lambda: ready(ops["ports"]["intake"])[0] == 200, 60, "the intake")
        wait_for(lambda: answers(client, "/health"), 30, "the intake's own port")
        yield client
        client.close()


@pytest.fixture(scope="module")
def dsn_module(_database_checked: str) -> str:
    return _database_checked


def answers(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def banner(client: httpx.Client) -> tuple[bool, str, str]:
    """Whether the page shows the pipeline banner, its text, and the empty list's text."""
    page = client.get("/").text
    shown = re.search(r'<div id="pipeline" class="banner" role="alert"( hidden)?>', page)
    assert shown, page[:2000]
    text = re.search(r'<span id="pipeline-problems">(.*?)</span>', page, re.S)
    empty = re.search(r'<tr id="empty"><td [^>]*>(.*?)</td>', page, re.S)
    return shown[1] is None, text[1] if text else "", empty[1] if empty else ""


def test_the_pipeline_says_what_it_is_doing_from_a_first_start(
    fresh_broker: Settings,
    ops: dict[str, Any],
    dashboard: httpx.Client,
    intake: httpx.Client,
    dsn_module: str,
) -> None:
    env, ports, prefix, folder = ops["env"], ops["ports"], ops["prefix"], ops["folder"]
    store_log, worker_log = folder / "store.log", folder / "worker.log"
    with background(safeguard("alert-store"), env, store_log):
        wait_for(lambda: ready(ports["alert_store"])[0] == 200, 60, "the alert store", store_log)
        # No worker: the dashboard cannot say "No open alerts".
        _, problems, empty = wait_for(
            lambda: (b := banner(dashboard))[0] and "stream worker is not running" in b[1] and b,
            60,
            "the banner saying the worker is not running",
        )
        assert problems.startswith("The stream worker is not running (0 records waiting for it)")
        assert empty.startswith("No open alerts are stored, but the pipeline is not up to date")
        # An open list hears the same, as an event its page shows in the banner.
        with dashboard.stream("GET", "/events") as feed:
            lines = feed.iter_lines()
            assert [next(lines) for _ in range(3)] == ["retry: 3000", "", "event: pipeline"]
            state = json.loads(next(lines).removeprefix("data: "))
        assert (state["all_clear"], state["known"]) == (False, True)
        assert state["problems"][0].startswith("The stream worker is not running")
        code, report = status(env)
        assert code == 1
        (worker,) = [c for c in report["components"] if c["name"] == "worker"]
        assert (worker["healthy"], worker["state"]) == (False, "not running")
        # Records sent while the worker is down are lag, counted exactly.
        publish(
            fresh_broker,
            env["SAFEGUARD_TOPIC_OBSERVATIONS"],
            [r for n in CHILDREN for r in story(n)],
        )
        code, report = status(env)
        waiting = group(report, prefix)
        assert (code, waiting["members"]) == (1, 0)
        assert waiting["lag_by_topic"][env["SAFEGUARD_TOPIC_OBSERVATIONS"]] == 15

        json_env = {**env, "SAFEGUARD_LOG_FORMAT": "json"}
        with background(safeguard("worker"), json_env, worker_log):
            wait_for(lambda: ready(ports["worker"])[0] == 200, 120, "the worker ready", worker_log)
            code, report = wait_for(
                lambda: (r := status(env))[0] == 0 and group(r[1], prefix)["lag"] == 0 and r,
                120,
                "status healthy with no lag",
                worker_log,
            )
            assert group(report, prefix)["members"] == 1
            # The newest record the worker processed was sent moments ago.
            newest = group(report, prefix)["newest_processed"][env["SAFEGUARD_TOPIC_OBSERVATIONS"]]
            age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(newest)
            assert dt.timedelta(0) <= age < dt.timedelta(minutes=10)
            assert group(report, f"{prefix}-alert-store")["lag"] == 0
            wait_for(
                lambda: (
                    len(
                        query(
                            dsn_module,
                            "SELECT 1 FROM alerts WHERE child_ref = ANY($1)",
                            [child(n) for n in CHILDREN],
                        )
                    )
                    == 5
                ),
                60,
                "the alerts stored",
            )
            wait_for(lambda: not (b := banner(dashboard))[0] and b, 30, "no banner")
            # A record that is not an event: one dead letter, by its reason.
            publish(fresh_broker, env["SAFEGUARD_TOPIC_OBSERVATIONS"], [(b"k", b"not avro")])
            found = wait_for(
                lambda: (
                    (m := samples(ports["worker"]))
                    and total(m, "safeguard_dead_letters_total") == 1
                    and total(
                        m,
                        "safeguard_consumer_lag_records",
                        topic=env["SAFEGUARD_TOPIC_OBSERVATIONS"],
                    )
                    == 0
                    and m
                ),
                30,
                "the worker's metrics",
            )
            observations = env["SAFEGUARD_TOPIC_OBSERVATIONS"]
            assert (
                total(
                    found, "safeguard_records_processed_total", topic=observations, outcome="done"
                )
                == 15
            )
            assert (
                total(
                    found,
                    "safeguard_records_processed_total",
                    topic=observations,
                    outcome="dead_letter",
                )
                == 1
            )
            assert total(found, "safeguard_dead_letters_total", reason="NotSingleObjectError") == 1
            assert (
                total(found, "safeguard_alerts_raised_total", kind="combined_concern", level="high")
                == 10
            )
            assert total(found, "safeguard_alerts_raised_total") == 10
            assert (
                total(found, "safeguard_agent_crashes_total", agent="aggregate_observations") == 0
            )
            assert (
                "safeguard_agent_crashes_total",
                (("agent", "aggregate_observations"),),
            ) in found
            newest = total(
                found, "safeguard_newest_event_timestamp_seconds", group=prefix, topic=observations
            )
            assert time.time() - 600 < newest <= time.time() + 5
            assert total(found, "safeguard_ready") == 1
            assert total(found, "faust_messages_received_total") >= 16
            concern = env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
            store_group = f"{prefix}-alert-store"
            # The store shows its lag every few seconds: it falls to zero.
            stored = wait_for(
                lambda: (
                    (m := samples(ports["alert_store"]))
                    and total(m, "safeguard_consumer_lag_records", group=store_group) == 0
                    and m
                ),
                30,
                "the alert store's lag at zero",
            )
            assert (
                total(stored, "safeguard_records_processed_total", topic=concern, outcome="done")
                == 10
            )
            assert (
                total(stored, "safeguard_alert_store_write_duration_seconds_count", topic=concern)
                >= 1
            )
            assert (
                total(
                    stored,
                    "safeguard_consumer_lag_records",
                    group=f"{prefix}-alert-store",
                    topic=concern,
                )
                == 0
            )
            health = intake.get("/health")
            assert (health.status_code, health.json()) == (
                200,
                {"status": "ok", "checks": {"broker": "ok", "database": "ok"}},
            )
            took_in = samples(ports["intake"])
            assert (
                total(took_in, "safeguard_http_requests_total", route="/health", status="200") >= 1
            )
            served = samples(ports["dashboard"])
            assert (
                total(
                    served, "safeguard_http_requests_total", method="GET", route="/", status="200"
                )
                >= 1
            )
            assert (
                total(served, "safeguard_http_request_duration_seconds_count", route="/login") >= 1
            )
        # The worker stopped: the banner is back, within a few checks.
        _, problems, _ = wait_for(
            lambda: (b := banner(dashboard))[0] and b, 60, "the banner after the worker stopped"
        )
        assert problems.startswith("The stream worker is not running")
    lines = [line for line in worker_log.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert {"time", "level", "logger", "service", "message"} <= set(parsed[0])
    assert {p["service"] for p in parsed} == {"worker"}
    dead = [p for p in parsed if p["message"].startswith("dead-lettered")]
    assert [(p["topic"], p["partition"], p["level"]) for p in dead] == [
        (observations, dead[0]["partition"], "WARNING")
    ]
    assert isinstance(dead[0]["offset"], int)
    text = worker_log.read_text()
    assert not [n for n in CHILDREN if child(n) in text]
    for service in ("dashboard", "intake"):  # uvicorn's own lines too
        lines = (folder / f"{service}.log").read_text().splitlines()
        assert {json.loads(line)["service"] for line in lines if line.strip()} == {service}


JAVA = REPO / "consumers" / "java-alert-reader"


def test_a_java_consumer_decodes_the_alerts_from_the_broker(
    fresh_broker: Settings, ops: dict[str, Any], tmp_path: Path
) -> None:
    """Apache Kafka's Java client and Avro's BinaryMessageDecoder, with the schemas alone."""
    env = ops["env"]
    topic = env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    reader = TopicReader(fresh_broker, topic)
    with closing(reader):
        expected = wait_for(lambda: len(r := reader.poll()) >= 10 and r, 60, "the alerts")
    python = [ALERTS.decode(r.value) for r in expected]
    build = subprocess.run(
        [
            "mvn", "-B", "-q", "-f", str(JAVA / "pom.xml"),
            f"-Dmaven.repo.local={KafkaBroker(fresh_broker).cache / 'm2'}",
            "compile", "dependency:copy-dependencies", "-DoutputDirectory=target/lib",
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    user, password = credentials(fresh_broker, "alert-store")
    properties = tmp_path / "client.properties"
    properties.write_text(
        f"bootstrap.servers={fresh_broker.kafka_servers}\n"
        f"security.protocol={fresh_broker.kafka_security_protocol}\n"
        f"sasl.mechanism={fresh_broker.kafka_sasl_mechanism}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={fresh_broker.kafka_ca_path}\n"
    )
    run = subprocess.run(
        [
            "java", "-cp", f"{JAVA / 'target' / 'classes'}:{JAVA / 'target' / 'lib' / '*'}",
            "wales.safeguarding.AlertReader", str(properties), str(REPO / "schemas"), topic,
            str(len(python)),
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    java = [json.loads(line) for line in run.stdout.splitlines()]
    key = lambda a: (a["alert_id"], a["version"])  # noqa: E731
    assert sorted(java, key=key) == sorted(
        (
            {
                "alert_id": a["alert_id"],
                "version": a["version"],
                "kind": a["kind"],
                "level": a["level"],
                "status": a["status"],
                "evidence": [e["event_id"] for e in a["evidence"]],
            }
            for a in python
        ),
        key=key,
    )
    assert {(a["kind"], a["level"]) for a in java} == {("combined_concern", "high")}


def snapshot(dsn: str, ids: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The stored alerts ``ids``: their current rows and every version's payload."""
    current = query(
        dsn,
        "SELECT alert_id, child_ref, version, level, status, episode_status FROM alerts"
        " WHERE alert_id = ANY($1) ORDER BY alert_id",
        ids,
    )
    versions = query(
        dsn,
        "SELECT alert_id, version, payload FROM alert_versions WHERE alert_id = ANY($1)"
        " ORDER BY alert_id, version",
        ids,
    )
    return [tuple(r) for r in current], [tuple(r) for r in versions]


def lose(dsn: str, ids: list[str]) -> None:
    """The alert store loses these alerts (a bad migration, a mistaken delete)."""
    query(dsn, "DELETE FROM alert_versions WHERE alert_id = ANY($1)", ids)
    query(dsn, "DELETE FROM alerts WHERE alert_id = ANY($1)", ids)


def test_a_backup_restores_and_a_replay_rebuilds_every_alert_but_an_erased_one(
    ops: dict[str, Any], dsn_module: str, settings: Settings, tmp_path: Path
) -> None:
    env, prefix, folder = ops["env"], ops["prefix"], ops["folder"]
    refs = [child(n) for n in CHILDREN]
    rows = query(
        dsn_module, "SELECT alert_id, child_ref FROM alerts WHERE child_ref = ANY($1)", refs
    )
    ids = sorted(r["alert_id"] for r in rows)
    assert len(ids) == 5
    (erased_id,) = [r["alert_id"] for r in rows if r["child_ref"] == refs[0]]
    kept = [i for i in ids if i != erased_id]
    before = snapshot(dsn_module, kept)
    assert len(before[1]) == 8
    everything = query(dsn_module, "SELECT count(*) FROM alert_versions")[0][0]

    # Rows other tests left that their own forget-lists cover: a restore removes them too.
    stale = tuple(
        query(dsn_module, sql)[0][0]
        for sql in (
            "SELECT count(*) FROM alerts t JOIN forgotten_alerts f USING (alert_id)"
            " WHERE t.version <= f.through_version",
            "SELECT count(*) FROM alert_versions t JOIN forgotten_alerts f USING (alert_id)"
            " WHERE t.version <= f.through_version",
        )
    )
    backup = tmp_path / "alerts.dump"
    # Backups and restores are made as the schema's owner.
    owner = {**env, "SAFEGUARD_DATABASE_OWNER_URL": settings.owner_dsn}
    made = run_safeguard(owner, "db", "backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert backup.stat().st_mode & 0o077 == 0
    again = run_safeguard(owner, "db", "backup", str(backup))
    assert (again.returncode, " ".join(again.stderr.split())) == (
        1, f"error: {backup} exists: choose a new file (a backup never overwrites one)"
    )  # fmt: skip
    # After the backup: one child is erased, and the others' alerts are lost.
    now = dt.datetime.now(dt.UTC)

    def erase(conn: Any) -> Any:
        return erase_in_database(
            conn, {refs[0]}, erasure_id="e-ops", erased_at=now, username="(test)"
        )

    db(settings.owner_dsn, erase)
    lose(dsn_module, kept)
    assert snapshot(dsn_module, ids) == ([], [])
    restored = run_safeguard(owner, "db", "restore", str(backup), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert " ".join(restored.stdout.split()).endswith(
        f"removed again what was purged or erased since: {stale[0] + 1} alerts, "
        f"{stale[1] + 2} versions, 0 intake records, 0 proposals"
    )
    assert snapshot(dsn_module, kept) == before
    assert snapshot(dsn_module, [erased_id]) == ([], [])  # the erasure stands
    assert query(dsn_module, "SELECT count(*) FROM alert_versions")[0][0] == everything - 2

    # Lost again, after the backup: rebuilt from the alert topics by a replay.
    lose(dsn_module, kept)
    store_log = folder / "store-replay.log"
    with background(safeguard("alert-store"), env, store_log):
        wait_for(lambda: ready(ops["ports"]["alert_store"])[0] == 200, 60, "the store", store_log)
        refused = run_safeguard(env, "replay", "alert-store")
        assert refused.returncode == 1
        assert " ".join(refused.stderr.split()).startswith(
            f"error: {prefix}-alert-store has 1 running member(s): stop the alert-store "
            "(`safeguard alert-store`) first"
        )
    dry = run_safeguard(env, "replay", "alert-store", "--dry-run")
    said = " ".join(dry.stdout.split())
    assert dry.returncode == 0, dry.stderr
    assert (
        f"{prefix}-alert-store: 10 records would be processed again, 0 more not yet processed"
        in said
    )
    assert said.endswith("dry run: nothing moved (10 records in all)")
    assert snapshot(dsn_module, kept) == ([], [])
    moved = run_safeguard(env, "replay", "alert-store")
    assert moved.returncode == 0, moved.stderr
    assert f"{prefix}-alert-store: moved back; start the alert-store" in " ".join(
        moved.stderr.split()
    )
    waiting = " ".join(run_safeguard(env, "replay", "alert-store", "--dry-run").stdout.split())
    assert (
        f"{prefix}-alert-store: 0 records would be processed again, 10 more not yet processed"
        in waiting
    )
    with background(safeguard("alert-store"), env, store_log):
        wait_for(
            lambda: len(snapshot(dsn_module, kept)[1]) == 8, 60, "the rebuilt alerts", store_log
        )
        wait_for(
            lambda: (
                (r := run_safeguard(env, "replay", "alert-store", "--dry-run"))
                and f"{prefix}-alert-store: 10 records would be processed again, 0 more not yet"
                in " ".join(r.stdout.split())
            ),
            60,
            "the replayed records processed",
        )
    assert snapshot(dsn_module, kept) == before
    assert snapshot(dsn_module, [erased_id]) == ([], [])  # a replay does not bring it back
    assert query(dsn_module, "SELECT count(*) FROM alert_versions")[0][0] == everything - 2


def run_safeguard(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        safeguard(*args),
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_readiness_fails_while_the_broker_is_away_and_recovers(
    fresh_broker: Settings, ops: dict[str, Any], dsn_module: str
) -> None:
    env, ports, folder = ops["env"], ops["ports"], ops["folder"]
    env = {**env, "SAFEGUARD_WORKER_STALL_SECONDS": "15"}
    log = folder / "worker-outage.log"
    broker = KafkaBroker(fresh_broker)
    with Supervised(safeguard("worker"), env, log) as worker:
        wait_for(lambda: worker.alive() and ready(ports["worker"])[0] == 200, 120, "ready", log)
        broker.stop()
        _, body = wait_for(
            lambda: (r := ready(ports["worker"]))[0] == 503 and r, 60, "not ready", log
        )
        assert body["checks"]["broker"].startswith(
            f"the broker at {fresh_broker.kafka_servers} does not answer"
        )
        assert body["ready"] is False
        start_broker(broker)
        wait_for(
            lambda: worker.alive() and ready(ports["worker"])[0] == 200, 180, "ready again", log
        )
