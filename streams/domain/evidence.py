"""A child's evidence: the plain state one worker keeps per child, with no framework in it.

Evidence is de-duplicated by agency and ``event_id`` and kept for a look-back period by event
time: the child's watermark is the newest ``observed_at`` seen, and evidence older than the
watermark minus the look-back is expired. A late event (older, arriving later) still counts if it
is inside the look-back. The state also remembers the child's current alert (episode and
version) so a replay or redelivery never makes a new version.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from streams.domain.identity import Membership, group_by_destination
from streams.domain.lifecycle import AlertState
from streams.domain.times import EPOCH as EPOCH
from streams.domain.times import to_datetime as to_datetime
from streams.domain.times import to_millis as to_millis

MS_PER_DAY = 86_400_000


class Outcome(enum.Enum):
    """What adding one event did to the state."""

    ADDED = "added"
    DUPLICATE = "duplicate"
    TOO_OLD = "too_old"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One contributing event, reduced to what the rules and the alert need."""

    event_id: str
    agency_type: str
    agency_id: str
    indicator: str
    group: str
    observed_at: int
    """Event time, milliseconds since the epoch (UTC)."""
    immediate_risk: bool = False
    """The observer's own judgement that the child is at immediate risk."""
    local_authority: str = ""
    origin: str = ""
    """The reference the agency knows the child under, when it is not the state's own (a
    linked reference): after a link is withdrawn the evidence goes back with it."""
    source_ref: str | None = None
    """The agency's own record reference."""

    def sort_key(self) -> tuple[int, str]:
        return (self.observed_at, self.event_id)

    @property
    def identity(self) -> tuple[str, str, str]:
        """Event ids are unique per agency only: one agency's id never hides another's event."""
        return (self.agency_type, self.agency_id, self.event_id)

    def row(self, origin: str | None = None) -> list[Any]:
        """The stored form: the fields in declaration order (``origin`` replacing its own)."""
        return [
            self.event_id,
            self.agency_type,
            self.agency_id,
            self.indicator,
            self.group,
            self.observed_at,
            self.immediate_risk,
            self.local_authority,
            self.origin if origin is None else origin,
            self.source_ref,
        ]

    def to_alert(self) -> dict[str, Any]:
        """This evidence as an ``Evidence`` record of the Alert schema."""
        return {
            "event_id": self.event_id,
            "agency_type": self.agency_type,
            "agency_id": self.agency_id,
            "indicator": self.indicator,
            "group": self.group,
            "observed_at": to_datetime(self.observed_at),
            "source_ref": self.source_ref,
        }


