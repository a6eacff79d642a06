"""The stream worker against the real broker: exact alerts, idempotence, dead letters, SIGKILL."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

from safeguard.kernel.settings import Settings

from .helpers import Supervised, TopicReader, background, publish, safeguard, wait_for
from .records import (
    ALERTS,
    DEAD_LETTERS,
    T0,
    alerts_by_child,
    child,
    observation,
    story,
)


def test_three_agencies_raise_one_explained_alert_and_a_replay_adds_no_version(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    with background(safeguard("worker"), worker_env, log):
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], story(1))
        wait_for(lambda: len(alerts.poll()) >= 2, 90, "two alert versions", log)
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], story(1))  # again
        wait_for(lambda: len(alerts.poll()) >= 4, 60, "the replay to be handled", log)

    (versions,) = alerts_by_child(alerts).values()
    first, second, *resent = versions
    assert first["alert_id"] == second["alert_id"]
    assert [(a["version"], a["level"], a["rule_id"]) for a in (first, second)] == [
        (1, "high", "concern.possible_trafficking"),
        (2, "high", "concern.possible_trafficking"),
    ]
    assert [e["event_id"] for e in second["evidence"]] == ["c1-school", "c1-health", "c1-police"]
    assert second["actions"] == [
        "report_child_at_risk",
        "share_with_agencies",
        "nrm_referral",
        "icta_referral",
        "home_office_duty_to_notify",
    ]
    assert second["raised_at"] == T0 + dt.timedelta(days=20)
    # The replay resends the current version, byte for byte, and never makes a version 3.
    assert resent and all(ALERTS.encode(a) == ALERTS.encode(second) for a in resent)
    alerts.close()


def test_bad_records_go_to_the_dead_letter_topic_whole_and_the_worker_carries_on(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    dead = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_DEADLETTER"])
    unknown = observation(2, "c2-x", "say_behave.no_peer_friends", "school:s", 0)[1].replace(
        b"say_behave.no_peer_friends", b"say_behave.no_peer_friendz"
    )
    bad = [(child(2).encode(), b"\x00garbage"), (child(2).encode(), unknown)]
    with background(safeguard("worker"), worker_env, log):
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], bad + story(2)[:2])
        wait_for(
            lambda: len(dead.poll()) >= 2 and alerts.poll(), 90, "dead letters and an alert", log
        )

    letters = sorted(
        (DEAD_LETTERS.decode(r.value) for r in dead.records), key=lambda d: d["offset"]
    )
    assert [(d["payload"], d["error_kind"]) for d in letters] == [
        (b"\x00garbage", "NotSingleObjectError"),
        (unknown, "UnknownIndicatorError"),
    ]
    assert letters[1]["error_message"] == (
        "indicator: 'say_behave.no_peer_friendz' is not a code in the indicator catalogue"
    )
    assert {d["source_topic"] for d in letters} == {worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"]}
    (versions,) = alerts_by_child(alerts).values()
    assert [(a["version"], a["level"]) for a in versions] == [(1, "high")]
    alerts.close()
    dead.close()


def test_sigkill_mid_stream_loses_no_alert_and_duplicates_no_version(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    children = range(100, 400)
    records = [r for n in children for r in story(n)]
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    with background(safeguard("worker"), worker_env, log) as first:
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], records[:300])
        wait_for(lambda: len(alerts.poll()) >= 50, 90, "the first alerts", log)
        publish(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"], records[300:])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    # A worker that stops itself for a fault (exit 70) is started again, as compose does.
    env = {**worker_env, "SAFEGUARD_WORKER_STALL_SECONDS": "15"}
    with Supervised(safeguard("worker"), env, tmp_path / "worker2.log") as second:

        def complete() -> bool:
            final = alerts_by_child(alerts)
            return second.alive() and (
                len(final) == len(children)
                and all(max(a["version"] for a in versions) == 2 for versions in final.values())
            )

        wait_for(
            complete,
            150,
            "every child's second version after the restart",
            tmp_path / "worker2.log",
        )

    copies: dict[tuple[str, int], set[bytes]] = {}
    for record in alerts.records:
        alert = ALERTS.decode(record.value)
        copies.setdefault((alert["alert_id"], alert["version"]), set()).add(record.value)
    assert len(copies) == 2 * len(children)
    assert all(len(variants) == 1 for variants in copies.values()), (
        "a version was sent with two contents"
    )
    alerts.close()
