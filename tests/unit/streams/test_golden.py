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
from typing import Any

import pytest

from producers.imports import (
    LINK_COLUMNS,
    OBSERVATION_COLUMNS,
    REGISTRATION_COLUMNS,
    link_from_row,
    observation_from_row,
    registration_from_row,
    rows,
)
from producers.pseudonym import Pseudonymiser
from producers.publisher import encode_link, encode_observation, encode_registration
from producers.scenario import generate, write
from producers.schools import read_schools
from schemas.codec import EventCodec
from streams import handlers
from streams.domain import clock
from streams.schools import SchoolDirectory
from tests.unit.streams.world import World

KEY = b"partnership-key-for-golden-runs-0123456789"
ALERTS = EventCodec("alert")
NOW = dt.datetime(2027, 5, 20, 9, tzinfo=dt.UTC)
LATER = dt.datetime(2027, 8, 20, 9, tzinfo=dt.UTC)

#: Records published per topic, and the digest of every published record in order. Change them
#: only with a change meant to change what the worker publishes, and say so in its commit.
EXPECTED_COUNTS = {
    "alerts_concern": 191,
    "alerts_education": 138,
    "concern_signals": 415,
    "education_signals": 98,
    "family_departures": 42,
    "observations": 131,
}
# Travelling families' references are made under a key of their own (producers.pseudonym);
# the scenario's Pembrokeshire is W06000009 (it was given Powys's code, W06000023); alerts are
# written with alert v4 (reasons as codes and parameters too).
EXPECTED_DIGEST = "76d7b7c10beefd2d09751913069e8780b2e0867a5a2e7965001ae51b9a64a19c"


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
    for _, row in rows(paths["links"], LINK_COLUMNS):
        record = link_from_row(row, pseudonyms, NOW)
        found.append((record["stated_at"], "identity_links", b"links", encode_link(record)))
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


def test_children_known_apart_are_joined_by_social_cares_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the same scenario, each child the school knows by the UPN and health by the NHS
    number has one combined concern, under the smaller reference, once social care links them;
    no alert stays open under the other reference."""
    world = World(monkeypatch)
    scenario = generate(300, 3, dt.date(2026, 9, 7))
    monkeypatch.setattr(handlers, "directory", SchoolDirectory())
    clock.set_clock(lambda: LATER)
    try:
        for _, topic, key, value in scenario_records(tmp_path / "scenario"):
            world.feed(topic, key, value)
    finally:
        clock.set_clock(lambda: dt.datetime.now(dt.UTC))
    pseudonyms = Pseudonymiser(KEY)
    apart = [p for p in scenario.profiles if p["story"] == "known_apart"]
    assert len(apart) >= 10
    latest: dict[str, dict[str, Any]] = {}
    for name, _, value in world.published:
        if name == "alerts_concern":
            alert = ALERTS.decode(value)
            latest[alert["child_ref"]] = alert
    for profile in apart:
        pupil, patient = profile["upn"], profile["identifier"]
        refs = sorted([pseudonyms.child_ref("upn", pupil), pseudonyms.child_ref("nhs", patient)])
        alert = latest[refs[0]]
        assert (alert["status"], alert["linked_refs"]) == ("open", refs)
        assert {e["agency_type"] for e in alert["evidence"]} == {"school", "health"}
        assert refs[1] not in latest or latest[refs[1]]["status"] == "withdrawn"