@dataclass(slots=True)
class ChildState:
    """Everything one worker keeps about one child."""

    evidence: list[Evidence] = field(default_factory=list)
    watermark: int = 0
    """Newest event time seen (ms); the look-back is measured back from here."""
    date_of_birth: str | None = None
    """ISO date, from the newest evidence that gave one."""
    age_disputed: bool = False
    alerts: dict[str, AlertState] = field(default_factory=dict)
    """Current alert per alert kind."""
    clock: int = 0
    """The newest wall-clock time (ms) a deadline was checked at; with the watermark, the time
    the look-back and the immediate-risk window are measured back from."""
    school_authority: str | None = None
    """The local authority of the child's current school registration, when one is known."""
    retracted: list[tuple[str, str, str]] = field(default_factory=list)
    """Evidence identities their agencies retracted: never counted again, even if resent."""
    membership: Membership = field(default_factory=Membership)
    """This reference's place among the references linked as the same child."""

    @property
    def now(self) -> int:
        """The time (ms) the look-back is measured back from."""
        return max(self.watermark, self.clock)

    def add(self, item: Evidence, lookback_days: int) -> Outcome:
        """Add ``item`` unless duplicate or older than the look-back; expire old evidence."""
        if item.identity in self.retracted or any(
            e.identity == item.identity for e in self.evidence
        ):
            return Outcome.DUPLICATE
        watermark = max(self.watermark, item.observed_at)
        if item.observed_at < max(watermark, self.clock) - lookback_days * MS_PER_DAY:
            return Outcome.TOO_OLD
        self.watermark = watermark
        self.evidence.append(item)
        self.evidence.sort(key=Evidence.sort_key)
        self.expire(lookback_days)
        return Outcome.ADDED

    def expire(self, lookback_days: int) -> None:
        horizon = self.now - lookback_days * MS_PER_DAY
        self.evidence = [e for e in self.evidence if e.observed_at >= horizon]

    def retract(self, identity: tuple[str, str, str]) -> Evidence | None:
        """Remove the evidence its agency retracted; None if this child has no such evidence."""
        if identity not in self.retracted:
            self.retracted.append(identity)
            del self.retracted[:-200]
        found = next((e for e in self.evidence if e.identity == identity), None)
        if found is not None:
            self.evidence.remove(found)
        return found

    def alert(self, kind: str) -> AlertState:
        return self.alerts.setdefault(kind, AlertState())

    def to_json(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies and costs more than the rules themselves.
        return {
            "evidence": [e.row() for e in self.evidence],
            "watermark": self.watermark,
            "date_of_birth": self.date_of_birth,
            "age_disputed": self.age_disputed,
            "alerts": {kind: a.to_json() for kind, a in self.alerts.items()},
            "clock": self.clock,
            "school_authority": self.school_authority,
            "retracted": [list(r) for r in self.retracted],
            "membership": self.membership.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ChildState:
        if not data:
            return cls()
        return cls(
            evidence=[Evidence(*row) for row in data["evidence"]],
            watermark=data["watermark"],
            date_of_birth=data["date_of_birth"],
            age_disputed=data["age_disputed"],
            alerts={k: AlertState.from_json(v) for k, v in data["alerts"].items()},
            clock=data.get("clock", 0),
            school_authority=data.get("school_authority"),
            retracted=[(r[0], r[1], r[2]) for r in data.get("retracted", ())],
            membership=Membership.from_json(data.get("membership")),
        )

    def take_out(self, me: str) -> dict[str, dict[str, Any]]:
        """Remove the evidence that belongs under another reference now, as a payload per
        reference to send it to (everything, with what the state knows of the child, when this
        reference was merged into another)."""
        moving = group_by_destination(self.membership, me, ((e.origin, e) for e in self.evidence))
        self.evidence = moving.pop(None, [])
        merged = self.membership.canonical
        payloads = {}
        for to, items in moving.items():
            assert to is not None
            payload: dict[str, Any] = {
                "evidence": [_row(e, me, to) for e in items],
                "watermark": max(e.observed_at for e in items),
            }
            if to == merged:  # all of it: what is known of the child goes with the evidence
                payload |= {
                    "date_of_birth": self.date_of_birth,
                    "age_disputed": self.age_disputed,
                    "retracted": [list(r) for r in self.retracted],
                }
            payloads[to] = payload
        if merged is not None:
            self.date_of_birth, self.age_disputed, self.retracted = None, False, []
            self.watermark = 0
        return payloads

    def absorb(self, me: str, payload: dict[str, Any], lookback_days: int) -> None:
        """Take in what another reference of the same child sent (``take_out``)."""
        for row in payload.get("retracted", ()):
            identity = (row[0], row[1], row[2])
            if identity not in self.retracted:
                self.retracted.append(identity)
        for row in payload["evidence"]:
            item = Evidence(*row)
            self.add(_here(item, me), lookback_days)
        if self.date_of_birth is None:
            self.date_of_birth = payload.get("date_of_birth")
        self.age_disputed = self.age_disputed or bool(payload.get("age_disputed"))


def _row(e: Evidence, me: str, to: str) -> list[Any]:
    """``e`` as a row to send to ``to``: its origin named, unless it is ``to`` itself."""
    origin = e.origin or me
    return e.row("" if origin == to else origin)


def _here(e: Evidence, me: str) -> Evidence:
    if e.origin == me:
        return dataclasses.replace(e, origin="")
    return e
