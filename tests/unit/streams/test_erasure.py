"""An erasure through the real handlers: the state of the child goes, records sent before the
erasure stay out, new information starts afresh, and the marker itself goes in time."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from producers.publisher import encode_erasure
from safeguard.kernel.errors import InvalidRecordError
from streams import decode
from streams.app import settings
from streams.domain import clock
from tests.unit.streams.test_identity import (
    HEALTH_OBS,
    NHS,
    NOW,
    SCHOOL_OBS,
    UPN,
    alerts,
    observation,
    registration,
)
from tests.unit.streams.world import World

ERASED_AT = NOW + dt.timedelta(hours=1)


def erasure(ref: str, at: dt.datetime = ERASED_AT) -> bytes:
    return encode_erasure(
        {"event_id": "er-1", "child_ref": ref, "basis": "erasure_request", "erased_at": at}
    )


def stored(world: World, table: str, ref: str) -> Any:
    return world.tables[table].get(ref.encode())


def concern_for_upn(world: World) -> None:
    world.feed("observations", UPN.encode(), observation(*SCHOOL_OBS))
    health = ("e-health", UPN, *HEALTH_OBS[2:])
    world.feed("observations", UPN.encode(), observation(*health))


def test_an_erasure_leaves_only_its_time_and_the_next_episode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    concern_for_upn(world)
    (alert,) = alerts(world)
    assert (alert["level"], alert["status"]) == ("medium", "open")
    for ref, school, day in ((UPN, "6601001", 0), (UPN, "6601002", 30)):
        world.feed("registrations", ref.encode(), registration(ref, school, "registered", day))
    before = len(world.published)
    world.feed("erasures", UPN.encode(), erasure(UPN))
    assert len(world.published) == before  # nothing published: the alert store is told apart
    at = int(ERASED_AT.timestamp() * 1000)
    assert stored(world, "child_to_evidence", UPN) == {
        "erased_at": at,
        "episodes": {"combined_concern": 1},  # the open episode (0) is not reused
    }
    assert stored(world, "child_to_registrations", UPN) == {
        "erased_at": at,
        "episodes": {"missing_from_education": 0},
    }
    expires = (ERASED_AT.date() + dt.timedelta(days=settings.source_retention_days + 1)).isoformat()
    assert stored(world, "child_to_concern_due", UPN) == expires
    assert stored(world, "child_to_deadline", UPN) == expires
    state = json.dumps([world.tables[name].get(UPN.encode()) for name in world.tables])
    for trace in ("e-school", "e-health", "6601001", "W06000015", "2012-01-01"):
        assert trace not in state


def test_records_sent_before_the_erasure_stay_out_and_later_ones_start_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    concern_for_upn(world)
    (erased,) = alerts(world)
    world.feed("erasures", UPN.encode(), erasure(UPN))
    # Read again after a fault: sent before the erasure, so it is what was erased.
    early = (NOW - dt.timedelta(minutes=5)).timestamp()
    world.feed("observations", UPN.encode(), observation(*SCHOOL_OBS), sent_at=early)
    world.feed("observations", UPN.encode(), observation("e-h2", UPN, *HEALTH_OBS[2:]), early)
    assert alerts(world) == [erased]
    assert stored(world, "child_to_evidence", UPN)["erased_at"] > 0
    # New information after the erasure: a new state and a new episode, never the old id.
    late = (ERASED_AT + dt.timedelta(minutes=5)).timestamp()
    world.feed("observations", UPN.encode(), observation("e-s3", UPN, *SCHOOL_OBS[2:]), late)
    world.feed("observations", UPN.encode(), observation("e-h3", UPN, *HEALTH_OBS[2:]), late)
    erased_again, new = alerts(world)
    assert erased_again == erased
    assert (new["version"], new["level"]) == (1, "medium")
    assert new["alert_id"] != erased["alert_id"]
    assert [e["event_id"] for e in new["evidence"]] == ["e-s3", "e-h3"]


def test_the_marker_goes_once_the_source_retention_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    concern_for_upn(world)
    world.feed("registrations", NHS.encode(), registration(NHS, "6601001", "registered", 0))
    world.feed("erasures", UPN.encode(), erasure(UPN))
    world.feed("erasures", NHS.encode(), erasure(NHS))
    world.sweep()  # not due yet: the marker stays
    assert stored(world, "child_to_evidence", UPN)["erased_at"] > 0
    later = ERASED_AT + dt.timedelta(days=settings.source_retention_days + 1)
    clock.set_clock(lambda: later)
    world.sweep()
    for name, table in world.tables.items():
        assert UPN.encode() not in table, name
        assert NHS.encode() not in table, name


def test_an_erasure_keyed_by_another_reference_is_refused() -> None:
    with pytest.raises(InvalidRecordError) as caught:
        decode.erasure(NHS.encode(), erasure(UPN))
    assert caught.value.field == "key"
    assert UPN not in str(caught.value)
