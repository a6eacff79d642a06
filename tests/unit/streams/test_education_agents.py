"""The registration agent and the deadline sweep, through ``test_context``, on a set clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import AsyncMock

import pytest

from safeguard.kernel.errors import InvalidRecordError
from schemas.codec import EventCodec
from streams import agents, decode, handlers, tables, topics
from streams.app import app, settings
from streams.domain import clock
from tests.unit.streams.domain.test_education import CHILD, MON, reg
from tests.unit.streams.sends import delivered, handled

REGISTRATIONS = EventCodec("school_registration")
ALERTS = EventCodec("alert")


@pytest.fixture
def at() -> Iterator[list[dt.datetime]]:
    """The worker's clock, as a one-item list the test moves forward."""
    now = [dt.datetime.combine(MON, dt.time(12), tzinfo=dt.UTC)]
    clock.set_clock(lambda: now[0])
    yield now
    clock.set_clock(lambda: dt.datetime.now(dt.UTC))


@pytest.fixture
async def sent(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, AsyncMock]]:
    app.finalize()
    app.flow_control.resume()
    agents.directory.ready.set()
    names = ("alerts", "signals", "observations", "family", "dead", "concern")
    mocks = {name: delivered() for name in names}
    monkeypatch.setattr(topics.alerts_education, "send", mocks["alerts"])
    monkeypatch.setattr(topics.education_signals, "send", mocks["signals"])
    monkeypatch.setattr(topics.observations, "send", mocks["observations"])
    monkeypatch.setattr(topics.family_departures, "send", mocks["family"])
    monkeypatch.setattr(topics.deadletter, "send", mocks["dead"])
    monkeypatch.setattr(topics.concern_signals, "send", mocks["concern"])
    for table in (tables.child_to_registrations, tables.child_to_deadline):
        table.data.clear()
    yield mocks


async def put(agent: Any, value: bytes, topic: str) -> None:
    """Put a record into the agent as if read from ``topic`` (the agent dispatches by topic)."""
    to_message = agent.to_message

    def on_topic(*args: Any, **kwargs: Any) -> Any:
        message = to_message(*args, **kwargs)
        message.topic = topic
        return message

    agent.to_message = on_topic
    try:
        await agent.put(value, key=CHILD.encode(), key_serializer="raw", value_serializer="raw")
    finally:
        agent.to_message = to_message
    await handled()


REG_TOPIC = settings.topic_school_registrations
SIGNAL_TOPIC = settings.topic_education_signals


async def test_a_deadline_fires_from_the_sweep_with_no_further_registration(
    sent: dict[str, AsyncMock], at: list[dt.datetime]
) -> None:
    key = CHILD.encode()
    async with agents.track_registrations.test_context() as agent:
        await put(agent, REGISTRATIONS.encode(reg("d", "deregistered", MON)), REG_TOPIC)
        assert tables.child_to_deadline[key] == "2026-01-20"
        await agents.sweep_deadlines()
        sent["signals"].assert_not_awaited()  # not due yet

        at[0] = dt.datetime(2026, 1, 20, 7, tzinfo=dt.UTC)
        await agents.sweep_deadlines()
        (call,) = sent["signals"].await_args_list
        assert call.kwargs == {"key": key, "value": handlers.DEADLINE_DUE}

        await put(agent, handlers.DEADLINE_DUE, SIGNAL_TOPIC)
        # A second signal (another worker's sweep, a standby copy) changes nothing.
        await put(agent, handlers.DEADLINE_DUE, SIGNAL_TOPIC)

    (alert_call,) = sent["alerts"].await_args_list
    alert = ALERTS.decode(alert_call.kwargs["value"])
    assert (alert["rule_id"], alert["level"], alert["version"]) == (
        "education.no_destination",
        "medium",
        1,
    )
    assert key not in tables.child_to_deadline
    (observation_call,) = sent["observations"].await_args_list
    observation = EventCodec("observation").decode(observation_call.kwargs["value"])
    assert observation["indicator"] == "movement.unknown_destination_on_leaving"
    assert observation["agency"] == {"id": "6812345", "type": "school"}


async def test_a_registration_in_time_cancels_the_deadline(
    sent: dict[str, AsyncMock], at: list[dt.datetime]
) -> None:
    key = CHILD.encode()
    async with agents.track_registrations.test_context() as agent:
        await put(agent, REGISTRATIONS.encode(reg("d", "deregistered", MON)), REG_TOPIC)
        at[0] += dt.timedelta(days=3)  # the new school reports it on the day
        joined = reg("n", "registered", MON + dt.timedelta(days=3), school="6819999")
        await put(agent, REGISTRATIONS.encode(joined), REG_TOPIC)
    assert key not in tables.child_to_deadline
    at[0] = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    await agents.sweep_deadlines()
    sent["signals"].assert_not_awaited()
    sent["alerts"].assert_not_awaited()


