"""A rule change tried on the retained history: two shadow runs and their difference."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient

from safeguard.kernel.settings import Settings

from .helpers import TopicReader, publish, safeguard
from .records import ALERTS, child
from .test_education import MON, registration

WIDER = "SAFEGUARD_REPEATED_REGISTRATIONS_MIN_LOCAL_AUTHORITIES=2"


@pytest.fixture
def runs(worker_env: dict[str, str], admin: KafkaAdminClient) -> Iterator[tuple[str, str]]:
    names = (f"base-{uuid.uuid4().hex[:6]}", f"wide-{uuid.uuid4().hex[:6]}")
    yield names
    for name in names:
        subprocess.run(
            safeguard("rules", "forget", name),
            env={**os.environ, **worker_env},
            check=True,
            capture_output=True,
        )
    app_id = worker_env["SAFEGUARD_APP_ID"]
    left = [
        t
        for t in admin.list_topics()
        if any(t.startswith((f"shadow.{n}.", f"{app_id}-shadow-{n}")) for n in names)
    ]
    assert left == []


def test_a_shadow_diff_shows_exactly_the_alerts_a_changed_threshold_adds(
    kafka: Settings, worker_env: dict[str, str], runs: tuple[str, str]
) -> None:
    env = {**os.environ, **worker_env, "SAFEGUARD_CLOCK": "2026-11-02T12:00:00+00:00"}
    n = 900 + uuid.uuid4().int % 1000
    publish(
        kafka,
        worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"],
        [
            # One move between two authorities: no pattern by default.
            registration(n, "a", "registered", MON, "6614002"),
            registration(
                n,
                "b",
                "registered",
                MON + dt.timedelta(days=30),
                "6600001",
                local_authority="W06000011",
            ),
            # Twelve days' absence: low in both runs.
            registration(
                n + 1,
                "c",
                "continuous_absence",
                MON + dt.timedelta(days=20),
                "6614002",
                absence_school_days=12,
            ),
        ],
    )
    base, wide = runs
    for name, extra in ((base, []), (wide, ["--set", WIDER])):
        result = subprocess.run(
            safeguard("rules", "shadow", name, *extra, "--timeout", "240"),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "copied 3 records of" in result.stderr
    assert f"shadow run {wide}: 2 open alerts" in result.stdout

    diff = subprocess.run(
        safeguard("rules", "diff", base, wide, "--json"),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert diff.returncode == 0, diff.stderr
    report = json.loads(diff.stdout)
    assert report["rules"] == {"education.repeated_registration": {"added": 1}}
    (added,) = report["alerts"]
    assert (added["kind"], added["rule_id"], added["before"], added["after"]) == (
        "missing_from_education",
        "education.repeated_registration",
        None,
        "low",
    )
    assert added["alert_id"].startswith("missing_from_education-")
    # Nothing reached the live topics: no live worker ran, and no live alert exists.
    live = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    assert live.poll() == []
    live.close()
    shadowed = TopicReader(kafka, f"shadow.{wide}.{worker_env['SAFEGUARD_TOPIC_ALERTS_EDUCATION']}")
    mine = {
        (a["child_ref"], a["rule_id"])
        for a in map(ALERTS.decode, (r.value for r in shadowed.poll()))
    }
    shadowed.close()
    # The alert added is the one-move child's; the absent child's is in both runs.
    assert (child(n), "education.repeated_registration") in mine
    assert (child(n + 1), "education.continuous_absence") in mine


def test_a_diff_of_a_run_never_made_names_it(worker_env: dict[str, str]) -> None:
    result = subprocess.run(
        safeguard("rules", "diff", "nosuch-a", "nosuch-b"),
        env={**os.environ, **worker_env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    said = " ".join(result.stderr.split())
    topic = f"shadow.nosuch-a.{worker_env['SAFEGUARD_TOPIC_ALERTS_CONCERN']}"
    assert f"error: no topic {topic}: has that shadow run been made?" in said
    assert "WARNING" not in said
