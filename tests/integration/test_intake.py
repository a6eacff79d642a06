"""The HTTP intake through the real broker and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from producers.pseudonym import Pseudonymiser
from safeguard.kernel.settings import Settings
from schemas.codec import EventCodec

from .helpers import TopicReader, background, safeguard, wait_for

KEY = b"partnership-key-for-intake-tests-0123456789"
OBSERVATION = {
    "identifier_namespace": "nhs",
    "identifier": "943 476 5919",
    "indicator": "health.controlling_companion",
    "observed_at": "2026-11-03T21:40:00Z",
    "local_authority": "W06000015",
}


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        safeguard(*args), env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


@pytest.fixture
def intake(
    worker_env: dict[str, str], tmp_path: Path, dsn: str, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)  # a key file others can read is refused
    env = {**worker_env, "SAFEGUARD_PSEUDONYM_KEY_FILE": str(key), **getattr(request, "param", {})}
    suffix = worker_env["SAFEGUARD_APP_ID"][-10:]
    health, police, school = f"hb-{suffix}", f"police-{suffix}", f"66{suffix}"
    serves = ("--serves", "W06000015,W06000011,W06000001")  # the areas the tests' events name
    cli(env, "agency", "add", health, "--type", "health", "--name", "Health board", *serves)
    cli(
        env,
        "agency",
        "add",
        police,
        "--type",
        "police",
        "--name",
        "Police force",
        "--serves",
        "all",
    )
    cli(env, "agency", "add", school, "--type", "school", "--name", "Ysgol", *serves)
    tokens = {
        health: cli(env, "agency", "token", health),
        police: cli(env, "agency", "token", police),
        school: cli(env, "agency", "token", school),
    }
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "intake.log"
    with background(safeguard("intake", "--port", str(port)), env, log) as proc:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

        def up() -> bool:
            try:
                return client.get("/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "the intake", log)
        yield {
            "client": client,
            "env": env,
            "tokens": tokens,
            "health": health,
            "police": police,
            "school": school,
            "port": port,
            "pid": proc.pid,
        }
        client.close()


def post(intake: dict[str, Any], path: str, body: Any, agency: str | None = None) -> httpx.Response:
    token = intake["tokens"][agency or intake["health"]]
    return intake["client"].post(path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_an_observation_is_accepted_once_and_published_pseudonymised(
    kafka: Settings, intake: dict[str, Any], worker_env: dict[str, str]
) -> None:
    # The database outlives a test run: a fresh event id keeps this run's first post first.
    body = {**OBSERVATION, "event_id": f"obs-{uuid.uuid4()}"}
    first = post(intake, "/v1/observations", body)
    again = post(intake, "/v1/observations", body)
    assert first.status_code == again.status_code == 202
    (event_id,) = first.json()["event_ids"]
    assert again.json() == {"event_ids": [event_id], "duplicates": [event_id]}

    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    wait_for(topic.poll, 30, "the observation")
    (record,) = topic.records
    observation = EventCodec("observation").decode(record.value)
    assert observation["event_id"] == event_id
    assert observation["child_ref"] == Pseudonymiser(KEY).child_ref("nhs", "9434765919")
    assert observation["agency"] == {"id": intake["health"], "type": "health"}
    assert b"9434765919" not in record.value and b"943 476 5919" not in record.value
    topic.close()


def test_an_event_id_another_agency_used_is_neither_suppressed_nor_revealed(
    kafka: Settings, intake: dict[str, Any], worker_env: dict[str, str]
) -> None:
    event_id = f"shared-{uuid.uuid4()}"
    health = post(intake, "/v1/observations", {**OBSERVATION, "event_id": event_id})
    urgent = {
        **OBSERVATION,
        "event_id": event_id,
        "indicator": "control.long_working_hours",
        "immediate_risk": True,
    }
    police = post(intake, "/v1/observations", urgent, intake["police"])
    assert (health.status_code, police.status_code) == (202, 202)
    assert police.json() == {"event_ids": [event_id], "duplicates": []}

    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    wait_for(lambda: len(topic.poll()) >= 2, 30, "both observations")
    published = [EventCodec("observation").decode(r.value) for r in topic.records]
    assert sorted((o["agency"]["type"], o["event_id"], o["immediate_risk"]) for o in published) == [
        ("health", event_id, False),
        ("police", event_id, True),
    ]
    topic.close()


def test_a_batch_with_bad_rows_is_refused_whole_naming_each_field(intake: dict[str, Any]) -> None:
    batch = [
        OBSERVATION,
        {**OBSERVATION, "identifier": "9434765918"},
        {**OBSERVATION, "indicator": "health.made_up"},
    ]
    response = post(intake, "/v1/observations", batch)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", 1, "identifier"],
            "msg": "identifier: the NHS number's check digit is wrong",
            "type": "value_error",
        },
        {
            "loc": ["body", 2, "indicator"],
            "msg": "indicator: 'health.made_up' is not a code in the indicator catalogue",
            "type": "value_error",
        },
    ]
    assert "9434765918" not in response.text


def test_schema_errors_name_the_field_without_echoing_the_input(intake: dict[str, Any]) -> None:
    response = post(intake, "/v1/observations", {**OBSERVATION, "observed_at": "2026-11-03"})
    assert response.status_code == 422
    assert {
        "type": "timezone_aware",
        "loc": ["body", "ObservationIn", "observed_at"],
        "msg": "Input should have timezone info",
    } in response.json()["detail"]
    assert "943 476 5919" not in response.text


def test_control_characters_are_refused_not_a_server_error(intake: dict[str, Any]) -> None:
    response = post(intake, "/v1/observations", {**OBSERVATION, "event_id": "a\u0000b"})
    assert response.status_code == 422
    # The body may be one event or a list: pydantic reports against both shapes.
    assert response.json()["detail"] == [
        {
            "type": "value_error",
            "loc": ["body", "ObservationIn", "event_id"],
            "msg": "Value error, must not contain control characters",
        },
        {
            "type": "list_type",
            "loc": ["body", "list[ObservationIn]"],
            "msg": "Input should be a valid list",
        },
    ]


def test_a_token_publishes_only_as_its_own_agency(intake: dict[str, Any]) -> None:
    response = post(intake, "/v1/observations", {**OBSERVATION, "agency_id": intake["police"]})
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"this token publishes as {intake['health']}, not {intake['police']}"
    }


def test_a_revoked_token_is_refused(intake: dict[str, Any]) -> None:
    token_id = intake["tokens"][intake["police"]].split(".")[0]
    cli(intake["env"], "agency", "revoke", token_id)
    response = post(intake, "/v1/observations", OBSERVATION, agency=intake["police"])
    assert (response.status_code, response.json()) == (401, {"detail": "unknown or revoked token"})
    missing = intake["client"].post("/v1/observations", json=OBSERVATION)
    assert (missing.status_code, missing.json()) == (401, {"detail": "a bearer token is required"})


def test_an_oversized_batch_is_refused(intake: dict[str, Any]) -> None:
    response = post(intake, "/v1/observations", [OBSERVATION] * 501)
    assert (response.status_code, response.json()) == (
        413,
        {"detail": "a batch holds at most 500 events"},
    )


def test_a_school_registration_batch_is_accepted(
    kafka: Settings, intake: dict[str, Any], worker_env: dict[str, str]
) -> None:
    body = [
        {
            "identifier": "E660123412001",
            "school_id": intake["school"],
            "local_authority": "W06000001",
            "kind": kind,
            "effective_date": day,
            "event_id": f"{kind}-{uuid.uuid4()}",
        }
        for kind, day in (("registered", "2026-09-07"), ("deregistered", "2026-10-02"))
    ]
    # Only a school publishes roll changes, and only its own.
    refused = post(intake, "/v1/school-registrations", body)  # a health board's token
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "only a school's token publishes school roll changes"},
    )
    elsewhere = post(
        intake, "/v1/school-registrations", [{**body[0], "school_id": "6614002"}], intake["school"]
    )
    assert (elsewhere.status_code, elsewhere.json()) == (
        403,
        {"detail": [{"loc": ["body", 0, "school_id"], "msg": "not this token's own school"}]},
    )
    response = post(intake, "/v1/school-registrations", body, intake["school"])
    assert response.status_code == 202, response.text
    assert len(set(response.json()["event_ids"])) == 2
    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_SCHOOL_REGISTRATIONS"])
    wait_for(lambda: len(topic.poll()) >= 2, 30, "two registrations")
    kinds = [EventCodec("school_registration").decode(r.value)["kind"] for r in topic.records]
    assert kinds == ["registered", "deregistered"]
    topic.close()


def test_the_openapi_document_is_served(intake: dict[str, Any]) -> None:
    document = intake["client"].get("/openapi.json").json()
    assert set(document["paths"]) >= {"/v1/observations", "/v1/school-registrations", "/health"}


def test_fuzzed_requests_never_cause_a_server_error(intake: dict[str, Any]) -> None:
    """Schemathesis generates requests from the served OpenAPI document (valid and not)."""
    url = str(intake["client"].base_url)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    headers = {"Authorization": f"Bearer {intake['tokens'][intake['health']]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/observations", "GET /health"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def no_server_error(case: Any) -> None:
            response = case.call(base_url=url, headers=headers)
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()


def test_only_the_sending_agency_can_retract_and_its_retraction_withdraws_the_alert(
    kafka: Settings, intake: dict[str, Any], worker_env: dict[str, str], tmp_path: Path
) -> None:
    mine, theirs = f"hb-{uuid.uuid4()}", f"police-{uuid.uuid4()}"
    police = {**OBSERVATION, "event_id": theirs, "indicator": "control.long_working_hours"}
    assert post(intake, "/v1/observations", {**OBSERVATION, "event_id": mine}).status_code == 202
    assert post(intake, "/v1/observations", police, intake["police"]).status_code == 202
    alerts = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_ALERTS_CONCERN"])
    log = tmp_path / "worker.log"
    with background(safeguard("worker", "-l", "info"), worker_env, log):
        wait_for(alerts.poll, 120, "the combined concern", log)
        retraction = {"retracts": mine, "of": "observation", "reason": "wrong_child"}
        refused = post(intake, "/v1/retractions", retraction, intake["police"])
        assert refused.status_code == 404
        assert refused.json() == {
            "detail": [
                {
                    "loc": ["body", 0, "retracts"],
                    "msg": "this agency sent no observation with that id here",
                }
            ]
        }
        accepted = post(intake, "/v1/retractions", retraction)
        assert accepted.status_code == 202
        wait_for(lambda: len(alerts.poll()) >= 2, 60, "the withdrawn version", log)
    first, withdrawn = [EventCodec("alert").decode(r.value) for r in alerts.records]
    assert (first["version"], first["rule_id"], first["status"]) == (1, "concern.combined", "open")
    assert (withdrawn["alert_id"], withdrawn["version"], withdrawn["status"]) == (
        first["alert_id"],
        2,
        "withdrawn",
    )
    assert withdrawn["status_reason"] == (
        f"Withdrawn: health {intake['health']} retracted its health.controlling_companion of "
        "2026-11-03 (wrong_child). Nothing left supports an alert."
    )
    alerts.close()


def test_a_future_dated_observation_is_refused_naming_the_field(intake: dict[str, Any]) -> None:
    body = {**OBSERVATION, "event_id": f"obs-{uuid.uuid4()}", "observed_at": "2062-11-03T21:40:00Z"}
    response = post(intake, "/v1/observations", body)
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (
        422,
        ["body", 0, "observed_at"],
    )
    assert response.json()["detail"][0]["msg"] == (
        "observed_at: 2062-11-03T21:40:00+00:00 is in the future, more than 24 h after it was "
        "reported; an event cannot be dated after it was seen"
    )


def raw_post(port: int, headers: dict[str, str], chunks: Iterable[bytes] = ()) -> str:
    """POST /v1/observations over a bare socket; the response's status line and body.

    The body is sent chunked; a server that answers early and closes is not an error here."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST /v1/observations HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())
        try:
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # answered and closed before the body was all sent
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode()
    return f"{status} {body.decode()}"


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def test_a_huge_body_is_refused_before_it_is_read_and_memory_stays_bounded(
    intake: dict[str, Any],
) -> None:
    port, token = intake["port"], intake["tokens"][intake["health"]]
    announced = {"Content-Type": "application/json", "Content-Length": str(200 * 1024 * 1024)}
    # No token: refused on the headers, before any of the 200 MB is read.
    assert raw_post(port, announced) == (
        'HTTP/1.1 401 Unauthorized {"detail": "a bearer token is required"}'
    )
    # A token, and a body announced as 200 MB: refused on the headers too.
    assert raw_post(port, {**announced, "Authorization": f"Bearer {token}"}) == (
        'HTTP/1.1 413 Request Entity Too Large {"detail": "the request body is over 2097152 bytes"}'
    )
    # A token, and 200 MB sent without a length: refused once 2 MB have arrived.
    before = rss_kib(intake["pid"])
    chunked = {
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
        "Authorization": f"Bearer {token}",
    }
    block = b"[" + b" " * (64 * 1024 - 1)
    answer = raw_post(port, chunked, (block for _ in range(3200)))
    assert answer.startswith("HTTP/1.1 413"), answer
    assert rss_kib(intake["pid"]) - before < 20 * 1024  # the intake read 2 MB, not 200
    # And the intake still serves.
    assert post(intake, "/v1/observations", [OBSERVATION]).status_code == 202


