"""A child's school registration history: the plain state behind missing-from-education alerts.

Holds the child's registration events (de-duplicated by school and ``event_id``, kept for the
repeated-registration window), the deadlines still pending (a deregistration waiting for a new
registration, a travelling family's departure waiting to see if siblings left too), the
departures confirmed as family moves, the movement observations already handed to the
combined-concern evidence, and the current education alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from streams.domain.config import Thresholds
from streams.domain.identity import Membership, group_by_destination
from streams.domain.lifecycle import AlertState


@dataclass(frozen=True, slots=True)
class Registration:
    """One registration event, reduced to what the patterns need."""

    event_id: str
    kind: str
    """registered, deregistered or continuous_absence."""
    school_id: str
    local_authority: str
    date: str
    """Effective date, ISO format."""
    destination: str | None = None
    ground: str | None = None
    absence_days: int | None = None
    family_group_ref: str | None = None
    family_travelling: bool = False
    returned_on: str | None = None
    """For continuous_absence: the ISO date the pupil came back, which ends the absence."""
    origin: str = ""
    """The reference the school knows the child under, when it is not the state's own (a
    linked reference)."""

    @property
    def day(self) -> dt.date:
        return dt.date.fromisoformat(self.date)

    @property
    def destination_unknown(self) -> bool:
        return self.kind == "deregistered" and self.destination is None


@dataclass(frozen=True, slots=True)
class Pending:
    """A deadline: on ``due`` (ISO date) the child's agent looks at ``event_id`` again."""

    kind: str
    """no_destination or family_window."""
    event_id: str
    due: str


