"""The observation agent through Faust's ``test_context``: in-memory table, captured sends."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import AsyncMock

import pytest

from schemas.codec import EventCodec
from streams import agents, guard, tables, topics
from streams.app import app
from tests.unit.streams.domain.test_concern import CHILD, HEALTH, POLICE, SCHOOL
from tests.unit.streams.sends import delivered, handled

OBSERVATIONS = EventCodec("observation")


@pytest.fixture
async def sent(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, AsyncMock]]:
    app.finalize()
    app.flow_control.resume()
    mocks = {"alerts": delivered(), "deadletter": delivered()}
    monkeypatch.setattr(topics.alerts_concern, "send", mocks["alerts"])
    monkeypatch.setattr(topics.deadletter, "send", mocks["deadletter"])
    guard.counters.clear()
    tables.child_to_evidence.data.clear()
    yield mocks


async def put(agent: Any, value: bytes, key: bytes | None = CHILD.encode()) -> None:
    await agent.put(value, key=key, key_serializer="raw", value_serializer="raw")
    await handled()


async def test_agent_raises_one_alert_then_a_version_for_new_evidence(
    sent: dict[str, AsyncMock],
) -> None:
    async with agents.aggregate_observations.test_context() as agent:
        for observation in (SCHOOL, HEALTH, POLICE, HEALTH):
            await put(agent, OBSERVATIONS.encode(observation))
    alerts = [EventCodec("alert").decode(c.kwargs["value"]) for c in sent["alerts"].await_args_list]
    assert [(a["version"], a["level"]) for a in alerts] == [(1, "high"), (2, "high"), (2, "high")]
    assert {c.kwargs["key"] for c in sent["alerts"].await_args_list} == {CHILD.encode()}
    assert guard.counters == {"no_alert": 1, "new_version": 2, "resend": 1}
    sent["deadletter"].assert_not_awaited()


FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
PAST = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "key", "error_kind", "message"),
    [
        (
            b"not avro",
            CHILD.encode(),
            "NotSingleObjectError",
            "not Avro single-object encoded: expected C3 01 and an 8-byte fingerprint, "
            "got 8 bytes, not starting C3 01",
        ),
        (
            OBSERVATIONS.encode({**SCHOOL, "indicator": "movement.teleported"}),
            CHILD.encode(),
            "UnknownIndicatorError",
            "indicator: 'movement.teleported' is not a code in the indicator catalogue",
        ),
        (
            OBSERVATIONS.encode({**SCHOOL, "child_ref": "943 476 5919"}),
            b"943 476 5919",
            "InvalidRecordError",
            "child_ref: not a pseudonym (64 lowercase hex digits of HMAC-SHA256); "
            "got 12 characters",
        ),
        (
            OBSERVATIONS.encode(SCHOOL),
            b"another-key",
            "InvalidRecordError",
            "key: missing or not the record's child_ref; events are keyed by child_ref",
        ),
        (  # a mistyped year: dead-lettered, and the child's clock does not move
            OBSERVATIONS.encode({**SCHOOL, "observed_at": FUTURE, "reported_at": FUTURE}),
            CHILD.encode(),
            "FutureEventError",
            "observed_at: 2099-01-01T00:00:00+00:00 is in the future, more than 24 h after now; "
            "an event cannot be dated after it was seen",
        ),
        (  # older than the look-back: dead-lettered, never dropped without a trace
            OBSERVATIONS.encode({**SCHOOL, "observed_at": PAST, "reported_at": PAST}),
            CHILD.encode(),
            "TooOldError",
            "observed_at: 2020-01-01 is more than 365 days before the child's newest evidence "
            "or today: outside the look-back, it cannot count",
        ),
    ],
)
async def test_bad_input_is_dead_lettered_whole_and_the_agent_carries_on(
    sent: dict[str, AsyncMock], value: bytes, key: bytes, error_kind: str, message: str
) -> None:
    async with agents.aggregate_observations.test_context() as agent:
        await put(agent, value, key)
        await put(agent, OBSERVATIONS.encode(SCHOOL))
        await put(agent, OBSERVATIONS.encode(HEALTH))
    (call,) = sent["deadletter"].await_args_list
    record = EventCodec("dead_letter").decode(call.kwargs["value"])
    assert (record["payload"], record["key"]) == (value, key)
    assert (record["error_kind"], record["error_message"]) == (error_kind, message)
    assert record["consumer"] == "worker.aggregate_observations"
    assert guard.counters["dead_letter"] == 1
    assert sent["alerts"].await_count == 1