def test_an_identity_link_is_published_pseudonymised_keyed_by_its_first_reference(
    kafka: Settings, intake: dict[str, Any], worker_env: dict[str, str]
) -> None:
    upn = "A999000000012"
    pupil = Pseudonymiser(KEY).child_ref
    body = {
        "event_id": f"link-{uuid.uuid4()}",
        "a_namespace": "nhs",
        "a_identifier": "943 476 5919",
        "b_namespace": "police",
        "b_identifier": "SW/2026/00417",
        "basis": "practitioner_confirmed",
        "source_ref": "SC-CASE-88",
    }
    answer = post(intake, "/v1/identity-links", body)
    assert answer.status_code == 202, answer.text
    refused = post(
        intake, "/v1/identity-links", {**body, "b_namespace": "upn", "b_identifier": upn}
    )
    assert refused.status_code == 422  # a UPN whose check letter is wrong, never echoed
    assert upn not in refused.text

    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_IDENTITY_LINKS"])
    wait_for(topic.poll, 30, "the link")
    (record,) = topic.records
    link = EventCodec("identity_link").decode(record.value)
    assert (link["ref_a"], link["ref_b"]) == (
        pupil("nhs", "9434765919"),
        pupil("police", "SW/2026/00417"),
    )
    assert record.key == link["ref_a"].encode()
    assert (link["basis"], link["withdrawn"], link["source_ref"]) == (
        "practitioner_confirmed",
        False,
        "SC-CASE-88",
    )
    assert link["agency"] == {"id": intake["health"], "type": "health"}
    assert b"9434765919" not in record.value and b"00417" not in record.value
    topic.close()


