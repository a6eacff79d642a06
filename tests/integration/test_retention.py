"""Retention through the real broker, alert store and database: what is past its time goes,
what is not stays, and a purged alert read again from its topic is not stored again."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from safeguard.kernel.settings import Settings

from .helpers import REPO, background, consumed_all, db, publish, safeguard, wait_for
from .test_alert_store import ALERTS, T0, alert, query


def purge(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        safeguard("purge", *args),
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def test_the_purge_removes_what_is_past_its_retention_and_a_replay_does_not_restore_it(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    ended, still_open = (f"combined_concern-{uuid.uuid4().hex[:24]}" for _ in range(2))
    key = b"c" * 64
    over = {"status": "ended", "status_reason": "the evidence left the look-back"}
    records = [
        (key, ALERTS.encode(alert(ended, 1))),
        (key, ALERTS.encode(alert(ended, 2, **over))),
        (key, ALERTS.encode(alert(still_open, 1))),
    ]
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    group = f"{worker_env['SAFEGUARD_APP_ID']}-alert-store"
    log = tmp_path / "store.log"
    tag = uuid.uuid4().hex[:8]
    with background(safeguard("alert-store"), worker_env, log):
        publish(kafka, topic, records)
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the store to commit", log)
        # Both last changed three years ago; the audit has a row of seven years ago and one of now.
        db(
            dsn,
            lambda c: c.execute(
                "UPDATE alerts SET updated_at = now() - interval '3 years'"
                " WHERE alert_id = ANY($1)",
                [ended, still_open],
            ),
        )
        for age in ("7 years", "1 minute"):
            db(
                dsn,
                lambda c, age=age: c.execute(
                    "INSERT INTO audit (at, username, action, detail)"
                    " VALUES (now() - $2::text::interval, $1, 'view', $2)",
                    f"retention-{tag}",
                    age,
                ),
            )

        def held() -> dict[str, int]:
            rows = query(
                dsn,
                "SELECT alert_id, count(*) AS n FROM alert_versions"
                " WHERE alert_id = ANY($1) GROUP BY alert_id",
                [ended, still_open],
            )
            return {r["alert_id"]: r["n"] for r in rows}

        said = purge(worker_env, "--dry-run")
        assert " would remove: " in said
        assert held() == {ended: 2, still_open: 1}  # a dry run removes nothing
        said = purge(worker_env)
        assert " removed: " in said and "alert versions" in said and "audit rows" in said
        # The ended alert is gone with its versions; the open one stays however old.
        assert held() == {still_open: 1}
        assert query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", ended) == []
        (forgotten,) = query(
            dsn, "SELECT through_version, why FROM forgotten_alerts WHERE alert_id = $1", ended
        )
        assert (forgotten["through_version"], forgotten["why"]) == (2, "retention")
        audit = query(dsn, "SELECT detail FROM audit WHERE username = $1", f"retention-{tag}")
        assert [r["detail"] for r in audit] == ["1 minute"]
        # Read again from the topic (a replay): not stored again.
        publish(kafka, topic, records[:2])
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the store to read the replay", log)
        assert held() == {still_open: 1}


def test_a_restore_removes_again_what_was_erased_since_its_backup_and_keeps_what_came_after(
    kafka: Settings, worker_env: dict[str, str], dsn: str, tmp_path: Path
) -> None:
    """``keep_forgotten``, as ``safeguard db restore`` runs it: an alert of an erased reference
    raised before the erasure goes again; one raised since (new information) stays."""
    import asyncio
    import datetime as dt
    import time

    import asyncpg

    from consumers.retention import Forgetting, keep_forgotten
    from schemas.validation import reference_digest

    ref = uuid.uuid4().hex * 2
    before, after = (f"combined_concern-{uuid.uuid4().hex[:24]}" for _ in range(2))
    # The later alert's evidence is older than the erasure (event time): what counts is when
    # it was stored.
    later = {"raised_at": T0, "child_ref": ref}
    topic = worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"]
    group = f"{worker_env['SAFEGUARD_APP_ID']}-alert-store"
    log = tmp_path / "store.log"
    ids = [before, after]
    with background(safeguard("alert-store"), worker_env, log):
        publish(kafka, topic, [(ref.encode(), ALERTS.encode(alert(before, 1, child_ref=ref)))])
        wait_for(
            lambda: query(dsn, "SELECT 1 FROM alerts WHERE alert_id = $1", before),
            60,
            "the first alert",
            log,
        )
        erased_at = dt.datetime.now(dt.UTC)
        time.sleep(0.5)
        publish(kafka, topic, [(ref.encode(), ALERTS.encode(alert(after, 1, **later)))])
        wait_for(lambda: consumed_all(kafka, group, topic), 60, "the store to commit", log)
    assert len(query(dsn, "SELECT 1 FROM alerts WHERE alert_id = ANY($1)", ids)) == 2

    async def restore_keeps_forgetting() -> tuple[int, int]:
        conn = await asyncpg.connect(dsn)
        try:
            report = await keep_forgotten(
                conn, Forgetting([], [(reference_digest(ref), "e-restore", erased_at)])
            )
        finally:
            await conn.close()
        return report.references, report.versions

    references, versions = asyncio.run(restore_keeps_forgetting())
    assert references == 1 and versions >= 1
    assert [
        r["alert_id"]
        for r in query(dsn, "SELECT alert_id FROM alerts WHERE alert_id = ANY($1)", ids)
    ] == [after]
    assert query(
        dsn, "SELECT through_version, why FROM forgotten_alerts WHERE alert_id = $1", before
    ) == [(1, "erasure")]
    assert query(dsn, "SELECT 1 FROM forgotten_alerts WHERE alert_id = $1", after) == []
