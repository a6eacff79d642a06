"""What the agents accept from each topic, and the exact error for each bad record."""

from __future__ import annotations

import datetime as dt

import pytest

from safeguard.kernel.errors import InvalidRecordError, WrongEventError
from schemas.codec import EventCodec
from streams import decode

CHILD = "c" * 64
AT = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def retraction(of: str) -> bytes:
    return EventCodec("retraction").encode(
        {
            "event_id": "r1",
            "child_ref": CHILD,
            "agency": {"id": "hb1", "type": "health"},
            "retracts": "e1",
            "of": of,
            "reason": "wrong_child",
            "retracted_at": AT,
        }
    )


def test_the_observations_topic_carries_retractions_of_observations() -> None:
    event, record = decode.observation(CHILD.encode(), retraction("observation"))
    assert (event, record["retracts"], record["agency"]) == (
        "retraction",
        "e1",
        {"id": "hb1", "type": "health"},
    )


def test_a_retraction_on_the_wrong_topic_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidRecordError, match="of: a retraction of a observation on the topic"):
        decode.registration(CHILD.encode(), retraction("observation"))


def test_another_kind_of_event_on_the_observations_topic_is_refused() -> None:
    school = EventCodec("school").encode(
        {"school_id": "1", "name": "x", "local_authority": "W06000015", "near_port_of_entry": False}
    )
    with pytest.raises(
        WrongEventError, match="expected observation or retraction data, got school"
    ):
        decode.observation(CHILD.encode(), school)


def test_concern_signals_are_a_deadline_or_the_childs_school_authority() -> None:
    key = CHILD.encode()
    assert decode.concern_signal(key, b'{"type": "deadline_due"}') == {"type": "deadline_due"}
    moved = b'{"type": "school_authority", "local_authority": null}'
    assert decode.concern_signal(key, moved)["local_authority"] is None
    kinds = "deadline_due, school_authority, identity, absorb, forward"
    with pytest.raises(InvalidRecordError, match=f"type: not one of {kinds}"):
        decode.concern_signal(key, b'{"type": "family_move"}')
    with pytest.raises(InvalidRecordError, match="value: not a JSON concern signal"):
        decode.concern_signal(key, b"\x00")


def test_an_action_must_be_keyed_by_a_child() -> None:
    action = EventCodec("alert_action").encode(
        {
            "alert_id": "combined_concern-x",
            "version": 1,
            "action": "close",
            "by": "lead",
            "assignee": None,
            "reason": "r",
            "outcome": "found_safe",
            "at": AT,
        }
    )
    assert decode.action(CHILD.encode(), action)["outcome"] == "found_safe"
    with pytest.raises(InvalidRecordError, match="key: missing; actions are keyed by child_ref"):
        decode.action(None, action)