@dataclass(slots=True)
class EducationState:
    registrations: list[Registration] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    family_moves: list[str] = field(default_factory=list)
    """Departure event ids confirmed as part of a family moving together."""
    injected: list[str] = field(default_factory=list)
    """Ids of movement observations already published for the combined concern."""
    injected_by: dict[str, str] = field(default_factory=dict)
    """The agency (``type:id``; a bare id is a local authority) each was published as."""
    retracted: list[tuple[str, str]] = field(default_factory=list)
    """(school_id, event_id) of registrations their school retracted: never counted again."""
    authority_sent: str | None = None
    """The current school's authority as last told to the combined concern."""
    alert: AlertState = field(default_factory=AlertState)
    membership: Membership = field(default_factory=Membership)
    """This reference's place among the references linked as the same child."""

    def holds(self, school_id: str, event_id: str) -> bool:
        """Whether this registration event is in the history (ids are unique per school)."""
        return any((r.school_id, r.event_id) == (school_id, event_id) for r in self.registrations)

    def add(self, item: Registration, keep_days: int) -> bool:
        """Add ``item`` unless it is a duplicate; drop events older than ``keep_days``."""
        if (
            self.holds(item.school_id, item.event_id)
            or (item.school_id, item.event_id) in self.retracted
        ):
            return False
        self.registrations.append(item)
        self.registrations.sort(key=lambda r: (r.date, r.event_id))
        horizon = (self.registrations[-1].day - dt.timedelta(days=keep_days)).isoformat()
        self.registrations = [r for r in self.registrations if r.date >= horizon]
        return True

    def retract(self, school_id: str, event_id: str) -> Registration | None:
        """Remove a registration event its school retracted; None if there is no such event."""
        if (school_id, event_id) not in self.retracted:
            self.retracted.append((school_id, event_id))
            del self.retracted[:-200]
        found = next(
            (r for r in self.registrations if (r.school_id, r.event_id) == (school_id, event_id)),
            None,
        )
        if found is not None:
            self.registrations.remove(found)
            self.pending = [p for p in self.pending if p.event_id != event_id]
        return found

    def schedule(self, pending: Pending) -> None:
        if pending not in self.pending:
            self.pending.append(pending)

    def next_due(self) -> str | None:
        return min((p.due for p in self.pending), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "registrations": [list(asdict(r).values()) for r in self.registrations],
            "pending": [list(asdict(p).values()) for p in self.pending],
            "family_moves": list(self.family_moves),
            "injected": list(self.injected),
            "injected_by": dict(self.injected_by),
            "retracted": [list(r) for r in self.retracted],
            "authority_sent": self.authority_sent,
            "alert": self.alert.to_json(),
            "membership": self.membership.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> EducationState:
        if not data:
            return cls()
        return cls(
            registrations=[Registration(*row) for row in data["registrations"]],
            pending=[Pending(*row) for row in data["pending"]],
            family_moves=list(data["family_moves"]),
            injected=list(data["injected"]),
            injected_by=dict(data.get("injected_by", {})),
            retracted=[(r[0], r[1]) for r in data.get("retracted", ())],
            authority_sent=data.get("authority_sent"),
            alert=AlertState.from_json(data["alert"]),
            membership=Membership.from_json(data.get("membership")),
        )

    def take_out(self, me: str) -> dict[str, dict[str, Any]]:
        """Remove the registrations that belong under another reference now, with their
        deadlines, as a payload per reference to send them to (everything, when this reference
        was merged into another)."""
        moving = group_by_destination(
            self.membership, me, ((r.origin, r) for r in self.registrations)
        )
        self.registrations = moving.pop(None, [])
        merged = self.membership.canonical
        payloads = {}
        for to, items in moving.items():
            assert to is not None
            ids = {r.event_id for r in items}
            payload: dict[str, Any] = {
                "registrations": [list(asdict(_sent(r, me, to)).values()) for r in items],
                "pending": [list(asdict(p).values()) for p in self.pending if p.event_id in ids],
                "family_moves": [m for m in self.family_moves if m in ids],
            }
            if to == merged:
                payload |= {
                    "injected": list(self.injected),
                    "injected_by": dict(self.injected_by),
                    "retracted": [list(r) for r in self.retracted],
                }
            payloads[to] = payload
        kept = {r.event_id for r in self.registrations}
        self.pending = [p for p in self.pending if p.event_id in kept]
        self.family_moves = [m for m in self.family_moves if m in kept]
        if merged is not None:
            self.injected, self.injected_by, self.retracted = [], {}, []
            self.authority_sent = None
        return payloads

    def absorb(self, me: str, payload: dict[str, Any], keep_days: int) -> None:
        """Take in what another reference of the same child sent (``take_out``)."""
        for row in payload.get("retracted", ()):
            if (row[0], row[1]) not in self.retracted:
                self.retracted.append((row[0], row[1]))
        for row in payload["registrations"]:
            item = Registration(*row)
            self.add(replace(item, origin="") if item.origin == me else item, keep_days)
        for row in payload["pending"]:
            self.schedule(Pending(*row))
        self.family_moves += [m for m in payload["family_moves"] if m not in self.family_moves]
        self.injected += [i for i in payload.get("injected", ()) if i not in self.injected]
        self.injected_by.update(payload.get("injected_by", {}))


def _sent(r: Registration, me: str, to: str) -> Registration:
    """``r`` as sent to ``to``: its origin named, unless it is ``to`` itself."""
    origin = r.origin or me
    return replace(r, origin="" if origin == to else origin)


def record_registration(
    state: EducationState, record: dict[str, Any], config: Thresholds, me: str = ""
) -> Registration | None:
    """Add a decoded SchoolRegistration to the history; None if it was a duplicate.

    A travelling family's departure with no known destination is held for
    ``family_window_days`` so siblings' departures can be matched before it is judged.
    """
    item = Registration(
        event_id=record["event_id"],
        kind=record["kind"],
        school_id=record["school_id"],
        local_authority=record["local_authority"],
        date=record["effective_date"].isoformat(),
        destination=record["destination_school_id"],
        ground=record["deletion_ground"],
        absence_days=record["absence_school_days"],
        family_group_ref=record["family_group_ref"],
        family_travelling=record["family_travelling"],
        returned_on=returned.isoformat() if (returned := record.get("returned_on")) else None,
        origin=record["child_ref"] if me and record["child_ref"] != me else "",
    )
    if not state.add(item, keep_days=config.repeated_registrations_window_days + 60):
        return None
    if is_family_departure(item):
        due = item.day + dt.timedelta(days=config.family_window_days + 1)
        state.schedule(Pending("family_window", item.event_id, due.isoformat()))
    return item


def is_family_departure(item: Registration) -> bool:
    return item.destination_unknown and bool(item.family_group_ref) and item.family_travelling
