"""The worker's handlers over a generated scenario, with no broker: the exact alert bytes.

A change of structure must not change one byte of what the worker publishes for the same
input. This test feeds a deterministic scenario (schools, then registrations and observations
in time order, each read an hour after it happened, then the deadlines at two later clocks)
through the real handlers, with plain dicts for the tables and a queue for the topics, and
compares a digest of every record published, in order, with the digest recorded when the code
was last meant to change its output.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from producers.imports import (
    OBSERVATION_COLUMNS,
    REGISTRATION_COLUMNS,
    observation_from_row,
    registration_from_row,
    rows,
)
from producers.pseudonym import Pseudonymiser
from producers.publisher import encode_observation, encode_registration
from producers.scenario import generate, write
from producers.schools import read_schools
from streams import handlers, topics
from streams.app import settings
from streams.domain import clock
from streams.guard import Effects
from streams.schools import SchoolDirectory

KEY = b"partnership-key-for-golden-runs-0123456789"
NOW = dt.datetime(2027, 5, 20, 9, tzinfo=dt.UTC)
LATER = dt.datetime(2027, 8, 20, 9, tzinfo=dt.UTC)

#: Records published per topic, and the digest of every published record in order. Change them
#: only with a change meant to change what the worker publishes, and say so in its commit.
EXPECTED_COUNTS = {
    "alerts_concern": 187,
    "alerts_education": 157,
    "concern_signals": 368,
    "education_signals": 56,
    "family_departures": 56,
    "observations": 145,
}
EXPECTED_DIGEST = "68b59beabbc7652009083b6623ff7506621663eef8598e0ba43d8b46a582864b"


class World:
    """Topics as queues, tables as dicts, and the handlers that read them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tables: dict[str, dict[bytes, Any]] = {}
        self.names: dict[int, str] = {}
        for name in (
            "child_to_evidence",
            "child_to_registrations",
            "child_to_deadline",
            "child_to_concern_due",
            "family_to_departures",
        ):
            self._table(monkeypatch, name)
        self.handlers = {
            "observations": handlers.handle_observation,
            "concern_signals": handlers.handle_observation,
            "registrations": handlers.handle_registration,
            "education_signals": handlers.handle_registration,
            "family_departures": handlers.handle_departure,
        }
        self.topics = {
            "observations": topics.observations,
            "education_signals": topics.education_signals,
            "family_departures": topics.family_departures,
            "concern_signals": topics.concern_signals,
            "alerts_concern": topics.alerts_concern,
            "alerts_education": topics.alerts_education,
            "deadletter": topics.deadletter,
        }
        self.names = {id(topic): name for name, topic in self.topics.items()}
        self.queue: collections.deque[tuple[str, bytes, bytes]] = collections.deque()
        self.published: list[tuple[str, bytes | None, bytes]] = []
        self.offset = 0

    def _table(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        table: dict[bytes, Any] = {}
        self.tables[name] = table
        monkeypatch.setattr(handlers, name, table)

    def feed(self, topic: str, key: bytes, value: bytes) -> None:
        self.queue.append((topic, key, value))
        self.drain()

    def drain(self) -> None:
        while self.queue:
            topic, key, value = self.queue.popleft()
            self.offset += 1
            real = {
                "registrations": settings.topic_school_registrations,
                "education_signals": settings.topic_education_signals,
                "concern_signals": settings.topic_concern_signals,
            }.get(topic, topic)
            message = SimpleNamespace(
                topic=real, partition=0, offset=self.offset, key=key, value=value
            )
            effects = Effects()
            self.handlers[topic](message, effects)
            for target, out_key, out_value in effects.sends:
                name = self.names[id(target)]
                assert name != "deadletter", "the scenario is valid: nothing is dead-lettered"
                self.published.append((name, out_key, out_value))
                if name in self.handlers:
                    assert out_key is not None
                    self.queue.append((name, out_key, out_value))
            for table, at, written in effects.writes:
                if written is None:
                    table.pop(at, None)
                else:
                    table[at] = written

    def sweep(self) -> None:
        today = clock.today().isoformat()
        for table, topic in (
            ("child_to_deadline", "education_signals"),
            ("child_to_concern_due", "concern_signals"),
        ):
            due = sorted(k for k, when in self.tables[table].items() if when and when <= today)
            for key in due:
                self.feed(topic, key, handlers.DEADLINE_DUE)


def scenario_records(folder: Path) -> list[tuple[dt.datetime, str, bytes, bytes]]:
    """Every source record with the moment it is read: an hour after it happened, as a live
    system reads them (a school's roll change at 4 pm on its day)."""
    paths = write(generate(300, 3, dt.date(2026, 9, 7)), folder)
    pseudonyms = Pseudonymiser(KEY)
    found = []
    for _, row in rows(paths["registrations"], REGISTRATION_COLUMNS):
        record = registration_from_row(row, pseudonyms, NOW)
        day = dt.datetime.combine(record["effective_date"], dt.time(16), tzinfo=dt.UTC)
        value = encode_registration(record)
        found.append((day, "registrations", record["child_ref"].encode(), value))
    for _, row in rows(paths["observations"], OBSERVATION_COLUMNS):
        record = observation_from_row(row, pseudonyms, NOW)
        value = encode_observation(record)
        found.append((record["observed_at"], "observations", record["child_ref"].encode(), value))
    hour = dt.timedelta(hours=1)
    return [(when + hour, *rest) for when, *rest in sorted(found, key=lambda r: r[0])]


def test_the_worker_publishes_the_same_bytes_for_the_same_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(monkeypatch)
    paths = write(generate(300, 3, dt.date(2026, 9, 7)), tmp_path / "schools")
    directory = SchoolDirectory()
    for key, value in read_schools(paths["schools"]).records:
        directory.apply(key, value)
    monkeypatch.setattr(handlers, "directory", directory)
    moment = [NOW]
    clock.set_clock(lambda: moment[0])
    try:
        for when, topic, key, value in scenario_records(tmp_path / "scenario"):
            moment[0] = when
            world.feed(topic, key, value)
        moment[0] = NOW
        world.sweep()
        moment[0] = LATER
        world.sweep()
    finally:
        clock.set_clock(lambda: dt.datetime.now(dt.UTC))

    counts = collections.Counter(name for name, _, _ in world.published)
    digest = hashlib.sha256()
    for name, sent_key, sent in world.published:
        digest.update(f"{name}|{len(sent_key or b'')}|{len(sent)}|".encode())
        digest.update(sent_key or b"")
        digest.update(sent)
    assert dict(counts) == EXPECTED_COUNTS
    assert digest.hexdigest() == EXPECTED_DIGEST
