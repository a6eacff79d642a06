"""A generated scenario through the whole pipeline: files in, the right alerts out, and no others."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

from producers.pseudonym import Pseudonymiser
from producers.scenario import generate, write
from safeguard.kernel.settings import Settings

from .helpers import TopicReader, background, consumed_all, safeguard, wait_for
from .records import ALERTS

KEY = b"partnership-key-for-scenario-tests-012345"


def latest(reader: TopicReader) -> dict[str, dict[str, Any]]:
    """The newest version of each child's alert on a topic."""
    found: dict[str, dict[str, Any]] = {}
    for record in reader.poll():
        alert = ALERTS.decode(record.value)
        if alert["version"] >= found.get(alert["child_ref"], {}).get("version", 0):
            found[alert["child_ref"]] = alert
    return found


def test_a_generated_scenario_raises_the_expected_alerts_and_no_others(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    # The timeline ends today, as a new user's would: events are never dated after now.
    today = dt.datetime.now(dt.UTC).date()
    scenario = generate(80, seed=5, start=today - dt.timedelta(days=300), until=today)
    paths = write(scenario, tmp_path / "scenario")
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)  # a key file others can read is refused
    env = {**worker_env, "SAFEGUARD_PSEUDONYM_KEY_FILE": str(key)}
    for kind in ("schools", "registrations", "observations", "links"):
        subprocess.run(
            safeguard("import", kind, str(paths[kind])),
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
    ref = Pseudonymiser(KEY).child_ref

    def child_of(profile: dict[str, str]) -> str:
        """A child known apart is one child once linked: under the smaller of its references."""
        refs = [ref("nhs", profile["identifier"])]
        if profile["upn"]:
            refs.append(ref("upn", profile["upn"]))
        return min(refs)

    story: dict[str, str] = {child_of(p): p["story"] for p in scenario.profiles}
    children = {s: {c for c, t in story.items() if t == s} for s in set(story.values())}

    concern = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    education = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_EDUCATION"])
    log = tmp_path / "worker.log"
    group = worker_env["SAFEGUARD_APP_ID"]

    def settled() -> bool:
        alerts = latest(concern)
        return children["trafficked"] <= {
            c for c, a in alerts.items() if a["level"] in ("high", "critical")
        } and all(
            consumed_all(kafka, group, worker_env[f"SAFEGUARD_TOPIC_{name}"])
            for name in (
                "OBSERVATIONS",
                "SCHOOL_REGISTRATIONS",
                "IDENTITY_LINKS",
                "EDUCATION_SIGNALS",
                "CONCERN_SIGNALS",
            )
        )

    with background(safeguard("worker"), env, log):
        wait_for(settled, 120, "every trafficked child's alert", log)

    alerts, school = latest(concern), latest(education)
    assert children["combined"] <= set(alerts)
    assert children["known_apart"] and children["known_apart"] <= {
        c for c, a in alerts.items() if a["status"] == "open" and len(a["linked_refs"]) == 2
    }
    assert not (children["single"] | children["unaccompanied_only"]) & set(alerts)
    assert not children["traveller_family"] & set(alerts)
    assert {c for c in children["traveller_family"] if school[c]["family_move"]} == children[
        "traveller_family"
    ]
    assert all(school[c]["rule_id"] == "education.repeated_registration" for c in children["churn"])
    concern.close()
    education.close()