@pytest.mark.parametrize("intake", [{"SAFEGUARD_INTAKE_EVENTS_PER_MINUTE": "3"}], indirect=True)
def test_an_agency_that_floods_the_intake_is_slowed_and_the_others_are_not(
    intake: dict[str, Any],
) -> None:
    def one(n: int) -> dict[str, Any]:
        return {**OBSERVATION, "event_id": f"flood-{n}-{uuid.uuid4()}"}

    assert post(intake, "/v1/observations", [one(1), one(2)]).status_code == 202
    assert post(intake, "/v1/observations", one(3)).status_code == 202
    flooded = post(intake, "/v1/observations", one(4))
    assert flooded.status_code == 429
    assert flooded.json()["detail"].startswith("this agency may send 3 events a minute; try again")
    assert 1 <= int(flooded.headers["Retry-After"]) <= 60
    other = post(intake, "/v1/observations", one(5), intake["police"])
    assert other.status_code == 202  # another agency's quota is its own


def refusals(dsn: str, agency: str) -> list[str]:
    from .helpers import db

    rows = db(
        dsn,
        lambda c: c.fetch(
            "SELECT action, detail FROM audit WHERE username = $1 ORDER BY id", f"agency:{agency}"
        ),
    )
    return [f"{r['action']}: {r['detail']}" for r in rows]


