"""Agency CSV imports through the real broker: good, bad and mixed files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from producers.pseudonym import Pseudonymiser
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

from .helpers import TopicReader, safeguard, wait_for

KEY = b"partnership-key-for-tests-only-0123456789"

MIXED = """identifier_namespace,identifier,indicator,agency_type,agency_id,observed_at,local_authority,immediate_risk
nhs,943 476 5919,health.controlling_companion,health,hb-cardiff,2026-11-03T21:40:00+00:00,W06000015,no
nhs,9434765918,health.controlling_companion,health,hb-cardiff,2026-11-03T21:40:00+00:00,W06000015,no
police,CR/123/26,control.seen_in_inappropriate_places,police,south-wales,2026-11-04T23:10:00+00:00,W06000015,yes
nhs,943 476 5919,health.made_up,health,hb-cardiff,2026-11-05T10:00:00+00:00,W06000015,no
nhs,943 476 5919,say_behave.mood_swings,school,6812345,2026-11-05 10:00,W06000015,no
"""
REGISTRATIONS = """identifier_namespace,identifier,school_id,local_authority,kind,effective_date,destination_school_id,family_identifier,family_travelling
upn,E660123412001,6614002,W06000001,registered,2026-09-07,,,no
upn,E660123412001,6614002,W06000001,deregistered,2026-10-02,,household-17,yes
"""


def run_import(
    env: dict[str, str], tmp_path: Path, kind: str, text: str
) -> subprocess.CompletedProcess[str]:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)  # a key file others can read is refused
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    return subprocess.run(
        safeguard("import", kind, str(path)),
        env={**os.environ, **env, "SAFEGUARD_PSEUDONYM_KEY_FILE": str(key)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_mixed_file_publishes_the_good_rows_and_reports_the_bad(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_import(worker_env, tmp_path, "observations", MIXED)
    assert result.returncode == 1
    assert "published 2, rejected 3 (2 InvalidRecordError, 1 UnknownIndicatorError)" in " ".join(
        result.stdout.split()
    )
    assert (tmp_path / "observations.csv.rejects.csv").read_text().splitlines() == [
        "line,reason",
        "3,identifier: the NHS number's check digit is wrong",
        "5,indicator: 'health.made_up' is not a code in the indicator catalogue",
        "6,observed_at: '2026-11-05 10:00' has no time zone (add +00:00)",
    ]
    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    records = wait_for(lambda: len(topic.poll()) >= 2 and topic.records, 30, "two observations")
    pseudonyms = Pseudonymiser(KEY)
    decoded = sorted(
        (EventCodec("observation").decode(r.value) for r in records), key=lambda o: o["indicator"]
    )
    assert [(o["indicator"], o["child_ref"], o["immediate_risk"]) for o in decoded] == [
        ("control.seen_in_inappropriate_places", pseudonyms.child_ref("police", "CR/123/26"), True),
        ("health.controlling_companion", pseudonyms.child_ref("nhs", "9434765919"), False),
    ]
    for record in records:  # keyed by the pseudonym, so one child's events share a partition
        assert record.key == EventCodec("observation").decode(record.value)["child_ref"].encode()
    for raw in (b"9434765919", b"943 476 5919", b"CR/123/26"):
        assert not any(raw in r.value or raw in r.key for r in records)

    again = run_import(worker_env, tmp_path, "observations", MIXED)
    assert again.returncode == 1
    wait_for(lambda: len(topic.poll()) >= 4, 30, "the re-import")
    ids = [EventCodec("observation").decode(r.value)["event_id"] for r in topic.records]
    assert sorted(ids[:2]) == sorted(ids[2:])  # the same rows keep the same event ids
    topic.close()


def test_a_school_export_is_pseudonymised_with_its_household(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_import(worker_env, tmp_path, "registrations", REGISTRATIONS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "published 2, rejected 0" in result.stdout
    assert not (tmp_path / "registrations.csv.rejects.csv").exists()
    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"])
    wait_for(lambda: len(topic.poll()) >= 2, 30, "two registrations")
    pseudonyms = Pseudonymiser(KEY)
    decoded = [EventCodec("school_registration").decode(r.value) for r in topic.records]
    assert [(r["kind"], r["family_group_ref"], r["family_travelling"]) for r in decoded] == [
        ("registered", None, False),
        ("deregistered", pseudonyms.family_ref("household-17"), True),
    ]
    assert {r["child_ref"] for r in decoded} == {pseudonyms.child_ref("upn", "E660123412001")}
    topic.close()


BUNDLE = """{"resourceType": "Bundle", "type": "collection", "entry": [
 {"resource": {"resourceType": "Observation", "id": "obs-1", "status": "final",
   "code": {"coding": [{"system": "https://safeguard-stream.wales/fhir/CodeSystem/indicator", "code": "health.controlling_companion"}]},
   "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
   "effectiveDateTime": "2026-11-03T21:40:00Z"}},
 {"resource": {"resourceType": "Observation", "id": "obs-2", "status": "final",
   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "225336006"}]},
   "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
   "effectiveDateTime": "2026-11-03T21:40:00Z"}},
 {"resource": {"resourceType": "Patient", "id": "p1"}}
]}"""


def test_a_fhir_bundle_publishes_the_coded_observations(
    kafka: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)  # a key file others can read is refused
    path = tmp_path / "bundle.json"
    path.write_text(BUNDLE)
    result = subprocess.run(
        safeguard(
            "import",
            "fhir",
            str(path),
            "--agency-id",
            "hb-cardiff",
            "--local-authority",
            "W06000015",
        ),
        env={**os.environ, **worker_env, "SAFEGUARD_PSEUDONYM_KEY_FILE": str(key)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert (tmp_path / "bundle.json.rejects.csv").read_text().splitlines()[1:] == [
        "2,code: no coding in https://safeguard-stream.wales/fhir/CodeSystem/indicator",
        "3,resourceType: 'Patient' is not Observation",
    ]
    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    wait_for(topic.poll, 30, "the observation")
    (record,) = topic.records
    observation = EventCodec("observation").decode(record.value)
    assert (observation["indicator"], observation["source_ref"], observation["agency"]) == (
        "health.controlling_companion",
        "obs-1",
        {"id": "hb-cardiff", "type": "health"},
    )
    assert observation["child_ref"] == Pseudonymiser(KEY).child_ref("nhs", "9434765919")
    topic.close()


def test_a_file_without_a_required_column_is_refused_whole(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_import(
        worker_env, tmp_path, "observations", "identifier_namespace,identifier\nnhs,9434765919\n"
    )
    assert result.returncode == 1
    assert (
        "observations.csv: missing columns: indicator, agency_type, agency_id, observed_at, local_authority"
        in " ".join(result.stderr.split())
    )
