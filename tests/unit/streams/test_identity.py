"""One child under several references: links merge what agencies know, withdrawals split it.

Through the real handlers, with queues for topics and dicts for tables (``World``); the random
orders stand for partitions read at different speeds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

from producers.publisher import (
    encode_encoding,
    encode_link,
    encode_observation,
    encode_registration,
)
from safeguard.kernel.errors import InvalidRecordError
from schemas.codec import EventCodec
from schemas.linkage import SCHEME, Identity, LinkageKeys
from streams.domain import clock
from streams.domain.identity import Membership, Node, apply_statement
from tests.unit.streams.conftest import T0
from tests.unit.streams.world import World

ALERTS = EventCodec("alert")
#: Three references of one child: under the school's UPN, health's NHS number, police's own.
UPN, NHS, POLICE = ("a" * 64, "b" * 64, "c" * 64)
NOW = T0 + dt.timedelta(days=10)


@pytest.fixture(autouse=True)
def fixed_clock() -> Iterator[None]:
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(lambda: dt.datetime.now(dt.UTC))


def observation(event_id: str, child_ref: str, indicator: str, agency: str, day: int) -> bytes:
    agency_type, agency_id = agency.split(":")
    when = T0 + dt.timedelta(days=day)
    return encode_observation(
        {
            "event_id": event_id,
            "child_ref": child_ref,
            "indicator": indicator,
            "agency": {"id": agency_id, "type": agency_type},
            "observed_at": when,
            "reported_at": when,
            "local_authority": "W06000015",
            "date_of_birth": dt.date(2012, 1, 1),
            "age_disputed": False,
            "immediate_risk": False,
            "source_ref": f"rec-{event_id}",
        }
    )


def link(event_id: str, a: str, b: str, *, withdrawn: bool = False, agency: str = "sc1") -> bytes:
    return encode_link(
        {
            "event_id": event_id,
            "ref_a": a,
            "ref_b": b,
            "basis": "shared_record",
            "agency": {"id": agency, "type": "social_care"},
            "stated_at": T0 + dt.timedelta(days=6),
            "withdrawn": withdrawn,
            "source_ref": None,
        }
    )


SCHOOL_OBS = ("e-school", UPN, "say_behave.mood_swings", "school:s1", 1)
HEALTH_OBS = ("e-health", NHS, "health.controlling_companion", "health:hb1", 3)


def alerts(world: World) -> list[dict[str, Any]]:
    return [ALERTS.decode(v) for name, _, v in world.published if name.startswith("alerts")]


def latest(world: World) -> dict[str, dict[str, Any]]:
    """The newest version of each alert, as a consumer keeps them."""
    out: dict[str, dict[str, Any]] = {}
    for alert in alerts(world):
        if alert["version"] >= out.get(alert["alert_id"], {"version": 0})["version"]:
            out[alert["alert_id"]] = alert
    return out


def feed_two_agencies(world: World) -> None:
    world.feed("observations", UPN.encode(), observation(*SCHOOL_OBS))
    world.feed("observations", NHS.encode(), observation(*HEALTH_OBS))


def test_two_references_alone_raise_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch)
    feed_two_agencies(world)
    assert alerts(world) == []


def test_a_link_makes_one_combined_concern_under_the_smaller_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    feed_two_agencies(world)
    world.feed("identity_links", UPN.encode(), link("l1", NHS, UPN))
    (alert,) = alerts(world)
    assert (alert["child_ref"], alert["kind"]) == (UPN, "combined_concern")
    assert alert["level"] == "medium"
    assert [(e["event_id"], e["source_ref"]) for e in alert["evidence"]] == [
        ("e-school", "rec-e-school"),
        ("e-health", "rec-e-health"),
    ]
    assert alert["linked_refs"] == [UPN, NHS]
    assert alert["merged_into"] is None


def test_evidence_published_after_the_link_under_the_other_reference_reaches_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    world.feed("identity_links", UPN.encode(), link("l1", UPN, NHS))
    feed_two_agencies(world)
    (alert,) = alerts(world)
    assert alert["child_ref"] == UPN
    assert [e["event_id"] for e in alert["evidence"]] == ["e-school", "e-health"]


def test_the_merged_references_own_alert_ends_naming_the_child_it_continues_under(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    police = ("e-police", NHS, "control.long_working_hours", "police:p1", 4)
    world.feed("observations", NHS.encode(), observation(*HEALTH_OBS))
    world.feed("observations", NHS.encode(), observation(*police))
    world.feed("observations", UPN.encode(), observation(*SCHOOL_OBS))
    (own,) = alerts(world)
    assert own["child_ref"] == NHS
    world.feed("identity_links", NHS.encode(), link("l1", NHS, UPN))
    _, ended, merged = alerts(world)
    assert (ended["alert_id"], ended["version"]) == (own["alert_id"], 2)
    assert ended["status"] == "withdrawn"
    assert ended["merged_into"] == UPN
    assert ended["status_reason"].startswith("Withdrawn: agencies linked this reference")
    assert (merged["child_ref"], merged["status"], merged["version"]) == (UPN, "open", 1)
    assert {e["event_id"] for e in merged["evidence"]} == {"e-school", "e-health", "e-police"}


def test_a_withdrawn_link_splits_the_child_again(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch)
    feed_two_agencies(world)
    world.feed("identity_links", UPN.encode(), link("l1", UPN, NHS))
    world.feed("identity_links", UPN.encode(), link("l2", UPN, NHS, withdrawn=True))
    merged, split = alerts(world)
    assert (split["alert_id"], split["version"], split["status"]) == (
        merged["alert_id"],
        2,
        "withdrawn",
    )
    assert "link between two references of this child was withdrawn" in split["status_reason"]
    # Each reference holds its own evidence again: a new observation counts where it belongs.
    world.feed(
        "observations",
        NHS.encode(),
        observation("e-police", NHS, "control.long_working_hours", "police:p1", 4),
    )
    *_, nhs_alone = alerts(world)
    assert nhs_alone["child_ref"] == NHS
    assert [e["event_id"] for e in nhs_alone["evidence"]] == ["e-health", "e-police"]


def test_the_same_link_again_and_another_agencys_statement_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    feed_two_agencies(world)
    world.feed("identity_links", UPN.encode(), link("l1", UPN, NHS))
    before = len(world.published)
    world.feed("identity_links", UPN.encode(), link("l1", UPN, NHS))
    world.feed("identity_links", UPN.encode(), link("l9", UPN, NHS, agency="sc2"))
    assert len(world.published) == before
    # One agency's withdrawal leaves the other's statement standing: still one child.
    world.feed("identity_links", UPN.encode(), link("l3", UPN, NHS, withdrawn=True))
    assert len(world.published) == before


def test_a_school_history_under_two_references_makes_one_education_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    # Registered at three schools in a year: two know the child under one reference, the third
    # under another. Alone, neither reference shows the pattern (three schools).
    for ref, school, day in ((UPN, "6601001", 0), (UPN, "6601002", 30), (NHS, "6601003", 60)):
        world.feed("registrations", ref.encode(), registration(ref, school, "registered", day))
    assert [a for a in alerts(world) if a["kind"] == "missing_from_education"] == []
    world.feed("identity_links", UPN.encode(), link("l1", UPN, NHS))
    (alert,) = [a for a in alerts(world) if a["kind"] == "missing_from_education"]
    assert (alert["child_ref"], alert["level"], alert["rule_id"]) == (
        UPN,
        "medium",
        "education.repeated_registration",
    )
    assert [e["agency_id"] for e in alert["evidence"]] == ["6601001", "6601002", "6601003"]
    assert alert["linked_refs"] == [UPN, NHS]


def registration(ref: str, school: str, kind: str, day: int) -> bytes:
    when = dt.date(2026, 1, 5) + dt.timedelta(days=day)
    return encode_registration(
        {
            "event_id": f"{school}-{kind}-{day}",
            "child_ref": ref,
            "school_id": school,
            "local_authority": "W06000015",
            "kind": kind,
            "effective_date": when,
            "reported_at": dt.datetime.combine(when, dt.time(16), dt.UTC),
            "destination_school_id": None,
            "deletion_ground": "other" if kind == "deregistered" else None,
            "absence_school_days": None,
            "family_group_ref": None,
            "family_travelling": False,
            "returned_on": None,
        }
    )


JOINED = {UPN: ("open", "medium", ["e-health", "e-p", "e-school"])}
SPLIT = {NHS: ("open", "medium", ["e-health", "e-p"])}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("last_links", "expected"), [(4, JOINED), (3, SPLIT)])
def test_any_order_of_partitions_ends_with_the_same_alerts(
    monkeypatch: pytest.MonkeyPatch, seed: int, last_links: int, expected: dict[str, Any]
) -> None:
    """Links, a withdrawal and evidence under three references, read at random speeds, end as
    read in one order: the child's alert under the smallest linked reference, the same
    evidence, and no other alert left open."""

    def run(shuffle: random.Random | None) -> dict[str, tuple[Any, ...]]:
        world = World(monkeypatch, shuffle)
        records = [
            ("observations", UPN, observation(*SCHOOL_OBS)),
            ("observations", NHS, observation(*HEALTH_OBS)),
            ("identity_links", UPN, link("l1", NHS, POLICE)),
            ("identity_links", UPN, link("l2", UPN, POLICE)),
            ("observations", POLICE, observation("e-p", POLICE, "risk.homeless", "police:p1", 2)),
            ("identity_links", UPN, link("l3", UPN, POLICE, withdrawn=True)),
            ("identity_links", UPN, link("l4", UPN, NHS)),
        ][: 3 + last_links]
        for topic, key, value in records:
            world.queue.append((topic, key.encode(), value, NOW.timestamp()))
        world.drain()
        return {
            a["child_ref"]: (a["status"], a["level"], sorted(e["event_id"] for e in a["evidence"]))
            for a in latest(world).values()
            if a["status"] == "open"
        }

    assert run(None) == expected
    assert run(random.Random(seed)) == expected


def test_the_graph_joins_and_splits_and_tells_every_member() -> None:
    nodes: dict[str, Node] = {}

    def read(ref: str) -> Node:
        return nodes.get(ref, Node())

    def statement(a: str, b: str, *, withdrawn: bool = False, event: str = "l") -> Any:
        record = {
            "event_id": event,
            "ref_a": a,
            "ref_b": b,
            "basis": "shared_record",
            "agency": {"id": "sc1", "type": "social_care"},
            "withdrawn": withdrawn,
        }
        change = apply_statement(read, 1, record)
        nodes.update(change.nodes)
        return change

    joined = statement(NHS, POLICE, event="l1")
    assert [(g.ref, g.canonical, g.members) for g in joined.groups] == [
        (NHS, NHS, (NHS, POLICE)),
        (POLICE, NHS, (NHS, POLICE)),
    ]
    statement(UPN, POLICE, event="l2")
    # A second path between two members already joined changes no group.
    assert statement(UPN, NHS, event="l3").groups == []
    # Withdrawing one of two paths splits nothing; withdrawing the other splits.
    assert statement(UPN, NHS, withdrawn=True).groups == []
    split = statement(UPN, POLICE, withdrawn=True)
    assert {(g.ref, g.canonical) for g in split.groups} == {
        (UPN, UPN),
        (NHS, NHS),
        (POLICE, NHS),
    }


def test_a_reference_routes_by_the_newer_view() -> None:
    member = Membership(version=3, canonical=UPN)
    assert member.route(NHS, NHS, 3) == UPN  # merged: sent on to the child
    assert member.route(NHS, NHS, 4) is None  # the sender knows more: kept until our news comes
    canonical = Membership(version=3, members=(UPN, NHS))
    assert canonical.route(UPN, NHS, 3) is None
    assert canonical.route(UPN, POLICE, 3) == POLICE  # not of this group (split off): back


KEYS = LinkageKeys(b"linkage-key-for-the-unit-tests-0123456789")
PROPOSALS = EventCodec("link_proposal")


def encoding(ref: str, agency: str, identity: Identity, area: str = "W06000015") -> bytes:
    agency_type, agency_id = agency.split(":")
    encoded = KEYS.encode(identity)
    return encode_encoding(
        {
            "event_id": f"enc-{ref[:4]}-{agency_id}",
            "child_ref": ref,
            "agency": {"id": agency_id, "type": agency_type},
            "local_authority": area,
            "scheme": SCHEME,
            "clk": encoded.clk,
            "blocks": list(encoded.blocks),
            "encoded_at": T0 + dt.timedelta(days=2),
        }
    )


def test_alike_encodings_of_two_references_make_one_proposal_and_no_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(monkeypatch)
    born = dt.date(2012, 6, 3)
    health = encoding(NHS, "health:hb1", Identity("Aisha", "Rahman", born, "F", "CF24"))
    school = encoding(
        UPN, "school:s1", Identity("Ayesha", "Rahman", born, "F", "CF24"), "W06000011"
    )
    twin = encoding(POLICE, "police:p1", Identity("Omar", "Rahman", born, "M", "CF24"))
    for ref, value in ((NHS, health), (UPN, school), (POLICE, twin), (UPN, school)):
        world.feed("identity_encodings", ref.encode(), value)  # the school's twice
    published = [v for name, _, v in world.published if name == "identity_proposals"]
    proposals = {(p["ref_a"], p["ref_b"]): p for p in map(PROPOSALS.decode, published)}
    assert list(proposals) == [(UPN, NHS)]
    (found,) = proposals.values()
    assert (found["agency_a"], found["agency_b"]) == ("school:s1", "health:hb1")
    assert found["local_authorities"] == ["W06000011", "W06000015"]
    assert found["similarity"] >= found["threshold"] == 0.84
    assert found["proposal_id"] == hashlib.sha256(f"{UPN}|{NHS}".encode()).hexdigest()[:32]
    # A proposal is not a link: nothing reached the identity graph or any child.
    assert world.tables["identity_graph"] == {}
    assert world.tables["child_to_evidence"] == {}


def test_an_encoding_of_another_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(monkeypatch)
    encoded = KEYS.encode(Identity("Aisha", "Rahman", None, "F", None))
    record = {
        "event_id": "e1",
        "child_ref": NHS,
        "agency": {"id": "hb1", "type": "health"},
        "local_authority": "W06000015",
        "scheme": "clk-v0",
        "clk": encoded.clk,
        "blocks": list(encoded.blocks),
        "encoded_at": T0,
    }
    with pytest.raises(InvalidRecordError, match="scheme: only clk-v1 encodings are compared"):
        world.feed("identity_encodings", NHS.encode(), EventCodec("child_encoding").encode(record))


def test_a_link_handled_again_after_half_its_writes_completes_them_and_tells_no_one_twice() -> None:
    statement = {
        "event_id": "l1",
        "ref_a": UPN,
        "ref_b": NHS,
        "basis": "shared_record",
        "agency": {"id": "sc1", "type": "social_care"},
        "withdrawn": False,
    }
    nodes: dict[str, Node] = {}
    first = apply_statement(lambda ref: nodes.get(ref, Node()), 7, statement)
    assert [g.version for g in first.groups] == [7, 7]
    nodes[UPN] = first.nodes[UPN]  # killed after the first of the two writes
    again = apply_statement(lambda ref: nodes.get(ref, Node()), 7, statement)
    assert again.groups == []  # told before either write: not told again
    assert again.nodes[NHS].links == {UPN: [("social_care", "sc1", "l1", "shared_record")]}
    nodes.update(again.nodes)
    assert not apply_statement(lambda ref: nodes.get(ref, Node()), 7, statement).changed
