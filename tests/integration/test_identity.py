"""One child under two references, through the real broker: a link joins them across partitions,
a withdrawal splits them, and a worker killed while links are applied loses nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import murmur2

from producers.pseudonym import Pseudonymiser
from producers.publisher import encode_link
from safeguard.kernel.settings import Settings

from .helpers import Supervised, TopicReader, background, consumed_all, publish, safeguard, wait_for
from .records import T0, alerts_by_child, child, observation

PARTITIONS = 4  # as worker_env sets


def partition(ref: str) -> int:
    return (murmur2(ref.encode()) & 0x7FFFFFFF) % PARTITIONS


def pair_on_two_partitions(start: int) -> tuple[int, int]:
    """Two children numbers (two references) whose references live on different partitions,
    the first's reference the smaller (the canonical one once linked)."""
    n = start
    while True:
        a, b = n, n + 1
        if partition(child(a)) != partition(child(b)):
            return (a, b) if child(a) < child(b) else (b, a)
        n += 2


def link(event_id: str, a: str, b: str, *, withdrawn: bool = False) -> tuple[bytes, bytes]:
    record = {
        "event_id": event_id,
        "ref_a": a,
        "ref_b": b,
        "basis": "shared_record",
        "agency": {"id": "cardiff-childrens-services", "type": "social_care"},
        "stated_at": T0 + dt.timedelta(days=21),
        "withdrawn": withdrawn,
        "source_ref": "SC-100",
    }
    return a.encode(), encode_link(record)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Closes what a test opened, whether it passes or fails (a reader left open would leak its
    socket into another test)."""
    with ExitStack() as closing:
        yield closing


def latest(reader: TopicReader) -> dict[str, dict[str, Any]]:
    """Each child's newest alert version."""
    return {ref: versions[-1] for ref, versions in alerts_by_child(reader).items()}


def test_a_link_across_partitions_merges_and_its_withdrawal_splits(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path, stack: ExitStack
) -> None:
    canonical_n, other_n = pair_on_two_partitions(700)
    canonical, other = child(canonical_n), child(other_n)
    assert partition(canonical) != partition(other)
    log = tmp_path / "worker.log"
    observations = worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    links = worker_env["SAFEGUARD_TOPIC_IDENTITY_LINKS"]
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    stack.callback(alerts.close)
    school = observation(canonical_n, "m-school", "say_behave.mood_swings", "school:6812345", 0)
    health = observation(other_n, "m-health", "health.controlling_companion", "health:hb1", 9)
    police = observation(other_n, "m-police", "control.long_working_hours", "police:sw", 20)
    with background(safeguard("worker"), worker_env, log):
        # The other reference alone: health and police make its own alert.
        publish(kafka, observations, [school, health, police])
        wait_for(lambda: other in latest(alerts), 90, "the other reference's own alert", log)
        assert canonical not in latest(alerts)
        own = latest(alerts)[other]

        publish(kafka, links, [link("l-1", other, canonical)])
        wait_for(
            lambda: latest(alerts).get(canonical, {}).get("evidence", [None]).__len__() == 3,
            60,
            "the merged alert with all three pieces of evidence",
            log,
        )
        ended = latest(alerts)[other]
        assert (ended["alert_id"], ended["status"], ended["merged_into"]) == (
            own["alert_id"],
            "withdrawn",
            canonical,
        )
        merged = latest(alerts)[canonical]
        assert merged["status"] == "open"
        assert [e["event_id"] for e in merged["evidence"]] == ["m-school", "m-health", "m-police"]
        assert merged["linked_refs"] == sorted([canonical, other])

        publish(kafka, links, [link("l-2", other, canonical, withdrawn=True)])
        wait_for(
            lambda: (
                latest(alerts)[canonical]["status"] == "withdrawn"
                and latest(alerts)[other]["status"] == "open"
            ),
            60,
            "the split: the canonical alert withdrawn, the other reference's alert again",
            log,
        )
    split = latest(alerts)[canonical]
    assert split["alert_id"] == merged["alert_id"]
    assert "link between two references of this child was withdrawn" in split["status_reason"]
    again = latest(alerts)[other]
    assert again["alert_id"] != own["alert_id"]  # a new episode
    assert [e["event_id"] for e in again["evidence"]] == ["m-health", "m-police"]
    assert again["linked_refs"] == []


