"""What the worker keeps of a child reference after an erasure: the time of it, and no more.

An erasure (``safeguard erase``) replaces the reference's state, in the concern and in the
education tables alike, with an ``Erased`` marker: the time of the erasure and, per alert kind,
the episode the next alert would open, so that an alert raised for the same reference later
never reuses an erased alert's id (a consumer that keeps alerts by id would take its first
version for an old one). No evidence, no school history, no dates, no links remain.

While the marker stands, a record of the child sent at or before the erasure (read again after a
fault, or a forward still in flight from a linked reference) is dropped: it is what was erased.
A record sent after it is new information and starts a new state. The marker is removed once the
source topics' retention has passed since the erasure: no record it stands against can be read
any more, and nothing of the reference is left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from streams.domain.lifecycle import AlertState
from streams.domain.times import to_datetime, to_millis


@dataclass(frozen=True)
class Erased:
    erased_at: int
    """When the erasure was requested (ms since the epoch, UTC)."""
    episodes: dict[str, int] = field(default_factory=dict)
    """Per alert kind, the episode the next alert of this reference opens."""

    def to_json(self) -> dict[str, Any]:
        return {"erased_at": self.erased_at, "episodes": dict(self.episodes)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Erased | None:
        """The marker in a table value; None when the value is a state (or nothing)."""
        if not data or "erased_at" not in data:
            return None
        return cls(erased_at=data["erased_at"], episodes=dict(data["episodes"]))

    def stands_against(self, sent_at: int) -> bool:
        """Whether a record sent at ``sent_at`` (ms) is one of those the erasure removed."""
        return sent_at <= self.erased_at

    def expires_on(self, retention_days: int) -> str:
        """The ISO day after which no record sent before the erasure is left on any source
        topic: the marker is removed then."""
        day = to_datetime(self.erased_at).date() + dt.timedelta(days=retention_days + 1)
        return day.isoformat()

    def alerts(self) -> dict[str, AlertState]:
        """The alert states a new state of this reference starts from."""
        return {kind: AlertState(episode=n) for kind, n in self.episodes.items()}


def erase(alerts: dict[str, AlertState], erased_at: dt.datetime, previous: Erased | None) -> Erased:
    """The marker that replaces a state holding ``alerts`` (or an earlier marker)."""
    episodes = dict(previous.episodes) if previous is not None else {}
    for kind, alert in alerts.items():
        following = alert.episode + 1 if alert.is_open else alert.episode
        episodes[kind] = max(episodes.get(kind, 0), following)
    at = to_millis(erased_at)
    if previous is not None:
        at = max(at, previous.erased_at)
    return Erased(erased_at=at, episodes=episodes)
