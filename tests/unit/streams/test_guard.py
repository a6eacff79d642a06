"""The guard every agent runs under: dead letters for bad records, retries, and stopping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from safeguard.kernel.errors import InvalidRecordError
from schemas.codec import EventCodec
from streams import guard
from streams.guard import Effects, Guard

DEAD_LETTERS = EventCodec("dead_letter")


@dataclass
class Message:
    offset: int
    value: bytes | None = b"v"
    key: bytes | None = b"k"
    topic: str = "in"
    partition: int = 0


class Topic:
    """Records what the broker acknowledged; fails the first ``failures`` sends."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.failures = failures

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures:
            self.failures -= 1
            fut.set_exception(ConnectionError("broker away"))
        else:
            self.sent.append((key, value))
            fut.set_result(None)
        return fut


class Stopped(Exception):
    pass


@pytest.fixture
def stops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []

    def exit_now(code: int) -> None:
        codes.append(code)
        raise Stopped

    monkeypatch.setattr(guard.os, "_exit", exit_now)
    no_wait = asyncio.sleep
    monkeypatch.setattr(guard.asyncio, "sleep", lambda _delay: no_wait(0))
    return codes


def decide(out: Topic, table: dict[bytes, Any]) -> Any:
    def handler(message: Message, effects: Effects) -> None:
        if (message.value or b"").startswith(b"bad"):
            raise InvalidRecordError("value: bad", field="value")
        if message.value == b"bug":
            raise ZeroDivisionError("1 / 0 with the child's name in it")
        effects.send(out, message.key, message.value or b"")
        effects.write(table, message.key or b"", message.offset)

    return handler


async def test_a_rule_that_raises_dead_letters_that_record_and_the_next_is_handled(
    stops: list[int],
) -> None:
    out, dead, table = Topic(), Topic(), {}
    g = Guard("agent", decide(out, table), dead)
    for message in (Message(1, b"bug"), Message(2, b"ok")):
        await g.handle(message)
    (letter,) = [DEAD_LETTERS.decode(v) for _, v in dead.sent]
    assert (letter["offset"], letter["error_kind"], letter["consumer"]) == (
        1,
        "HandlerError",
        "worker.agent",
    )
    assert letter["error_message"].startswith("ZeroDivisionError raised in handler (test_guard")
    assert "name" not in letter["error_message"]
    assert (out.sent, table, stops) == ([(b"k", b"ok")], {b"k": 2}, [])


async def test_outputs_reach_the_broker_before_the_state_is_written(stops: list[int]) -> None:
    out, dead = Topic(failures=2), Topic()
    table: dict[bytes, Any] = {}
    g = Guard("agent", decide(out, table), dead, retry_seconds=30)
    await g.handle(Message(7))
    # Two failed sends were retried; the state was written once, after the send that worked.
    assert (out.sent, table, dead.sent, stops) == ([(b"k", b"v")], {b"k": 7}, [], [])


async def test_a_broker_that_stays_away_stops_the_worker_with_nothing_written(
    stops: list[int],
) -> None:
    out, dead = Topic(failures=10**6), Topic()
    table: dict[bytes, Any] = {}
    g = Guard("agent", decide(out, table), dead, retry_seconds=0.5)
    with pytest.raises(Stopped):
        await g.handle(Message(7))
    assert (table, stops) == ({}, [guard.EXIT_FAULT])


async def test_bad_input_never_stops_the_worker_but_a_run_of_unexpected_errors_does(
    stops: list[int],
) -> None:
    out, dead = Topic(), Topic()
    g = Guard("agent", decide(out, {}), dead, failure_limit=3)
    for offset in range(10):
        await g.handle(Message(offset, b"bad"))
    await g.handle(Message(10, b"bug"))
    await g.handle(Message(11, b"ok"))  # a success resets the run
    await g.handle(Message(12, b"bug"))
    await g.handle(Message(13, b"bug"))
    assert stops == []
    with pytest.raises(Stopped):
        await g.handle(Message(14, b"bug"))
    assert stops == [guard.EXIT_FAULT]
    # The record that stopped it is not dead-lettered: uncommitted, it is redone at the next start.
    assert [DEAD_LETTERS.decode(v)["offset"] for _, v in dead.sent] == [*range(10), 10, 12, 13]


async def test_a_null_value_is_told_apart_from_empty_bytes(stops: list[int]) -> None:
    dead = Topic()
    g = Guard("agent", decide(Topic(), {}), dead)

    def reject_all(message: Message, effects: Effects) -> None:
        raise InvalidRecordError("value: refused", field="value")

    g.handler = reject_all
    await g.handle(Message(1, None))
    await g.handle(Message(2, b""))
    letters = [DEAD_LETTERS.decode(v) for _, v in dead.sent]
    assert [(d["payload"], d["value_null"], d["payload_size"]) for d in letters] == [
        (b"", True, 0),
        (b"", False, 0),
    ]


async def test_a_dead_letter_too_large_to_send_keeps_the_first_bytes_and_the_size(
    stops: list[int],
) -> None:
    dead = Topic()
    g = Guard("agent", decide(Topic(), {}), dead)
    await g.handle(Message(1, b"bad" + bytes(1_500_000)))
    ((_, value),) = dead.sent
    letter = DEAD_LETTERS.decode(value)
    assert (len(letter["payload"]), letter["payload_size"]) == (900_000, 1_500_003)
    assert len(value) < 1_000_000