def test_a_worker_killed_while_links_are_applied_loses_nothing(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path, stack: ExitStack
) -> None:
    pairs = [pair_on_two_partitions(800 + 10 * i) for i in range(30)]
    observations = worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"]
    links = worker_env["SAFEGUARD_TOPIC_IDENTITY_LINKS"]
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    stack.callback(alerts.close)
    records = []
    for a, b in pairs:
        records.append(observation(a, f"k{a}-school", "say_behave.mood_swings", "school:s1", 0))
        records.append(
            observation(b, f"k{b}-health", "health.controlling_companion", "health:hb1", 9)
        )
    env = {**worker_env, "SAFEGUARD_WORKER_STALL_SECONDS": "15"}
    log = tmp_path / "worker.log"
    with background(safeguard("worker"), env, log) as first:
        publish(kafka, observations, records)
        wait_for(
            lambda: consumed_all(kafka, env["SAFEGUARD_APP_ID"], observations),
            90,
            "the observations",
            log,
        )
        assert latest(alerts) == {}  # no reference alone has two agencies
        publish(kafka, links, [link(f"k-{a}", child(b), child(a)) for a, b in pairs])
        wait_for(lambda: latest(alerts), 60, "the first merged alerts", log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    with Supervised(safeguard("worker"), env, tmp_path / "worker2.log") as second:

        def complete() -> bool:
            found = latest(alerts)
            return second.alive() and all(
                len(found.get(child(a), {}).get("evidence", ())) == 2 for a, _ in pairs
            )

        wait_for(complete, 150, "every linked child's alert after the restart", log)
    found = latest(alerts)
    assert set(found) == {child(a) for a, _ in pairs}  # never under the other reference
    for a, b in pairs:
        alert = found[child(a)]
        assert (alert["status"], alert["level"]) == ("open", "medium")
        assert [e["event_id"] for e in alert["evidence"]] == [f"k{a}-school", f"k{b}-health"]
        assert alert["linked_refs"] == sorted([child(a), child(b)])


def test_a_rotated_partnership_key_keeps_one_child_one_child(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path, stack: ExitStack
) -> None:
    """A school's observation published under the old key, a health board's under a ring whose
    current key is new: the rotation link joins the two references into one combined concern."""
    old, new = "o" * 40, "n" * 40
    ring = json.dumps({"current": "2027", "keys": {"2026": old, "2027": new}})
    nhs_number = "9434765919"
    seen = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    log = tmp_path / "worker.log"
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    stack.callback(alerts.close)

    def publish_observation(key: str, indicator: str, agency: str, hour: int) -> None:
        agency_type, agency_id = agency.split(":")
        done = subprocess.run(
            safeguard(
                "publish", "observation", "--identifier-namespace", "nhs",
                "--identifier", nhs_number, "--indicator", indicator,
                "--agency-type", agency_type, "--agency-id", agency_id,
                "--observed-at", (seen + dt.timedelta(hours=hour)).isoformat(),
                "--local-authority", "W06000015",
            ),
            env={**os.environ, **worker_env, "SAFEGUARD_PSEUDONYM_KEY": key},
            capture_output=True,
            text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    with background(safeguard("worker"), worker_env, log):
        publish_observation(old, "say_behave.mood_swings", "school:6812345", 0)
        publish_observation(ring, "health.controlling_companion", "health:hb-cv", 1)
        wait_for(lambda: latest(alerts), 120, "the child's alert", log)
    refs = sorted(
        [Pseudonymiser(old.encode()).child_ref("nhs", nhs_number),
         Pseudonymiser(new.encode()).child_ref("nhs", nhs_number)]
    )  # fmt: skip
    (alert,) = latest(alerts).values()
    assert (alert["child_ref"], alert["level"], alert["linked_refs"]) == (refs[0], "medium", refs)
    assert [e["agency_type"] for e in alert["evidence"]] == ["school", "health"]
    assert nhs_number not in log.read_text(errors="replace")