def test_an_agency_publishes_only_about_the_areas_it_serves_and_a_refusal_is_audited(
    intake: dict[str, Any], worker_env: dict[str, str], kafka: Settings, dsn: str
) -> None:
    topic = TopicReader(kafka, worker_env["SAFEGUARD_TOPIC_OBSERVATIONS"])
    merthyr = {**OBSERVATION, "event_id": f"e-{uuid.uuid4().hex}", "local_authority": "W06000024"}
    cardiff = {**OBSERVATION, "event_id": f"e-{uuid.uuid4().hex}"}
    response = post(intake, "/v1/observations", [cardiff, merthyr])
    assert (response.status_code, response.json()) == (
        403,
        {
            "detail": [
                {"loc": ["body", 1, "local_authority"], "msg": "not an area this agency serves"}
            ]
        },
    )
    # A police force registered for every area may.
    assert post(intake, "/v1/observations", merthyr, agency=intake["police"]).status_code == 202
    wait_for(lambda: topic.poll(), 30, "the police force's observation")
    published = [EventCodec("observation").decode(r.value)["agency"]["id"] for r in topic.poll()]
    assert published == [intake["police"]]  # nothing of the health board's refused batch
    topic.close()
    # A health board's token sending roll changes is refused and audited too.
    roll = {
        "identifier": "E660123412001",
        "school_id": intake["school"],
        "local_authority": "W06000001",
        "kind": "registered",
        "effective_date": "2026-09-07",
    }
    assert post(intake, "/v1/school-registrations", [roll]).status_code == 403
    assert refusals(dsn, intake["health"]) == [
        "intake_refused: 2 observation event(s) refused: area not served",
        "intake_refused: 1 registration event(s) refused: only a school's token publishes school "
        "roll changes",
    ]


def test_a_rotated_token_is_replaced_and_the_old_one_ends_after_its_grace(
    intake: dict[str, Any],
) -> None:
    env, health = intake["env"], intake["health"]
    old = intake["tokens"][health]
    new = cli(env, "agency", "rotate", old.split(".")[0], "--grace-hours", "0")
    assert new.startswith("sgt_") and new != old
    headers = {"Authorization": f"Bearer {old}"}
    gone = intake["client"].post("/v1/observations", json=OBSERVATION, headers=headers)
    assert (gone.status_code, gone.json()) == (401, {"detail": "unknown or revoked token"})
    headers = {"Authorization": f"Bearer {new}"}
    fresh = {**OBSERVATION, "event_id": f"e-{uuid.uuid4().hex}"}
    assert intake["client"].post("/v1/observations", json=fresh, headers=headers).status_code == 202
    listed = cli(env, "agency", "tokens", health).splitlines()
    assert [line.split()[0] for line in listed] == [old.split(".")[0], new.split(".")[0]]
    assert all(line.endswith("active") for line in listed)
    assert old.split(".")[1] not in "\n".join(listed) and new.split(".")[1] not in "\n".join(listed)