async def test_an_undecodable_registration_is_dead_lettered(
    sent: dict[str, AsyncMock], at: list[dt.datetime]
) -> None:
    async with agents.track_registrations.test_context() as agent:
        await put(agent, b"\xc3\x01" + bytes(8), REG_TOPIC)
    (call,) = sent["dead"].await_args_list
    record = EventCodec("dead_letter").decode(call.kwargs["value"])
    assert record["error_kind"] == "UnknownFingerprintError"
    assert record["payload"] == b"\xc3\x01" + bytes(8)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"not json", "value: not a JSON education signal"),
        (
            b'{"type": "teleport"}',
            "type: not one of deadline_due, family_move, identity, absorb, forward",
        ),
        (b'{"type": "family_move"}', "event_id: missing from a family_move signal"),
        (None, "value: not a JSON education signal"),
    ],
)
def test_a_bad_internal_signal_is_refused_with_its_reason(
    value: bytes | None, message: str
) -> None:
    with pytest.raises(InvalidRecordError) as caught:
        decode.signal(CHILD.encode(), value)
    assert str(caught.value) == message


def test_a_bad_family_departure_is_refused_with_its_reason() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        decode.departure(b"family", b'["only", "two"]')
    assert str(caught.value) == "value: not [child_ref, event_id, date]"


@pytest.mark.parametrize("signal_first", [False, True])
async def test_a_family_move_read_before_its_departure_gives_the_versions_of_the_causal_order(
    sent: dict[str, AsyncMock], at: list[dt.datetime], signal_first: bool
) -> None:
    # The departure is judged at once (its family window is over on this clock), and the signal
    # that a sibling left too turns the finding into a family move. After a crash the signal can
    # be read first; the alert versions must be the same as in the causal order.
    at[0] = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    departure = reg("d", "deregistered", MON, family_group_ref="f" * 64, family_travelling=True)
    signal = json.dumps({"type": "family_move", "event_id": "d"}).encode()
    records = [
        (REGISTRATIONS.encode(reg("r", "registered", MON - dt.timedelta(days=14))), REG_TOPIC),
        (REGISTRATIONS.encode(departure), REG_TOPIC),
        (signal, SIGNAL_TOPIC),
    ]
    if signal_first:
        records[1], records[2] = records[2], records[1]
    async with agents.track_registrations.test_context() as agent:
        for value, topic in records:
            await put(agent, value, topic)
    alerts = [ALERTS.decode(c.kwargs["value"]) for c in sent["alerts"].await_args_list]
    assert [(a["version"], a["level"], a["family_move"]) for a in alerts] == [
        (1, "low", True),  # a travelling family's child alone: the authority's enquiry
        (2, "low", True),  # siblings left too: a family move
    ]
    assert "no sibling leaving" in alerts[0]["reasons"][0]
    assert "together with siblings" in alerts[1]["reasons"][0]


async def test_a_return_to_school_ends_the_absence_alert_and_keeps_its_observation(
    sent: dict[str, AsyncMock], at: list[dt.datetime]
) -> None:
    at[0] = dt.datetime(2026, 2, 2, 12, tzinfo=dt.UTC)
    absent = reg("a", "continuous_absence", MON, absence_school_days=12)
    back = reg(
        "b",
        "continuous_absence",
        MON + dt.timedelta(days=2),
        absence_school_days=14,
        returned_on=MON + dt.timedelta(days=3),
    )
    async with agents.track_registrations.test_context() as agent:
        for record in (absent, back):
            await put(agent, REGISTRATIONS.encode(record), REG_TOPIC)
    alerts = [ALERTS.decode(c.kwargs["value"]) for c in sent["alerts"].await_args_list]
    assert [(a["version"], a["rule_id"], a["level"], a["status"]) for a in alerts] == [
        (1, "education.continuous_absence", "low", "open"),
        (2, "education.continuous_absence", "low", "ended"),
    ]
    assert alerts[1]["status_reason"] == (
        "Ended: school 6812345 reported the child back at school on 2026-01-08 after 14 school "
        "days' absence."
    )
    # The absence happened: its movement observation stands, nothing is retracted.
    observations = [
        EventCodec("observation").decode(c.kwargs["value"])
        for c in sent["observations"].await_args_list
    ]
    assert [o["indicator"] for o in observations] == ["movement.unexplained_prolonged_absence"]
