"""The child's chronology: every alert version, piece of evidence and action, in order."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from consumers.dashboard.story import chronology
from consumers.dashboard.views import Names
from schemas.catalogue import default_catalogue

UTC = dt.UTC


def evidence(
    event_id: str, agency: str, indicator: str, at: str, ref: str | None = None
) -> dict[str, Any]:
    agency_type, agency_id = agency.split(":")
    return {
        "event_id": event_id,
        "agency_type": agency_type,
        "agency_id": agency_id,
        "indicator": indicator,
        "group": indicator.split(".")[0],
        "observed_at": at,
        "source_ref": ref,
    }


def version(alert_id: str, n: int, level: str, raised: dt.datetime, items: list[dict[str, Any]],
            status: str = "open", reason: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "alert_id": alert_id,
        "version": n,
        "level": level,
        "raised_at": raised,
        "evidence": json.dumps(items),
        "reasons": json.dumps([f"{level} because of police sw"]),
        "status": status,
        "status_reason": reason,
    }


def test_the_story_is_in_order_with_each_piece_of_evidence_once() -> None:
    health = evidence(
        "h1", "health:hb-1", "health.controlling_companion", "2026-10-01T09:30:00+00:00", "ED-1"
    )
    police = evidence("p1", "police:sw", "control.long_working_hours", "2026-10-03T10:00:00+00:00")
    short_stay = "movement.short_school_registration_then_removed"
    school = evidence("s1", "school:6602000", short_stay, "2026-09-07T00:00:00+00:00")
    alerts = [
        {"alert_id": "c", "kind": "combined_concern"},
        {"alert_id": "e", "kind": "missing_from_education"},
    ]
    versions = [
        version("e", 1, "low", dt.datetime(2026, 9, 7, tzinfo=UTC), [school]),
        version("c", 1, "medium", dt.datetime(2026, 10, 1, 9, 30, tzinfo=UTC), [health]),
        version("c", 2, "high", dt.datetime(2026, 10, 3, 10, tzinfo=UTC), [health, police]),
        version("c", 3, "high", dt.datetime(2026, 10, 3, 10, tzinfo=UTC), [health, police],
                status="ended", reason="The child is 18."),
    ]  # fmt: skip
    actions = [
        {"at": dt.datetime(2026, 10, 2, tzinfo=UTC), "username": "hub-1", "action": "acknowledge",
         "alert_id": "c", "detail": None},
        {"at": dt.datetime(2026, 10, 4, tzinfo=UTC), "username": "hub-1", "action": "close",
         "alert_id": "c", "detail": "strategy_discussion: Discussed at the hub"},
    ]  # fmt: skip
    catalogue = default_catalogue()
    names = Names({"sw": {"name": "South Wales Police", "contact": None}}, {"6602000": "Ysgol Bro"})
    story = chronology(
        alerts, versions, actions, names, catalogue,
        lambda text, items, code: text.replace("police sw", "South Wales Police"),
    )  # fmt: skip
    assert [(e.kind, e.title, e.agency, e.record) for e in story] == [
        ("school", "the child's registration record", "Ysgol Bro", ""),
        ("alert", "Missing education alert raised: low (version 1)", "", ""),
        (
            "evidence",
            catalogue["health.controlling_companion"].description,
            "health service hb-1",
            "ED-1",
        ),
        ("alert", "Combined concern alert raised: medium (version 1)", "", ""),
        ("action", "Acknowledged by hub-1", "", ""),
        (
            "evidence",
            catalogue["control.long_working_hours"].description,
            "South Wales Police",
            "",
        ),
        ("alert", "Combined concern alert changed from medium to high (version 2)", "", ""),
        ("alert", "Combined concern alert ended (version 3)", "", ""),
        ("action", "Closed by hub-1: strategy discussion", "", ""),
    ]
    assert story[3].detail == "medium because of South Wales Police"
    assert story[7].detail == "The child is 18."
    assert story[8].detail == "Discussed at the hub"
    assert story[0].when == "7 September 2026" and story[2].when == "1 October 2026, 10:30"
